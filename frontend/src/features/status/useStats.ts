// Polls `/stats` so the status bar shows the live model, device and image count, and so
// the UI notices when the API goes away or comes back.
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, isAbortError, type ApiClient } from "../../api/client";
import type { Stats } from "../../api/types";

export interface StatsState {
  stats: Stats | null;
  error: ApiError | null;
  loading: boolean;
}

export function useStats(client: ApiClient, intervalMs = 30_000) {
  const [state, setState] = useState<StatsState>({ stats: null, error: null, loading: true });
  const ctrl = useRef<AbortController | null>(null);

  const refresh = useCallback(async () => {
    ctrl.current?.abort();
    const c = new AbortController();
    ctrl.current = c;
    try {
      const stats = await client.stats(c.signal);
      if (!c.signal.aborted) setState({ stats, error: null, loading: false });
    } catch (err) {
      if (c.signal.aborted || isAbortError(err)) return;
      const e = err instanceof ApiError ? err : new ApiError(0, "unknown", String(err));
      setState((s) => ({ stats: s.stats, error: e, loading: false }));
    }
  }, [client]);

  useEffect(() => {
    void refresh();
    if (intervalMs <= 0) return () => ctrl.current?.abort();
    const t = setInterval(() => void refresh(), intervalMs);
    return () => {
      clearInterval(t);
      ctrl.current?.abort();
    };
  }, [refresh, intervalMs]);

  return { ...state, refresh };
}
