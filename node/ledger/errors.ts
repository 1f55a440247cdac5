/** Stable codes so callers (CLI, API, tests) can branch without parsing messages. */
export type LedgerErrorCode =
  | 'LEDGER_POSTGRES_START'
  | 'LEDGER_BAD_DATABASE_URL'
  | 'LEDGER_MIGRATION'
  | 'LEDGER_NOT_EXTENDING_HEAD'
  | 'LEDGER_BAD_BLOCK'
  | 'LEDGER_COMMIT_FAILED'
  | 'LEDGER_CORRUPT_ROW';

export class LedgerError extends Error {
  override readonly name = 'LedgerError';
  constructor(
    readonly code: LedgerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
