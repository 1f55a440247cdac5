import { LocalError } from './errors.js';

/*
 * The bounded waits every command that talks to running nodes shares (`up`, `status`, the
 * membership shortcuts): one poll interval, one status timeout, one way to give up.
 */

/** How often a wait asks again: often enough to show progress, rarely enough not to load the nodes. */
export const POLL_MS = 250;
/** A node that has not answered /status in this time counts as not answering (shown as down). */
export const STATUS_TIMEOUT_MS = 3_000;

/** `promise`, or a rejection naming `what` once `ms` have passed; the timer never outlives the promise. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new LocalError('LOCAL_TIMEOUT', `${what}: no answer within ${ms} ms`));
    }, ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Thrown by a probe to end a wait at once instead of being retried (the node exited, say). */
export class StopWaiting extends Error {
  override readonly name = 'StopWaiting';
  constructor(readonly reason: Error) {
    super(reason.message, { cause: reason });
  }
}

/**
 * Calls `probe` every POLL_MS until it returns a value, for at most `timeoutMs`. A probe that
 * throws is retried (a node still starting refuses connections); the last error is kept for the
 * timeout's message. A probe that throws StopWaiting ends the wait with its reason.
 */
export async function pollUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      if (e instanceof StopWaiting) throw e.reason;
      last = e;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new LocalError(
    'LOCAL_TIMEOUT',
    `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`,
    { cause: last },
  );
}
