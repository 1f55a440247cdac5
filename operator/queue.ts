/*
 * A rate-limited work queue in the manner of client-go's workqueue: a key is queued at most once
 * however often it is added, is never processed by two workers at once (an add during processing
 * marks it dirty and it runs again after), and a failing key backs off exponentially.
 */

/** First retry delay after a failure, doubled per consecutive failure of the same key. */
export const BACKOFF_BASE_MS = 500;
/** Longest delay between retries of a failing key. */
export const BACKOFF_MAX_MS = 60_000;
/** Overall reconciles per second (token bucket), so a burst of events cannot flood the API server. */
export const QUEUE_RATE_PER_S = 10;
export const QUEUE_BURST = 50;

export interface QueueOptions {
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  readonly ratePerS?: number;
  readonly burst?: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private tokens: number;
  private lastRefillMs = Date.now();
  private closed = false;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly ratePerS: number;
  private readonly burst: number;

  constructor(options: QueueOptions = {}) {
    this.backoffBaseMs = options.backoffBaseMs ?? BACKOFF_BASE_MS;
    this.backoffMaxMs = options.backoffMaxMs ?? BACKOFF_MAX_MS;
    this.ratePerS = options.ratePerS ?? QUEUE_RATE_PER_S;
    this.burst = options.burst ?? QUEUE_BURST;
    this.tokens = this.burst;
  }

  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.closed) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queued.add(key);
    this.queue.push(key);
  }

  /** Adds `key` after `delayMs`; a shorter pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.closed) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const pending = this.timers.get(key);
    if (pending !== undefined) clearTimeout(pending);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, timer);
  }

  /** Re-adds a failed key after its exponential backoff; returns the delay chosen. */
  addRateLimited(key: string): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delayMs = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** Math.min(failures - 1, 30));
    this.addAfter(key, delayMs);
    return delayMs;
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resets the key's backoff after a success. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** The next key to process, or undefined once the queue is shut down. */
  async get(): Promise<string | undefined> {
    await this.takeToken();
    if (this.closed) return undefined;
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return key;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` processed; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  shutDown(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private async takeToken(): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefillMs) / 1000) * this.ratePerS);
      this.lastRefillMs = now;
      if (this.tokens >= 1 || this.closed) {
        this.tokens -= 1;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.tokens) / this.ratePerS) * 1000)));
    }
  }
}
