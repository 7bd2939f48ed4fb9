// Which tiles are selected for a bulk action: click or Space toggles one, Shift extends from
// the last one toggled, Ctrl+A takes all; a new query starts with nothing selected.
import { useCallback, useEffect, useRef, useState } from "react";
import type { Item } from "../../api/types";

export function useSelection(results: Item[], queryKey: string | null) {
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const anchor = useRef<number | null>(null);
  const resultsRef = useRef(results);
  resultsRef.current = results;

  useEffect(() => {
    setSelected(new Set());
    anchor.current = null;
  }, [queryKey]);

  const select = useCallback((index: number, how: { range: boolean }) => {
    const list = resultsRef.current;
    const id = list[index]?.image_id;
    if (!id) return;
    // read now: the updater below runs later, after the anchor has moved to `index`
    const from = anchor.current;
    setSelected((prev) => {
      const next = new Set(prev);
      if (how.range && from !== null) {
        const [a, b] = [Math.min(from, index), Math.max(from, index)];
        for (const r of list.slice(a, b + 1)) next.add(r.image_id);
      } else if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
    anchor.current = index;
  }, []);

  const selectAll = useCallback(() => setSelected(new Set(resultsRef.current.map((r) => r.image_id))), []);
  const clear = useCallback(() => {
    setSelected(new Set());
    anchor.current = null;
  }, []);

  return { selected, select, selectAll, clear };
}
