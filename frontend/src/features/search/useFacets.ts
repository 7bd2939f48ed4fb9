// Facet chips: every value of a field with its count, from the server (`GET /facets/{field}`),
// under the other filters in force, so the chips list what can still be found, not what the
// current page happens to show. Fields without values are left out; a server without the
// facets endpoint falls back to the labels seen in results, without counts.
import { useEffect, useState } from "react";
import type { ApiClient } from "../../api/client";

export const FACET_FIELDS = ["label", "camera"] as const;
/** At most this many chips per field (the most frequent). */
const MAX_VALUES = 12;

export interface FacetList {
  field: string;
  values: Array<{ value: string; count: number | null }>;
}

export function useFacets(
  client: ApiClient,
  filters: Record<string, string>,
  seenLabels: string[],
  enabled: boolean,
  version: number,
): FacetList[] {
  const [lists, setLists] = useState<FacetList[] | null>(null);
  const filterKey = JSON.stringify(Object.entries(filters).sort());

  useEffect(() => {
    if (!enabled) return;
    const ctrl = new AbortController();
    const active: Record<string, string> = JSON.parse(filterKey).reduce(
      (o: Record<string, string>, [k, v]: [string, string]) => ({ ...o, [k]: v }),
      {},
    );
    Promise.all(
      FACET_FIELDS.map(async (field) => {
        const { [field]: _own, ...others } = active;
        const res = await client.facets(field, Object.keys(others).length ? others : null, ctrl.signal);
        const values = res.values
          .filter((v) => v.value !== null && v.value !== "")
          .slice(0, MAX_VALUES)
          .map((v) => ({ value: String(v.value), count: v.count }));
        return { field, values };
      }),
    ).then(
      (found) => !ctrl.signal.aborted && setLists(found),
      () => !ctrl.signal.aborted && setLists(null),
    );
    return () => ctrl.abort();
  }, [client, filterKey, enabled, version]);

  const base: FacetList[] = lists ?? [{ field: "label", values: seenLabels.map((value) => ({ value, count: null })) }];
  // a value in force stays on screen even when the list no longer has it
  return base
    .map((f) => {
      const on = filters[f.field];
      return on && !f.values.some((v) => v.value === on) ? { ...f, values: [{ value: on, count: null }, ...f.values] } : f;
    })
    .filter((f) => f.values.length > 0);
}
