import { StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import App from "./App";
import { api } from "./api/client";
import { KeyPrompt, prepareAccess, type Access } from "./features/access/access";
import "./styles.css";

function Root({ initial }: { initial: Access }) {
  const [access, setAccess] = useState(initial);
  return access === "open" ? <App /> : <KeyPrompt client={api} onReady={() => setAccess("open")} />;
}

void prepareAccess(api).then((access) =>
  createRoot(document.getElementById("root")!).render(
    <StrictMode>
      <Root initial={access} />
    </StrictMode>,
  ),
);
