/** Nearest-rank percentile (p in [0, 100]) of unsorted samples; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  if (p < 0 || p > 100) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  return rankOf(sorted, p);
}

function rankOf(sorted: readonly number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

/** Events per second over an interval measured in nanoseconds. */
export function ratePerSec(count: number, elapsedNs: bigint): number {
  if (elapsedNs <= 0n) return Number.NaN;
  return (count * 1e9) / Number(elapsedNs);
}

/** CPU seconds (user + system) this process spent since `start`. */
export function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * A latency distribution in milliseconds. Empty samples give count 0 and null figures (JSON has
 * no NaN), so a result file never claims a latency it did not measure.
 */
export interface Distribution {
  readonly count: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  readonly mean: number | null;
}

/** p50/p90/p99/max/mean of `samples` (sorted once), rounded to 0.1 ms. */
export function summarize(samples: readonly number[]): Distribution {
  if (samples.length === 0) return { count: 0, p50: null, p90: null, p99: null, max: null, mean: null };
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((s, v) => s + v, 0);
  return {
    count: sorted.length,
    p50: round(rankOf(sorted, 50)),
    p90: round(rankOf(sorted, 90)),
    p99: round(rankOf(sorted, 99)),
    max: round(sorted[sorted.length - 1] as number),
    mean: round(sum / sorted.length),
  };
}

/** Events per second of `count` events over `seconds`; 0 for an empty interval. */
export function perSecond(count: number, seconds: number): number {
  return seconds > 0 ? count / seconds : 0;
}

/**
 * The open-loop schedule: when transaction `i` (from 0) is due, in ms after the run's start, at
 * `ratePerSec` offered transactions per second. `uniform` spaces them evenly; `poisson` draws
 * exponential gaps (mean 1/rate) from a seeded generator, so bursts happen as with independent
 * clients, and two runs with one seed offer the same load. Transactions are started at these
 * times whatever happened to earlier ones, and their latency counts from here: a system that
 * falls behind cannot hide its queue by slowing the load down (coordinated omission).
 */
export class OpenLoopSchedule {
  private next = 0;
  private readonly random: () => number;

  constructor(
    readonly ratePerSec: number,
    readonly arrival: 'uniform' | 'poisson' = 'uniform',
    seed = 1,
  ) {
    if (!(ratePerSec > 0) || !Number.isFinite(ratePerSec))
      throw new RangeError(`the offered rate must be a positive number, got ${ratePerSec}`);
    this.random = mulberry32(seed);
  }

  /** The due time (ms from the start) of the next transaction; each call advances by one. */
  nextDueMs(): number {
    const due = this.next;
    const gap =
      this.arrival === 'uniform'
        ? 1000 / this.ratePerSec
        : (-Math.log(1 - this.random()) * 1000) / this.ratePerSec;
    this.next += gap;
    return due;
  }
}

/** A small, fast, seedable PRNG (mulberry32): uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The closed-loop saturation search: client counts to try, doubling from `start` up to `max`
 * (`max` itself always last), e.g. 4, 8, …, 256.
 */
export function clientSteps(start: number, max: number): number[] {
  if (start < 1 || max < start) throw new RangeError(`client steps need 1 <= start <= max`);
  const steps: number[] = [];
  for (let n = start; n < max; n *= 2) steps.push(n);
  steps.push(max);
  return steps;
}

/**
 * Whether the search has found the peak: the last `patience` steps (default 2) each failed to
 * raise throughput by at least `minGain` (a fraction, default 5 %) over the best step before
 * them. One flat or falling step is not enough: on a shared machine a step can dip by chance.
 */
export function peakReached(tpsByStep: readonly number[], minGain = 0.05, patience = 2): boolean {
  let best = tpsByStep[0];
  if (best === undefined) return false;
  let stale = 0;
  for (const tps of tpsByStep.slice(1)) {
    stale = tps >= best * (1 + minGain) ? 0 : stale + 1;
    best = Math.max(best, tps);
  }
  return stale >= patience;
}
