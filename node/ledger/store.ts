import pg from 'pg';
import {
  blockHash,
  canonicalBytes,
  checkBlockIntegrity,
  decodeBlockHeader,
  decodeCommitCertificate,
  decodeEnvelope,
  isValidationCode,
  sha256Hex,
  type Block,
  type CommitCertificate,
  type Envelope,
  type Hash,
  type NetworkConfig,
  type StateVersion,
  type TxId,
} from '../protocol/index.js';
import { LedgerError } from './errors.js';
import { migrate, SqlState } from './migrations.js';
import { blockStateWrites } from './state-writes.js';
import { BadRow, ChainVerifier, type BlockRow, type TransactionRow, type VerifyReport } from './verify.js';

// node-postgres returns int8 as strings to protect precision; our heights stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** Connections per node process: one writer plus concurrent readers (API, delivery). */
export const POOL_CONNECTIONS_MAX = 10;
/** Rows returned by one range scan. */
export const RANGE_ROWS_MAX = 10_000;
/** Blocks read per round trip while verifying. */
export const VERIFY_PAGE_BLOCKS = 200;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface ChainStoreOptions {
  readonly connectionString: string;
  /** PostgreSQL schema holding this node's tables, so several nodes can share one database. */
  readonly schema: string;
  readonly poolMax?: number;
  /**
   * Whether committing a block applies its valid writes to the world state (default true).
   * Orderers keep the chain only, as Fabric's do: they never execute or query contracts.
   */
  readonly worldState?: boolean;
}

export interface BlockCommit {
  readonly block: Block;
  /** One code per transaction, as decided by the validator. */
  readonly validationCodes: readonly number[];
  /** Required for every block but genesis. */
  readonly commitCertificate: CommitCertificate | null;
}

export interface StoredBlock {
  readonly block: Block;
  readonly hash: Hash;
  readonly validationCodes: readonly number[];
  readonly commitCertificate: CommitCertificate | null;
  readonly createdAt: Date;
}

export interface StoredTransaction {
  readonly txId: TxId;
  readonly height: number;
  readonly txIndex: number;
  readonly envelope: Envelope;
  readonly validationCode: number;
}

export interface StateEntry {
  readonly key: string;
  readonly value: Buffer;
  readonly version: StateVersion;
}

export interface ChainHead {
  readonly height: number;
  readonly hash: Hash;
}

interface BlockDbRow {
  height: number;
  hash: Buffer;
  prev_hash: Buffer;
  data_hash: Buffer;
  tx_count: number;
  header: Buffer;
  commit_cert: Buffer | null;
  created_at: Date;
}

interface TxDbRow {
  height: number;
  tx_index: number;
  tx_id: Buffer;
  envelope: Buffer;
  validation_code: number;
}

/**
 * One node's chain in PostgreSQL: blocks as hash-linked rows, their transactions with
 * validation codes, and the world state. The database enforces the link and append-only
 * rules (see migrations.ts); this class adds the typed API and the all-or-nothing commit.
 */
export class ChainStore {
  private constructor(
    private readonly pool: pg.Pool,
    readonly schema: string,
    private readonly t: { blocks: string; transactions: string; state: string; records: string },
    private readonly worldState: boolean,
  ) {}

