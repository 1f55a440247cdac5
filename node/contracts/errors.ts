/** Stable codes so the peer, the gateway and tests can branch without parsing messages. */
export type ContractErrorCode =
  /** The request itself is malformed (bad name, args not strings, too many args, bad txId...). */
  | 'CONTRACT_BAD_REQUEST'
  /** The source does not parse; `line`/`column` say where. */
  | 'CONTRACT_SYNTAX'
  /** The source parses but cannot be used as a contract (no exports, unsupported export form, top-level throw). */
  | 'CONTRACT_LOAD_FAILED'
  | 'CONTRACT_NOT_FOUND'
  | 'CONTRACT_FUNCTION_NOT_FOUND'
  /** The contract threw; `jsMessage` is its own message (e.g. "the asset asset1 already exists"). */
  | 'CONTRACT_THREW'
  /** The deterministic instruction budget ran out (an endless or too long computation). */
  | 'CONTRACT_STEP_LIMIT'
  /** The wall-clock safety net fired before the step budget did (a builtin that does not poll). */
  | 'CONTRACT_TIMEOUT'
  /** The contract's sandbox memory (CONTRACT_MEMORY_BYTES_MAX, counted in bytes) is full. */
  | 'CONTRACT_OUT_OF_MEMORY'
  | 'CONTRACT_STACK_OVERFLOW'
  /** The return value is not JSON, is a Promise, or is larger than RESULT_CHARS_MAX. */
  | 'CONTRACT_BAD_RESULT'
  /** A per-transaction limit: reads, writes, key or value size, events, event payload size. */
  | 'CONTRACT_LIMIT_EXCEEDED'
  /** No sandbox to run the contract in right now (they all broke and are being replaced): retry. */
  | 'CONTRACT_UNAVAILABLE';

export class ContractError extends Error {
  override readonly name = 'ContractError';
  constructor(
    readonly code: ContractErrorCode,
    message: string,
    readonly details: {
      readonly contract?: string;
      readonly fn?: string;
      /** The contract's own error message, for CONTRACT_THREW. */
      readonly jsMessage?: string;
      /** 1-based position of a syntax error in the contract source. */
      readonly line?: number;
      readonly column?: number;
      readonly cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
  }
}
