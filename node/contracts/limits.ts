/**
 * Limits of the contract sandbox. Per-transaction output limits (result, events, read/write set
 * sizes, key/value sizes, args) come from node/protocol/limits.ts so that whatever a contract can
 * produce is also accepted by every other node's schema check.
 */

/**
 * Deterministic instruction budget, in QuickJS interrupt-handler calls. QuickJS calls the handler
 * once every 10,000 "poll points" (loop back-edges and function calls, counted by the engine
 * itself, independent of machine speed), so the budget is a count of executed work, not of time.
 * Measured here: 1,000 interrupts ~ 5M simple loop iterations ~ 75 ms, and ~ 300 ms of regular
 * expression backtracking. 4,000 therefore allows ~20M loop iterations (far beyond any sane
 * contract call) and stops an endless loop in well under 2 s.
 */
export const CONTRACT_STEP_BUDGET_INTERRUPTS = 4_000;
/**
 * Wall-clock safety net per call, in milliseconds. Not deterministic, so it is set far above what
 * the step budget allows: it only fires if some builtin runs long without polling.
 */
export const CONTRACT_CALL_TIMEOUT_MS = 10_000;
/**
 * Heap of one contract's QuickJS runtime, in bytes. A call needs KBs; 16 MiB leaves ample room.
 * Not larger: near the limit QuickJS garbage-collects on every failed allocation, so a bomb of many
 * small strings takes ~3 s to hit 16 MiB (and ~8 s for 32 MiB) without spending step budget.
 */
export const CONTRACT_MEMORY_BYTES_MAX = 16 * 1024 * 1024;
/**
 * Native stack QuickJS may use, in bytes (~2,000 frames of ordinary recursion). Kept well below the
 * WebAssembly stack so QuickJS reports "stack overflow" instead of the Wasm module trapping.
 */
export const CONTRACT_STACK_BYTES_MAX = 256 * 1024;
/** One contract source, in characters: a deploy transaction must fit in ENVELOPE_BYTES_MAX (1 MiB). */
export const CONTRACT_SOURCE_CHARS_MAX = 512 * 1024;
/** Entries one `ctx.range` call returns at most (the ledger's RANGE_ROWS_MAX is the same). */
export const CONTRACT_RANGE_ENTRIES_MAX = 10_000;
/** Captured `console.log` lines per call, and characters per line: diagnostics, never consensus data. */
export const CONTRACT_LOG_LINES_MAX = 100;
export const CONTRACT_LOG_LINE_CHARS_MAX = 1024;
/** A contract's error message is cut to this many characters before it reaches clients and logs. */
export const CONTRACT_ERROR_MESSAGE_CHARS_MAX = 1024;
/** txId, caller org/role/name given to `ctx`: short identifiers, bounded so `ctx` stays small. */
export const CONTRACT_CALLER_FIELD_CHARS_MAX = 256;
