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
 * Memory of one contract's sandbox, in bytes: the `maximum` of the WebAssembly memory its QuickJS
 * instance runs in, so a hard bound counted in bytes by the WebAssembly engine. (QuickJS's own
 * limit cannot count bytes under Emscripten: it counts 8 per allocation whatever its size.) It
 * holds QuickJS's static data and 5 MiB stack, the engine and the compiled contract, which leaves
 * ~10 MiB for what a call allocates (ten 1 MiB strings fit, twelve do not). A call needs KBs.
 * 16 MiB is also the least the QuickJS build accepts (it declares 16 MiB of initial memory).
 */
export const CONTRACT_MEMORY_BYTES_MAX = 16 * 1024 * 1024;
/**
 * Contracts kept warm at once, each in a sandbox of its own: with CONTRACT_MEMORY_BYTES_MAX this
 * bounds a peer's contract memory at 512 MiB (a warm contract typically has ~0.8 MiB resident).
 * More contracts still run: the least recently used one is rebuilt on its next call (~15 ms).
 */
export const CONTRACT_SANDBOXES_MAX = 32;
/**
 * Empty sandboxes kept ready (each takes a few ms to create, in the background), so installing a
 * contract or rebuilding one after it hit a limit takes a fresh sandbox instead of evicting another.
 */
export const CONTRACT_SANDBOXES_SPARE = 2;
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
