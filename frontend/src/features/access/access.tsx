// Access to an API with keys on: the operator's read key for the UI (`/ui-config`), or one the
// person types (kept in this browser), is sent with every call and put in a session cookie
// for the <img> tags. Runs before the app renders, so its first requests already carry it.
import { useState, type FormEvent } from "react";
import { ApiError, type ApiClient } from "../../api/client";

const STORAGE_KEY = "visearch.apiKey";

export type Access = "open" | "needs-key";

function storedKey(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

/** Opens a session when the API wants a key; "needs-key" when no key is known yet. */
export async function prepareAccess(client: ApiClient): Promise<Access> {
  let config;
  try {
    config = await client.uiConfig();
  } catch {
    return "open"; // the app says why the API cannot be reached
  }
  if (!config.keys_required) return "open";
  for (const key of [config.api_key, storedKey()]) {
    if (!key) continue;
    try {
      await client.openSession(key);
      return "open";
    } catch {
      // try the next one
    }
  }
  return "needs-key";
}

/** Asks for an API key, checks it by opening a session, then lets the app in. */
export function KeyPrompt({ client, onReady }: { client: ApiClient; onReady: () => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await client.openSession(key.trim());
      try {
        localStorage.setItem(STORAGE_KEY, key.trim());
      } catch {
        // private mode: the session cookie still works
      }
      onReady();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? "That key was not accepted." : err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <main className="notice key-prompt">
      <h1>This visearch server needs an API key</h1>
      <form onSubmit={(e) => void submit(e)} className="row center">
        <label className="field">
          <span>API key</span>
          <input type="password" autoComplete="current-password" value={key} onChange={(e) => setKey(e.target.value)} required />
        </label>
        <button type="submit" className="btn btn-primary">
          Continue
        </button>
      </form>
      {error && (
        <p role="alert" className="inline-error">
          {error}
        </p>
      )}
    </main>
  );
}
