/** First reconnect delay cap: quick enough that a restarted node is back within a heartbeat or two. */
export const RECONNECT_BASE_MS = 100;
/** Largest reconnect delay cap: a node down for long is retried every few seconds, not hammered. */
export const RECONNECT_MAX_MS = 5_000;
/** Beyond this exponent the cap is max anyway; stops 2 ** attempt from overflowing. */
const ATTEMPT_EXPONENT_MAX = 30;

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * a uniform delay in [0, min(max, base * 2^attempt)). Full jitter spreads the nodes that lost the
 * same peer at the same moment, so a restarted node is not hit by all of them at once.
 * `random` returns values in [0, 1), like Math.random, and is injected for deterministic tests.
 */
export function backoffDelayMs(
  attempt: number,
  random: () => number,
  baseMs: number = RECONNECT_BASE_MS,
  maxMs: number = RECONNECT_MAX_MS,
): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), ATTEMPT_EXPONENT_MAX);
  const capMs = Math.min(maxMs, baseMs * 2 ** exponent);
  const unit = Math.min(Math.max(random(), 0), 1);
  return Math.floor(unit * capMs);
}
