// Keeps the session's recent result pages so going back to an earlier query is instant.
// Memory holds everything; sessionStorage keeps a copy that survives a reload.
import type { CutoffInfo, Item } from "../api/types";

export interface CachedResults {
  results: Item[];
  hasMore: boolean;
  searchTimeMs: number | null;
  /** What the relevance cutoff kept and cut (searches on servers that have one). */
  cutoff: CutoffInfo | null;
  /** Nothing passed the cutoff: these are the nearest images. */
  nearest: boolean;
  /** The library's next page. */
  cursor: string | null;
  /** How many images the library (or a duplicates view) holds in all. */
  total: number | null;
}

const STORAGE_KEY = "visearch.results.v2";

export class ResultCache {
  private readonly entries = new Map<string, CachedResults>();
  private readonly max: number;
  private readonly storage: Storage | null;

  constructor(max = 30, storage: Storage | null = safeSessionStorage()) {
    this.max = max;
    this.storage = storage;
    this.restore();
  }

  get(key: string): CachedResults | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      // refresh recency
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, value: CachedResults): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.persist();
  }

  clear(): void {
    this.entries.clear();
    this.persist();
  }

  get size(): number {
    return this.entries.size;
  }

  private restore(): void {
    if (!this.storage) return;
    try {
      const raw = this.storage.getItem(STORAGE_KEY);
      if (!raw) return;
      const list = JSON.parse(raw) as Array<[string, CachedResults]>;
      for (const [k, v] of list.slice(-this.max)) this.entries.set(k, v);
    } catch {
      // a corrupt or foreign entry: start empty
    }
  }

  private persist(): void {
    if (!this.storage) return;
    try {
      this.storage.setItem(STORAGE_KEY, JSON.stringify([...this.entries]));
    } catch {
      // quota exceeded: memory still has it
    }
  }
}

function safeSessionStorage(): Storage | null {
  try {
    return typeof sessionStorage === "undefined" ? null : sessionStorage;
  } catch {
    return null;
  }
}
