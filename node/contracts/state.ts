import type { RwSet, StateVersion } from '../protocol/index.js';

/** One committed world-state entry, as node/ledger's `StateEntry` (same shape, so it can be passed through). */
export interface StateEntry {
  readonly key: string;
  readonly value: Uint8Array;
  readonly version: StateVersion;
}

/**
 * The committed world state as the contract runtime sees it: synchronous, because QuickJS host
 * calls cannot await. The peer implements it over an in-memory cache of the committed state
 * (preloaded from PostgreSQL and kept current as blocks commit); tests use `InMemoryState`.
 * Both methods must answer from one consistent snapshot for the duration of a simulation.
 */
export interface StateReader {
  get(ns: string, key: string): StateEntry | null;
  /** Keys in [start, end) in UTF-8 byte order (PostgreSQL collation "C"); no `end` = to the namespace's end. */
  range(
    ns: string,
    range: { readonly start: string; readonly end?: string; readonly limit: number },
  ): readonly StateEntry[];
}

/** Byte order of the UTF-8 encodings, the order PostgreSQL (collation "C") and Fabric use for keys. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A world state in memory: for tests and benchmarks, and the shape a peer's cache can take. */
export class InMemoryState implements StateReader {
  private readonly namespaces = new Map<string, Map<string, StateEntry>>();

  get(ns: string, key: string): StateEntry | null {
    return this.namespaces.get(ns)?.get(key) ?? null;
  }

  range(
    ns: string,
    range: { readonly start: string; readonly end?: string; readonly limit: number },
  ): StateEntry[] {
    const entries = this.namespaces.get(ns);
    if (entries === undefined) return [];
    const { start, end } = range;
    return [...entries.values()]
      .filter((e) => compareKeys(e.key, start) >= 0 && (end === undefined || compareKeys(e.key, end) < 0))
      .sort((a, b) => compareKeys(a.key, b.key))
      .slice(0, range.limit);
  }

  /** Sets one key (value as UTF-8 text or bytes), or deletes it with `null`. */
  set(ns: string, key: string, value: string | Uint8Array | null, version: StateVersion): void {
    let entries = this.namespaces.get(ns);
    if (entries === undefined) {
      entries = new Map();
      this.namespaces.set(ns, entries);
    }
    if (value === null) {
      entries.delete(key);
      return;
    }
    entries.set(key, { key, value: typeof value === 'string' ? Buffer.from(value, 'utf8') : value, version });
  }

  /** Applies a write set as the committer would, every write getting `version`. No MVCC check: tests do that themselves. */
  apply(rwset: RwSet, version: StateVersion): void {
    for (const w of rwset.writes) {
      this.set(w.ns, w.key, w.value === null ? null : Buffer.from(w.value, 'base64'), version);
    }
  }
}
