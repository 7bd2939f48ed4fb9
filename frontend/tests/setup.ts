import "@testing-library/jest-dom/vitest";
import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";

// waitFor/findBy wait up to 5 s: the machines these run on are often busy (2 shared cores)
configure({ asyncUtilTimeout: 5000 });

// jsdom has no layout: scrolling is a no-op here
window.scrollTo = () => undefined;

afterEach(() => {
  cleanup();
  sessionStorage.clear();
});