  static async open(options: ChainStoreOptions): Promise<ChainStore> {
    if (!SCHEMA_NAME.test(options.schema)) {
      throw new LedgerError(
        'LEDGER_BAD_DATABASE_URL',
        `schema name ${JSON.stringify(options.schema)} must match ${SCHEMA_NAME.source}`,
      );
    }
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolMax ?? POOL_CONNECTIONS_MAX,
    });
    // An idle client whose server went away emits 'error'; without a listener Node would crash.
    // The pool discards such clients itself, so there is nothing else to do here.
    pool.on('error', () => undefined);
    const quoted = `"${options.schema}"`;
    try {
      const client = await pool.connect();
      try {
        await migrate(client, options.schema, quoted);
      } finally {
        client.release();
      }
    } catch (cause) {
      await pool.end();
      if (cause instanceof LedgerError) throw cause;
      throw new LedgerError(
        'LEDGER_MIGRATION',
        `cannot open schema ${options.schema}: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
    return new ChainStore(
      pool,
      options.schema,
      {
        blocks: `${quoted}.blocks`,
        transactions: `${quoted}.transactions`,
        state: `${quoted}.state`,
        records: `${quoted}.consensus_records`,
      },
      options.worldState ?? true,
    );
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async head(): Promise<ChainHead | null> {
    const { rows } = await this.pool.query<{ height: number; hash: Buffer }>(
      `SELECT height, hash FROM ${this.t.blocks} ORDER BY height DESC LIMIT 1`,
    );
    const row = rows[0];
    return row === undefined ? null : { height: row.height, hash: row.hash.toString('hex') as Hash };
  }

  /**
   * Commits a block, its transactions with their validation codes, and the state writes of
   * its valid transactions in ONE PostgreSQL transaction: after a crash either all of it is
   * there or none of it.
   */
  async appendBlock(commit: BlockCommit): Promise<ChainHead> {
    const { block, validationCodes, commitCertificate } = commit;
    const { header } = block;
    // Encode each envelope once: the same bytes are hashed for the Merkle check and stored.
    const encoded = block.transactions.map((e) => canonicalBytes(e));
    checkBlockIntegrity(
      block,
      encoded.map((bytes) => sha256Hex(bytes)),
    );
    if (validationCodes.length !== block.transactions.length) {
      throw new LedgerError(
        'LEDGER_BAD_BLOCK',
        `block ${header.height}: ${validationCodes.length} validation codes for ${block.transactions.length} transactions`,
      );
    }
    validationCodes.forEach((code, i) => {
      if (!isValidationCode(code)) {
        throw new LedgerError(
          'LEDGER_BAD_BLOCK',
          `block ${header.height}: transaction ${i} has unknown validation code ${code}`,
        );
      }
    });
    const hash = blockHash(header);
    if (header.height > 0 && commitCertificate === null) {
      throw new LedgerError('LEDGER_BAD_BLOCK', `block ${header.height}: no commit certificate`);
    }
    if (
      commitCertificate !== null &&
      (commitCertificate.height !== header.height || commitCertificate.blockHash !== hash)
    ) {
      throw new LedgerError(
        'LEDGER_BAD_BLOCK',
        `block ${header.height}: commit certificate is for another block`,
      );
    }

    const writes = this.worldState ? blockStateWrites(block, validationCodes) : [];
    const upserts = writes.filter((w) => w.value !== null);
    const deletes = writes.filter((w) => w.value === null);
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // A checked-out client reports a dropped connection as an 'error' event as well as a failed
    // query; unheard, that event would crash the process. The failed query carries the story.
    const onConnectionError = (e: Error): void => {
      broken = e;
    };
    client.on('error', onConnectionError);
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO ${this.t.blocks} (height, hash, prev_hash, data_hash, tx_count, header, commit_cert)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          header.height,
          Buffer.from(hash, 'hex'),
          Buffer.from(header.prevHash, 'hex'),
          Buffer.from(header.dataHash, 'hex'),
          header.txCount,
          canonicalBytes(header),
          commitCertificate === null ? null : canonicalBytes(commitCertificate),
        ],
      );
      if (block.transactions.length > 0) {
        // One statement for all rows: a block costs a handful of round trips, not one per transaction.
        await client.query(
          `INSERT INTO ${this.t.transactions} (height, tx_index, tx_id, envelope, validation_code, is_config)
           SELECT $1, i - 1, tx_id, envelope, code, is_config
           FROM unnest($2::bytea[], $3::bytea[], $4::smallint[], $5::boolean[])
             WITH ORDINALITY AS u(tx_id, envelope, code, is_config, i)`,
          [
            header.height,
            block.transactions.map((e) => Buffer.from(e.payload.txId, 'hex')),
            encoded,
            validationCodes,
            block.transactions.map((e) => e.payload.type === 'config'),
          ],
        );
      }
      if (upserts.length > 0) {
        await client.query(
          `INSERT INTO ${this.t.state} (namespace, key, value, version_height, version_tx)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[], $5::integer[])
           ON CONFLICT (namespace, key) DO UPDATE
             SET value = EXCLUDED.value, version_height = EXCLUDED.version_height, version_tx = EXCLUDED.version_tx`,
          [
            upserts.map((w) => w.ns),
            upserts.map((w) => w.key),
            upserts.map((w) => w.value),
            upserts.map((w) => w.version.height),
            upserts.map((w) => w.version.txIndex),
          ],
        );
      }
      if (deletes.length > 0) {
        await client.query(
          `DELETE FROM ${this.t.state} s USING unnest($1::text[], $2::text[]) AS d(namespace, key)
           WHERE s.namespace = d.namespace AND s.key = d.key`,
          [deletes.map((w) => w.ns), deletes.map((w) => w.key)],
        );
      }
      await client.query('COMMIT');
      return { height: header.height, hash };
    } catch (cause) {
      broken ??= await rollback(client, cause);
      throw commitError(header.height, cause);
    } finally {
      client.off('error', onConnectionError);
      // A client whose connection or rollback failed is in an unknown state: destroy, never reuse.
      client.release(broken);
    }
  }

  async getBlock(height: number): Promise<StoredBlock | null> {
    const { rows } = await this.pool.query<BlockDbRow>(`SELECT * FROM ${this.t.blocks} WHERE height = $1`, [
      height,
    ]);
    return rows[0] === undefined ? null : this.loadBlock(rows[0]);
  }

  async getBlockByHash(hash: string): Promise<StoredBlock | null> {
    const { rows } = await this.pool.query<BlockDbRow>(`SELECT * FROM ${this.t.blocks} WHERE hash = $1`, [
      Buffer.from(hash, 'hex'),
    ]);
    return rows[0] === undefined ? null : this.loadBlock(rows[0]);
  }

  private async loadBlock(row: BlockDbRow): Promise<StoredBlock> {
    const { rows } = await this.pool.query<TxDbRow>(
      `SELECT * FROM ${this.t.transactions} WHERE height = $1 ORDER BY tx_index`,
      [row.height],
    );
    const header = decodeBlockHeader(row.header);
    return {
      block: { header, transactions: rows.map((r) => decodeEnvelope(r.envelope)) },
      hash: row.hash.toString('hex') as Hash,
      validationCodes: rows.map((r) => r.validation_code),
      commitCertificate: row.commit_cert === null ? null : decodeCommitCertificate(row.commit_cert),
      createdAt: row.created_at,
    };
  }

  /**
   * The configuration in force after the head: the newest valid config transaction (the
   * genesis block holds the first). Null only for an empty chain.
   */
  async latestConfig(): Promise<{ config: NetworkConfig; height: number } | null> {
    const { rows } = await this.pool.query<{ envelope: Buffer; height: number }>(
      `SELECT envelope, height FROM ${this.t.transactions}
       WHERE is_config AND validation_code = 0 ORDER BY height DESC, tx_index DESC LIMIT 1`,
    );
    const row = rows[0];
    if (row === undefined) return null;
    const envelope = decodeEnvelope(row.envelope);
    if (envelope.payload.type !== 'config') {
      throw new LedgerError(
        'LEDGER_CORRUPT_ROW',
        `block ${row.height}: a row marked config holds a ${envelope.payload.type} transaction`,
      );
    }
    return { config: envelope.payload.config, height: row.height };
  }

  /**
   * The height of the newest block that orders a config transaction, applied or refused (0: the
   * genesis): every such block ends a consensus epoch, since the core cannot tell in advance
   * whether the update will apply.
   */
  async lastConfigBlockHeight(): Promise<number> {
    const { rows } = await this.pool.query<{ height: number | null }>(
      `SELECT max(height) AS height FROM ${this.t.transactions} WHERE is_config`,
    );
    return rows[0]?.height ?? 0;
  }

  /** The final (non-duplicate) occurrence of a transaction id, if any. */
  async getTransaction(txId: string): Promise<StoredTransaction | null> {
    const { rows } = await this.pool.query<TxDbRow>(
      `SELECT * FROM ${this.t.transactions} WHERE tx_id = $1 ORDER BY (validation_code = 4), height, tx_index LIMIT 1`,
      [Buffer.from(txId, 'hex')],
    );
    const row = rows[0];
    if (row === undefined) return null;
    return {
      txId: row.tx_id.toString('hex') as TxId,
      height: row.height,
      txIndex: row.tx_index,
      envelope: decodeEnvelope(row.envelope),
      validationCode: row.validation_code,
    };
  }

  async getState(ns: string, key: string): Promise<StateEntry | null> {
    const { rows } = await this.pool.query<{ value: Buffer; version_height: number; version_tx: number }>(
      `SELECT value, version_height, version_tx FROM ${this.t.state} WHERE namespace = $1 AND key = $2`,
      [ns, key],
    );
    const row = rows[0];
    return row === undefined
      ? null
      : { key, value: row.value, version: { height: row.version_height, txIndex: row.version_tx } };
  }

  /** Committed versions of many keys in one round trip; absent keys are missing from the map. */
  async stateVersions(keys: readonly { ns: string; key: string }[]): Promise<Map<string, StateVersion>> {
    const out = new Map<string, StateVersion>();
    if (keys.length === 0) return out;
    const { rows } = await this.pool.query<{
      namespace: string;
      key: string;
      version_height: number;
      version_tx: number;
    }>(
      `SELECT s.namespace, s.key, s.version_height, s.version_tx
       FROM ${this.t.state} s JOIN unnest($1::text[], $2::text[]) AS k(namespace, key)
         ON s.namespace = k.namespace AND s.key = k.key`,
      [keys.map((k) => k.ns), keys.map((k) => k.key)],
    );
    for (const r of rows)
      out.set(`${r.namespace}\u0000${r.key}`, { height: r.version_height, txIndex: r.version_tx });
    return out;
  }

  /** Values and versions of many keys in one round trip, in the order asked; null where absent. */
  async stateEntries(keys: readonly { ns: string; key: string }[]): Promise<(StateEntry | null)[]> {
    if (keys.length === 0) return [];
    const { rows } = await this.pool.query<{
      i: number;
      value: Buffer | null;
      version_height: number | null;
      version_tx: number | null;
    }>(
      `SELECT k.i::int AS i, s.value, s.version_height, s.version_tx
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(namespace, key, i)
       LEFT JOIN ${this.t.state} s ON s.namespace = k.namespace AND s.key = k.key
       ORDER BY k.i`,
      [keys.map((k) => k.ns), keys.map((k) => k.key)],
    );
    return rows.map((r, i) =>
      r.value === null || r.version_height === null || r.version_tx === null
        ? null
        : {
            key: keys[i]?.key ?? '',
            value: r.value,
            version: { height: r.version_height, txIndex: r.version_tx },
          },
    );
  }

  /** Which of these transaction ids are already in the chain, with any validation code. */
  async knownTxIds(txIds: readonly string[]): Promise<Set<string>> {
    if (txIds.length === 0) return new Set();
    const { rows } = await this.pool.query<{ tx_id: Buffer }>(
      `SELECT DISTINCT tx_id FROM ${this.t.transactions} WHERE tx_id = ANY($1::bytea[])`,
      [txIds.map((id) => Buffer.from(id, 'hex'))],
    );
    return new Set(rows.map((r) => r.tx_id.toString('hex')));
  }

  /** Keys in [start, end) of one namespace in byte order (collation "C"), at most `limit`. */
  async rangeState(
    ns: string,
    range: { start: string; end?: string; limit?: number },
  ): Promise<StateEntry[]> {
    const limit = Math.min(range.limit ?? RANGE_ROWS_MAX, RANGE_ROWS_MAX);
    const { rows } = await this.pool.query<{
      key: string;
      value: Buffer;
      version_height: number;
      version_tx: number;
    }>(
      `SELECT key, value, version_height, version_tx FROM ${this.t.state}
       WHERE namespace = $1 AND key >= $2 AND ($3::text IS NULL OR key < $3) ORDER BY key LIMIT $4`,
      [ns, range.start, range.end ?? null, limit],
    );
    return rows.map((r) => ({
      key: r.key,
      value: r.value,
      version: { height: r.version_height, txIndex: r.version_tx },
    }));
  }

  /**
   * Makes consensus records durable in one transaction (synchronous commit): the caller sends
   * the votes they describe only after this resolves.
   */
  async appendConsensusRecords(records: readonly { height: number | null; bytes: Buffer }[]): Promise<void> {
    if (records.length === 0) return;
    await this.pool.query(
      `INSERT INTO ${this.t.records} (height, record) SELECT * FROM unnest($1::bigint[], $2::bytea[])`,
      [records.map((r) => r.height), records.map((r) => r.bytes)],
    );
  }

  /** Records above `height` (or about no height), in the order they were written. */
  async consensusRecords(aboveHeight: number): Promise<Buffer[]> {
    const { rows } = await this.pool.query<{ record: Buffer }>(
      `SELECT record FROM ${this.t.records} WHERE height IS NULL OR height > $1 ORDER BY id`,
      [aboveHeight],
    );
    return rows.map((r) => r.record);
  }

  /** Forgets records of heights that are final (at or below `height`). */
  async pruneConsensusRecords(height: number): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.t.records} WHERE height <= $1`, [height]);
  }

  /** Transaction ids of the newest `limit` transactions, oldest first. */
  async recentTxIds(limit: number): Promise<TxId[]> {
    const { rows } = await this.pool.query<{ tx_id: Buffer }>(
      `SELECT tx_id FROM ${this.t.transactions} ORDER BY height DESC, tx_index DESC LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.tx_id.toString('hex') as TxId).reverse();
  }

  /**
   * Recomputes every hash, link, Merkle root and commit certificate from the stored rows and
   * names the first bad one. Reads in pages inside one REPEATABLE READ snapshot so blocks
   * committed meanwhile cannot make the walk inconsistent.
   */
  async verify(onProgress?: (checkedHeight: number, headHeight: number) => void): Promise<VerifyReport> {
    const client = await this.pool.connect();
    const verifier = new ChainVerifier();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { rows: headRows } = await client.query<{ h: number | null }>(
        `SELECT max(height) AS h FROM ${this.t.blocks}`,
      );
      const headHeight = headRows[0]?.h ?? -1;
      let from = 0;
      while (from <= headHeight) {
        const to = from + VERIFY_PAGE_BLOCKS - 1;
        const { rows: blocks } = await client.query<BlockDbRow>(
          `SELECT * FROM ${this.t.blocks} WHERE height >= $1 AND height <= $2 ORDER BY height`,
          [from, to],
        );
        const { rows: txs } = await client.query<TxDbRow>(
          `SELECT * FROM ${this.t.transactions} WHERE height >= $1 AND height <= $2 ORDER BY height, tx_index`,
          [from, to],
        );
        const byHeight = groupByHeight(txs);
        if (blocks.length === 0) throw new BadRow(from, 'block row missing below the head (gap)');
        for (const b of blocks) verifier.check(toBlockRow(b), byHeight.get(b.height) ?? []);
        onProgress?.(Math.min(to, headHeight), headHeight);
        from = to + 1;
      }
      await client.query('COMMIT');
      return {
        ok: true,
        blocks: verifier.blocks,
        transactions: verifier.transactions,
        headHash: verifier.headHash,
      };
    } catch (e) {
      await client.query('ROLLBACK');
      if (e instanceof BadRow)
        return { ok: false, height: e.height, problem: e.problem, blocksChecked: verifier.blocks };
      throw e;
    } finally {
      client.release();
    }
  }
}

function toBlockRow(b: BlockDbRow): BlockRow {
  return {
    height: b.height,
    hash: b.hash,
    prevHash: b.prev_hash,
    dataHash: b.data_hash,
    txCount: b.tx_count,
    header: b.header,
    commitCert: b.commit_cert,
  };
}

function groupByHeight(rows: readonly TxDbRow[]): Map<number, TransactionRow[]> {
  const out = new Map<number, TransactionRow[]>();
  for (const r of rows) {
    const list = out.get(r.height) ?? [];
    list.push({
      height: r.height,
      txIndex: r.tx_index,
      txId: r.tx_id,
      envelope: r.envelope,
      validationCode: r.validation_code,
    });
    out.set(r.height, list);
  }
  return out;
}

/** Rolls back; returns the rollback's own failure (the connection is then unusable) or undefined. */
async function rollback(client: pg.PoolClient, original: unknown): Promise<Error | undefined> {
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (rollbackError) {
    return new Error(`rollback after ${(original as Error).message} failed`, { cause: rollbackError });
  }
}

function commitError(height: number, cause: unknown): LedgerError {
  const pgCode = (cause as { code?: string }).code;
  const message = (cause as Error).message;
  if (pgCode === SqlState.notExtendingHead || (pgCode === '23505' && message.includes('blocks_pkey'))) {
    return new LedgerError(
      'LEDGER_NOT_EXTENDING_HEAD',
      `block ${height} does not extend the chain head: ${message}`,
      {
        cause,
      },
    );
  }
  if (pgCode === '23505' && message.includes('transactions_tx_id_once')) {
    return new LedgerError(
      'LEDGER_BAD_BLOCK',
      `block ${height} commits a transaction id that is already final: ${message}`,
      {
        cause,
      },
    );
  }
  if (pgCode === SqlState.headerMismatch) return new LedgerError('LEDGER_BAD_BLOCK', message, { cause });
  return new LedgerError(
    'LEDGER_COMMIT_FAILED',
    `committing block ${height} failed, nothing was written: ${message}`,
    {
      cause,
    },
  );
}
