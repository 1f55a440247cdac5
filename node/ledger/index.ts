export {
  startEmbeddedPostgres,
  type EmbeddedPostgresOptions,
  type RunningPostgres,
} from './embedded-postgres.js';
export { LedgerError, type LedgerErrorCode } from './errors.js';
export { LATEST_SCHEMA_VERSION } from './migrations.js';
export { blockStateWrites, type StateWrite } from './state-writes.js';
export {
  ChainStore,
  POOL_CONNECTIONS_MAX,
  RANGE_ROWS_MAX,
  type BlockCommit,
  type ChainHead,
  type ChainStoreOptions,
  type StateEntry,
  type StoredBlock,
  type StoredTransaction,
} from './store.js';
export { ChainVerifier, type VerifyReport } from './verify.js';
export { nodeSchema, openDatabase, redactUrl, type DatabaseHandle } from './database.js';
