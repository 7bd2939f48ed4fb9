import { useEffect, useState } from "react";
import type { Item } from "../api/types";

/** Labels seen in results this session, sorted, for the label filter (until the API lists them all). */
export function useLabelMemory(results: Item[]): string[] {
  const [labels, setLabels] = useState<string[]>([]);
  useEffect(() => {
    const found = results.map((r) => r.label).filter((l): l is string => !!l);
    if (found.length === 0) return;
    setLabels((prev) => {
      const merged = new Set([...prev, ...found]);
      return merged.size === prev.length ? prev : [...merged].sort();
    });
  }, [results]);
  return labels;
}
