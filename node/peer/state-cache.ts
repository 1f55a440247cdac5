import type { StateEntry, StateReader } from '../contracts/index.js';
import type { ChainStore } from '../ledger/index.js';
import type { StateVersion } from '../protocol/index.js';

/** Keys (present or known absent) the cache holds; least recently used go first. */
export const STATE_CACHE_ENTRIES_MAX = 200_000;
/** Range results cached; any commit into a namespace drops that namespace's ranges. */
export const RANGE_CACHE_ENTRIES_MAX = 1_000;
/** Fetch rounds one simulation may need: each round loads every key the previous run missed. */
export const SIMULATION_ROUNDS_MAX = 16;

type RangeSpec = { readonly start: string; readonly end?: string; readonly limit: number };
type Cached = StateEntry | null;

const entryKey = (ns: string, key: string): string => `${ns}\u0000${key}`;
const rangeKey = (ns: string, r: RangeSpec): string =>
  `${ns}\u0000${r.start}\u0000${r.end ?? '\uffff'}\u0000${r.limit}`;

/**
 * The committed world state for contract simulation. QuickJS host calls are synchronous and
 * PostgreSQL is not, so a simulation runs against this cache; a read it cannot answer is
 * recorded as a miss and answered "absent", the run's result is thrown away, the misses are
 * loaded in one round trip, and the deterministic contract runs again. Commits update the cache,
 * so a warm key costs no database read at all.
 */
export class WorldStateCache {
  private readonly entries = new Map<string, Cached>();
  private readonly ranges = new Map<string, readonly StateEntry[]>();

  constructor(private readonly store: ChainStore) {}

  /** Runs `simulate` until it ran with every read answered from the cache. */
  async simulate<T>(simulate: (state: StateReader) => T): Promise<T> {
    for (let round = 0; round < SIMULATION_ROUNDS_MAX; round++) {
      const reader = new RecordingReader(this.entries, this.ranges);
      const result = simulate(reader);
      if (reader.missedKeys.length === 0 && reader.missedRanges.length === 0) return result;
      await this.load(reader.missedKeys, reader.missedRanges);
    }
    throw new Error(`simulation still missing state after ${SIMULATION_ROUNDS_MAX} fetch rounds`);
  }

  /** Applies the writes of a committed valid transaction. */
  applyWrite(ns: string, key: string, value: Buffer | null, version: StateVersion): void {
    this.remember(entryKey(ns, key), value === null ? null : { key, value, version });
    for (const k of this.ranges.keys()) if (k.startsWith(`${ns}\u0000`)) this.ranges.delete(k);
  }

  private async load(
    keys: readonly { ns: string; key: string }[],
    ranges: readonly { ns: string; range: RangeSpec }[],
  ): Promise<void> {
    const [entries, rangeResults] = await Promise.all([
      this.store.stateEntries(keys),
      Promise.all(ranges.map((r) => this.store.rangeState(r.ns, r.range))),
    ]);
    keys.forEach((k, i) => {
      this.remember(entryKey(k.ns, k.key), entries[i] ?? null);
    });
    ranges.forEach((r, i) => {
      this.ranges.set(rangeKey(r.ns, r.range), rangeResults[i] ?? []);
      if (this.ranges.size > RANGE_CACHE_ENTRIES_MAX) this.dropOldest(this.ranges);
    });
  }

  private remember(key: string, value: Cached): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > STATE_CACHE_ENTRIES_MAX) this.dropOldest(this.entries);
  }

  private dropOldest(map: Map<string, unknown>): void {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
}

/** One simulation's view: answers from the cache and writes down what it could not answer. */
class RecordingReader implements StateReader {
  readonly missedKeys: { ns: string; key: string }[] = [];
  readonly missedRanges: { ns: string; range: RangeSpec }[] = [];

  constructor(
    private readonly entries: ReadonlyMap<string, Cached>,
    private readonly ranges: ReadonlyMap<string, readonly StateEntry[]>,
  ) {}

  get(ns: string, key: string): StateEntry | null {
    const hit = this.entries.get(entryKey(ns, key));
    if (hit === undefined) {
      this.missedKeys.push({ ns, key });
      return null;
    }
    return hit;
  }

  range(ns: string, range: RangeSpec): readonly StateEntry[] {
    const hit = this.ranges.get(rangeKey(ns, range));
    if (hit === undefined) {
      this.missedRanges.push({
        ns,
        range: {
          start: range.start,
          limit: range.limit,
          ...(range.end === undefined ? {} : { end: range.end }),
        },
      });
      return [];
    }
    return hit;
  }
}
