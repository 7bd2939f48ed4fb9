import { useEffect, useState } from "react";

/** A short message that clears itself after `ms`; a new one restarts the clock. */
export function useToast(ms = 5000): [string | null, (message: string | null) => void] {
  const [toast, setToast] = useState<string | null>(null);
  useEffect(() => {
    if (!toast) return;
    const t = setTimeout(() => setToast(null), ms);
    return () => clearTimeout(t);
  }, [toast, ms]);
  return [toast, setToast];
}
