import { render } from "@testing-library/react";
import App from "../src/App";
import { ApiClient } from "../src/api/client";
import { ResultCache } from "../src/lib/cache";

/** The app against `base`, opened at `path` (its query string is restored like a page load). */
export function renderApp(base: string, path = "/") {
  window.history.replaceState(null, "", path);
  const cache = new ResultCache(30, null);
  const client = new ApiClient({ base });
  const utils = render(<App client={client} cache={cache} statsIntervalMs={0} debounceMs={40} />);
  return { ...utils, cache, client };
}

/** A clipboard / drag payload as browsers build it, holding files and/or text. */
export function transfer(files: File[], text = "") {
  return {
    files,
    items: files.map((f) => ({ kind: "file", type: f.type, getAsFile: () => f })),
    types: [...(files.length ? ["Files"] : []), ...(text ? ["text/plain"] : [])],
    getData: (t: string) => (t.startsWith("text") ? text : ""),
  };
}

export const jpeg = (name: string, body = "jpegbytes") => new File([body], name, { type: "image/jpeg" });
