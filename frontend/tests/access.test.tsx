import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient } from "../src/api/client";
import { KeyPrompt, prepareAccess } from "../src/features/access/access";
import { startFakeApi, type FakeApi } from "./fakeApi";

let api: FakeApi | null = null;
afterEach(async () => {
  await api?.close();
  localStorage.clear();
});

const sessions = () => api!.log.filter((l) => l.path === "/api/v1/session");

describe("API keys", () => {
  it("does nothing when the API needs no key", async () => {
    api = await startFakeApi();
    const client = new ApiClient({ base: api.base });
    expect(await prepareAccess(client)).toBe("open");
    expect(sessions()).toHaveLength(0);
    expect(client.apiKey).toBeNull();
  });

  it("uses the operator's UI key: sent with every call and put in a session cookie", async () => {
    api = await startFakeApi({ keys: { valid: "k-read", uiKey: "k-read" } });
    const client = new ApiClient({ base: api.base });
    expect(await prepareAccess(client)).toBe("open");
    expect(sessions()).toHaveLength(1);
    expect(client.apiKey).toBe("k-read");
  });

  it("asks for a key when there is none, and keeps the one that works", async () => {
    api = await startFakeApi({ keys: { valid: "k-user", uiKey: null } });
    const client = new ApiClient({ base: api.base });
    expect(await prepareAccess(client)).toBe("needs-key");
    const user = userEvent.setup();
    let ready = false;
    render(<KeyPrompt client={client} onReady={() => (ready = true)} />);
    await user.type(screen.getByLabelText("API key"), "wrong{Enter}");
    expect(await screen.findByRole("alert")).toHaveTextContent("That key was not accepted.");
    await user.clear(screen.getByLabelText("API key"));
    await user.type(screen.getByLabelText("API key"), "k-user{Enter}");
    await waitFor(() => expect(ready).toBe(true));
    expect(localStorage.getItem("visearch.apiKey")).toBe("k-user");
    // next time the stored key opens the session by itself
    expect(await prepareAccess(new ApiClient({ base: api.base }))).toBe("open");
  });
});
