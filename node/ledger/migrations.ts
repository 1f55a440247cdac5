import type pg from 'pg';
import { LedgerError } from './errors.js';

/**
 * SQLSTATEs our triggers raise, so the store can map them to typed errors without parsing
 * messages. Class "CN" is unused by PostgreSQL.
 */
export const SqlState = {
  notExtendingHead: 'CN001',
  appendOnly: 'CN002',
  headerMismatch: 'CN003',
} as const;

interface Migration {
  readonly version: number;
  readonly name: string;
  /** `s` is the node's schema, already quoted. */
  readonly sql: (s: string) => string;
}

/**
 * Forward-only, numbered migrations. Never edit one that has shipped: add the next number.
 * The hash link and append-only rules live in the database itself, so no bug or script in a
 * client can write a block that does not extend the head or rewrite one that does.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'chain tables, hash link and append-only triggers',
    sql: (s) => `
CREATE TABLE ${s}.blocks (
  height      bigint PRIMARY KEY CHECK (height >= 0),
  hash        bytea NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
  prev_hash   bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
  data_hash   bytea NOT NULL CHECK (octet_length(data_hash) = 32),
  tx_count    integer NOT NULL CHECK (tx_count >= 0),
  -- The canonical (RFC 8785) header bytes: hash = sha256(header), checked below.
  header      bytea NOT NULL,
  -- The canonical commit certificate; NULL only for the genesis block.
  commit_cert bytea CHECK (commit_cert IS NOT NULL OR height = 0),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ${s}.transactions (
  height          bigint NOT NULL REFERENCES ${s}.blocks (height),
  tx_index        integer NOT NULL CHECK (tx_index >= 0),
  tx_id           bytea NOT NULL CHECK (octet_length(tx_id) = 32),
  envelope        bytea NOT NULL,
  validation_code smallint NOT NULL CHECK (validation_code >= 0),
  PRIMARY KEY (height, tx_index)
);
CREATE INDEX transactions_tx_id ON ${s}.transactions (tx_id);
-- A transaction id is final at most once; later copies are kept only flagged DUPLICATE_TXID (4).
CREATE UNIQUE INDEX transactions_tx_id_once ON ${s}.transactions (tx_id) WHERE validation_code <> 4;

CREATE TABLE ${s}.state (
  namespace      text COLLATE "C" NOT NULL,
  key            text COLLATE "C" NOT NULL,
  value          bytea NOT NULL,
  version_height bigint NOT NULL,
  version_tx     integer NOT NULL,
  PRIMARY KEY (namespace, key)
);

CREATE FUNCTION ${s}.check_block_link() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  h jsonb;
  below bytea;
BEGIN
  IF NEW.hash <> sha256(NEW.header) THEN
    RAISE EXCEPTION 'block %: hash % is not the SHA-256 of its header', NEW.height, encode(NEW.hash, 'hex')
      USING ERRCODE = '${SqlState.headerMismatch}';
  END IF;
  h := convert_from(NEW.header, 'UTF8')::jsonb;
  IF (h->>'height')::bigint IS DISTINCT FROM NEW.height
     OR decode(h->>'prevHash', 'hex') IS DISTINCT FROM NEW.prev_hash
     OR decode(h->>'dataHash', 'hex') IS DISTINCT FROM NEW.data_hash
     OR (h->>'txCount')::integer IS DISTINCT FROM NEW.tx_count THEN
    RAISE EXCEPTION 'block %: height, prev_hash, data_hash or tx_count columns disagree with the header', NEW.height
      USING ERRCODE = '${SqlState.headerMismatch}';
  END IF;
  IF NEW.height = 0 THEN
    IF NEW.prev_hash <> '\\x${'00'.repeat(32)}'::bytea THEN
      RAISE EXCEPTION 'block 0: the genesis prev_hash must be 32 zero bytes' USING ERRCODE = '${SqlState.notExtendingHead}';
    END IF;
    RETURN NEW;
  END IF;
  SELECT hash INTO below FROM ${s}.blocks WHERE height = NEW.height - 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'block %: there is no block % to extend', NEW.height, NEW.height - 1
      USING ERRCODE = '${SqlState.notExtendingHead}';
  END IF;
  IF below <> NEW.prev_hash THEN
    RAISE EXCEPTION 'block %: prev_hash % is not the hash % of block %',
      NEW.height, encode(NEW.prev_hash, 'hex'), encode(below, 'hex'), NEW.height - 1
      USING ERRCODE = '${SqlState.notExtendingHead}';
  END IF;
  RETURN NEW;
END
$fn$;

CREATE TRIGGER blocks_link BEFORE INSERT ON ${s}.blocks
  FOR EACH ROW EXECUTE FUNCTION ${s}.check_block_link();

CREATE FUNCTION ${s}.refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = '${SqlState.appendOnly}';
END
$fn$;

CREATE TRIGGER blocks_append_only BEFORE UPDATE OR DELETE ON ${s}.blocks
  FOR EACH ROW EXECUTE FUNCTION ${s}.refuse_rewrite();
CREATE TRIGGER blocks_no_truncate BEFORE TRUNCATE ON ${s}.blocks
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.refuse_rewrite();
CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON ${s}.transactions
  FOR EACH ROW EXECUTE FUNCTION ${s}.refuse_rewrite();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON ${s}.transactions
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.refuse_rewrite();
`,
  },
  {
    version: 2,
    name: 'find the configuration in force without scanning the chain',
    sql: (s) => `
ALTER TABLE ${s}.transactions ADD COLUMN is_config boolean NOT NULL DEFAULT false;
CREATE INDEX transactions_valid_config ON ${s}.transactions (height DESC, tx_index DESC)
  WHERE is_config AND validation_code = 0;
`,
  },
  {
    version: 3,
    name: "an orderer's own consensus promises (votes), persisted before they are sent",
    sql: (s) => `
CREATE TABLE ${s}.consensus_records (
  id      bigserial PRIMARY KEY,
  -- The height a record is about; NULL for view records. Rows at or below the head are pruned.
  height  bigint,
  record  bytea NOT NULL
);
CREATE INDEX consensus_records_height ON ${s}.consensus_records (height);
`,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings `schema` to the latest version in one transaction, serialised by an advisory lock so
 * several processes opening the same schema at once cannot both migrate it.
 */
export async function migrate(client: pg.ClientBase, schema: string, quoted: string): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`chainnode.migrate.${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${quoted}.schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number | null }>(
      `SELECT max(version) AS v FROM ${quoted}.schema_migrations`,
    );
    const current = rows[0]?.v ?? 0;
    if (current > LATEST_SCHEMA_VERSION) {
      throw new LedgerError(
        'LEDGER_MIGRATION',
        `schema ${schema} is at version ${current}, newer than this build knows (${LATEST_SCHEMA_VERSION}): upgrade chainnode`,
      );
    }
    for (const m of MIGRATIONS.filter((m) => m.version > current)) {
      await client.query(m.sql(quoted));
      await client.query(`INSERT INTO ${quoted}.schema_migrations (version, name) VALUES ($1, $2)`, [
        m.version,
        m.name,
      ]);
    }
    await client.query('COMMIT');
    return LATEST_SCHEMA_VERSION;
  } catch (cause) {
    await client.query('ROLLBACK');
    if (cause instanceof LedgerError) throw cause;
    throw new LedgerError(
      'LEDGER_MIGRATION',
      `migrating schema ${schema} failed: ${(cause as Error).message}`,
      { cause },
    );
  }
}
