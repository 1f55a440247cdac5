/**
 * Bounds of the consensus core. Every structure the core keeps or accepts is capped here, so a
 * faulty or hostile orderer can make it drop input (counted in the metrics) but never grow it.
 */

/** Client transactions waiting to be ordered; 50k x ~4 KiB trade envelopes is ~200 MiB at worst. */
export const POOL_TXS_MAX = 50_000;
/** Bytes of envelopes waiting to be ordered (canonical encoding): keeps the pool under 256 MiB. */
export const POOL_BYTES_MAX = 256 * 1024 * 1024;
/** Final txIds remembered to refuse re-ordering a transaction; older replays fall to the peers' txId check. */
export const RECENT_FINAL_TXIDS_MAX = 100_000;
/** Views ahead of ours whose messages we keep: a node far behind in views catches up through NEW-VIEW. */
export const FUTURE_VIEWS_MAX = 8;
/** Heights accepted above the committed head, as a multiple of the window: the leader's head may be ahead of ours. */
export const ACCEPT_WINDOWS = 2;
/** Distinct blocks kept per height (current proposal, re-proposals, other views' pre-prepares). */
export const BLOCKS_PER_HEIGHT_MAX = 4;
/** The view timer doubles with each consecutive failed view, up to 2^6 = 64 times the base timeout. */
export const VIEW_BACKOFF_EXPONENT_MAX = 6;
/** Prepared proofs one VIEW-CHANGE may carry: the largest window times ACCEPT_WINDOWS. */
export const PREPARED_PROOFS_MAX = 2 * 1000;
/** Envelopes in one FORWARD message (request relay): one batch of the largest size. */
export const FORWARD_ENVELOPES_MAX = 500;
/** FORWARD messages of directly received requests relayed per tick; beyond, requests wait for the timer's re-forward. */
export const RELAY_BATCHES_PER_TICK_MAX = 8;
/** Envelopes re-forwarded to a new leader after a view change, oldest first. */
export const FORWARD_ON_VIEW_CHANGE_MAX = 2_000;
/**
 * One encoded consensus message. A VIEW-CHANGE carries up to `window` prepared blocks, so the
 * core refuses parameters with window x batchBytesMax above half of this (the rest is headroom
 * for envelopes' per-block overhead and the proofs).
 */
export const CONSENSUS_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;
/** How far ahead of a follower's clock a block timestamp may be. */
export const CLOCK_SKEW_MS_MAX = 60_000;
/** Committed block hashes remembered for cross-checks (checkpoints, NEW-VIEW re-proposals). */
export const RECENT_HASHES_MAX = 4_096;
/** Checkpoint heights above the stable one whose votes we tally at once. */
export const CHECKPOINT_HEIGHTS_MAX = 8;
/** Ticks between two fetch requests while we remain behind: one fetch round trip, roughly. */
export const FETCH_RETRY_TICKS = 20;
/** Ticks without progress after which a known-final height above ours triggers a fetch. */
export const FETCH_STALL_TICKS = 4;
/** A SUSPECT counts towards the f+1 that change the view for this many view timeouts after it arrived. */
export const SUSPICION_TIMEOUTS = 2;
/** With no commit for a view timeout, a node asks for final blocks it missed at most once per this many timeouts. */
export const IDLE_PROBE_TIMEOUTS = 4;
/** A request older than this many view timeouts (since the view began) makes followers suspect censorship. */
export const CENSORSHIP_TIMEOUTS = 2;
