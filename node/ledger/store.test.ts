import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import {
  blockHash,
  buildBlock,
  canonicalBytes,
  inclusionProof,
  ValidationCode,
  verifyMerkleProof,
  type Envelope,
  type Hash,
} from '../protocol/index.js';
import {
  certifiedBlock,
  genesisHead,
  makeTestNetwork,
  sampleTrade,
  tradeEnvelope,
  type TestNetwork,
} from '../../test/support/chain-fixture.js';
import { dropSchema, testDatabaseUrl, uniqueSchema } from '../../test/support/database.js';
import { approveConfig, configEnvelope } from '../config/index.js';
import { LedgerError } from './errors.js';
import { ChainStore } from './store.js';

const TRADES_PER_BLOCK = 5;

let net: TestNetwork;
const schemas: string[] = [];
const stores: ChainStore[] = [];

async function openStore(schema = uniqueSchema('ledger')): Promise<ChainStore> {
  schemas.push(schema);
  const store = await ChainStore.open({ connectionString: testDatabaseUrl(), schema });
  stores.push(store);
  return store;
}

async function superuser<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Appends genesis plus `blocks` blocks of trades; returns the envelopes by height. */
async function appendTradeChain(store: ChainStore, blocks: number): Promise<Map<number, Envelope[]>> {
  await store.appendBlock({
    block: net.genesis,
    validationCodes: [ValidationCode.VALID],
    commitCertificate: null,
  });
  let head = genesisHead(net);
  const byHeight = new Map<number, Envelope[]>();
  for (let h = 1; h <= blocks; h++) {
    const txs = Array.from({ length: TRADES_PER_BLOCK }, (_, i) =>
      tradeEnvelope(net, sampleTrade(h * TRADES_PER_BLOCK + i)),
    );
    const { block, commitCertificate } = certifiedBlock(net, head, txs);
    head = await store.appendBlock({
      block,
      validationCodes: txs.map(() => ValidationCode.VALID),
      commitCertificate,
    });
    byHeight.set(h, txs);
  }
  return byHeight;
}

beforeAll(async () => {
  net = await makeTestNetwork({ orderers: 4 });
});

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all(schemas.map(dropSchema));
});

describe('a chain of 101 blocks of trades', () => {
  let store: ChainStore;
  let envelopes: Map<number, Envelope[]>;

  beforeAll(async () => {
    store = await openStore();
    envelopes = await appendTradeChain(store, 100);
  });

  it('has its head at height 100, linked to block 99', async () => {
    const head = await store.head();
    const b99 = await store.getBlock(99);
    const b100 = await store.getBlock(100);
    expect(head?.height).toBe(100);
    expect(b100?.block.header.prevHash).toBe(b99?.hash);
    expect(head?.hash).toBe(blockHash((b100 as NonNullable<typeof b100>).block.header));
  });

  it('reads a block back by height and by hash with its transactions, codes and certificate', async () => {
    const byHeight = await store.getBlock(42);
    const byHash = await store.getBlockByHash((byHeight as NonNullable<typeof byHeight>).hash);
    expect(byHash?.block).toEqual(byHeight?.block);
    expect(byHeight?.block.transactions).toEqual(envelopes.get(42));
    expect(byHeight?.validationCodes).toEqual(Array(TRADES_PER_BLOCK).fill(ValidationCode.VALID));
    expect(byHeight?.commitCertificate?.signatures).toHaveLength(3);
    expect(await store.getBlock(101)).toBeNull();
  });

  it('finds a transaction by id and proves its inclusion from the header alone', async () => {
    const envelope = (envelopes.get(73) as Envelope[])[2] as Envelope;
    const tx = await store.getTransaction(envelope.payload.txId);
    expect(tx).toMatchObject({ height: 73, txIndex: 2, validationCode: ValidationCode.VALID });
    const stored = await store.getBlock(73);
    const proof = inclusionProof((stored as NonNullable<typeof stored>).block, 2);
    expect(
      verifyMerkleProof(proof.txHash, 2, proof.txCount, proof.path, stored?.block.header.dataHash as Hash),
    ).toBe(true);
  });

  it('holds each trade in the world state with the version of the writing transaction', async () => {
    const envelope = (envelopes.get(10) as Envelope[])[4] as Envelope;
    const entry = await store.getState('trade', `trade~${envelope.payload.txId}`);
    expect(JSON.parse((entry as NonNullable<typeof entry>).value.toString())).toEqual(
      sampleTrade(10 * TRADES_PER_BLOCK + 4),
    );
    expect(entry?.version).toEqual({ height: 10, txIndex: 4 });
    const range = await store.rangeState('trade', { start: 'trade~', end: 'trade~\uffff' });
    expect(range).toHaveLength(100 * TRADES_PER_BLOCK);
    expect(range.map((e) => e.key)).toEqual([...range.map((e) => e.key)].sort());
  });

  it('passes verify', async () => {
    const progress: number[] = [];
    const report = await store.verify((h) => progress.push(h));
    expect(report).toEqual({
      ok: true,
      blocks: 101,
      transactions: 1 + 100 * TRADES_PER_BLOCK,
      headHash: (await store.head())?.hash,
    });
    expect(progress.at(-1)).toBe(100);
  });
});

describe('the database enforces the hash link and append-only rows', () => {
  let store: ChainStore;

  beforeAll(async () => {
    store = await openStore();
    await appendTradeChain(store, 3);
  });

  it('refuses a block whose prev_hash is not the hash of the head', async () => {
    const head = (await store.head()) as NonNullable<Awaited<ReturnType<ChainStore['head']>>>;
    const { block, commitCertificate } = certifiedBlock(
      net,
      { height: head.height, hash: '11'.repeat(32) as Hash },
      [tradeEnvelope(net, sampleTrade(1))],
    );
    await expect(store.appendBlock({ block, validationCodes: [0], commitCertificate })).rejects.toMatchObject(
      {
        code: 'LEDGER_NOT_EXTENDING_HEAD',
        message: expect.stringContaining(
          `prev_hash ${'11'.repeat(32)} is not the hash ${head.hash} of block 3`,
        ),
      },
    );
    expect((await store.head())?.height).toBe(3);
  });

  it('refuses a wrong prev_hash written with raw SQL, bypassing the client library', async () => {
    const wrong = buildBlock({
      height: 4,
      prevHash: '22'.repeat(32) as Hash,
      transactions: [],
      timestampMs: 1,
      proposer: net.orderers[0]!.name,
    });
    const header = canonicalBytes(wrong.header);
    await expect(
      superuser((c) =>
        c.query(
          `INSERT INTO "${store.schema}".blocks (height, hash, prev_hash, data_hash, tx_count, header, commit_cert)
           VALUES (4, sha256($1), $2, $3, 0, $1, '\\x00')`,
          [header, Buffer.from(wrong.header.prevHash, 'hex'), Buffer.from(wrong.header.dataHash, 'hex')],
        ),
      ),
    ).rejects.toThrow(/block 4: prev_hash 2222.* is not the hash .* of block 3/);
  });

  it('refuses a block that skips a height', async () => {
    const head = (await store.head()) as NonNullable<Awaited<ReturnType<ChainStore['head']>>>;
    const { block, commitCertificate } = certifiedBlock(
      net,
      { height: head.height + 1, hash: head.hash },
      [],
    );
    await expect(store.appendBlock({ block, validationCodes: [], commitCertificate })).rejects.toMatchObject({
      code: 'LEDGER_NOT_EXTENDING_HEAD',
      message: expect.stringContaining('there is no block 4 to extend'),
    });
  });

  it.each([
    ['UPDATE', 'blocks', `UPDATE {s}.blocks SET tx_count = 9 WHERE height = 2`],
    ['DELETE', 'blocks', `DELETE FROM {s}.blocks WHERE height = 3`],
    ['TRUNCATE', 'blocks', `TRUNCATE {s}.blocks CASCADE`],
    ['UPDATE', 'transactions', `UPDATE {s}.transactions SET validation_code = 7 WHERE height = 2`],
    ['DELETE', 'transactions', `DELETE FROM {s}.transactions WHERE height = 1`],
  ])('refuses %s on %s', async (op, table, sql) => {
    await expect(superuser((c) => c.query(sql.replace('{s}', `"${store.schema}"`)))).rejects.toMatchObject({
      code: 'CN002',
      message: `${table} is append-only: ${op} refused`,
    });
    expect(await store.verify()).toMatchObject({ ok: true, blocks: 4 });
  });
});

describe('verify names the first tampered row', () => {
  /** Superuser tampering with triggers disabled, as an attacker with database access would. */
  async function tamper(schema: string, sql: string): Promise<void> {
    await superuser(async (c) => {
      await c.query(`SET session_replication_role = replica`);
      await c.query(sql.replaceAll('{s}', `"${schema}"`));
    });
  }

  it('reports the height whose transaction envelope was altered', async () => {
    const store = await openStore();
    await appendTradeChain(store, 80);
    await tamper(
      store.schema,
      `UPDATE {s}.transactions SET envelope = convert_to(replace(convert_from(envelope, 'UTF8'), '"record"', '"rec0rd"'), 'UTF8') WHERE height = 57 AND tx_index = 1`,
    );
    const report = await store.verify();
    expect(report).toMatchObject({ ok: false, height: 57, blocksChecked: 57 });
    expect(!report.ok && report.problem).toContain('transaction 1 claims txId');
  });

  it('reports a rewritten world-history: the header and hash of a block rewritten consistently', async () => {
    const store = await openStore();
    await appendTradeChain(store, 20);
    // Change the timestamp in the header and recompute its hash: the link from block 13 breaks.
    await tamper(
      store.schema,
      `UPDATE {s}.blocks SET header = convert_to(regexp_replace(convert_from(header, 'UTF8'), '"timestampMs":[0-9]+', '"timestampMs":1'), 'UTF8') WHERE height = 12;
       UPDATE {s}.blocks SET hash = sha256(header) WHERE height = 12`,
    );
    const report = await store.verify();
    expect(report).toMatchObject({ ok: false, height: 12 });
    expect(!report.ok && report.problem).toMatch(/^commit certificate: certificate is for block hash/);
  });

  it('reports a deleted block as a gap at its height', async () => {
    const store = await openStore();
    await appendTradeChain(store, 10);
    await tamper(
      store.schema,
      `DELETE FROM {s}.transactions WHERE height = 6; DELETE FROM {s}.blocks WHERE height = 6`,
    );
    expect(await store.verify()).toMatchObject({
      ok: false,
      height: 7,
      problem: 'expected block 6 next, found 7 (gap)',
    });
  });

  it('reports a forged commit certificate', async () => {
    const store = await openStore();
    await appendTradeChain(store, 5);
    const forged = await store.getBlock(4);
    const cert = {
      ...(forged?.commitCertificate as NonNullable<NonNullable<typeof forged>['commitCertificate']>),
    };
    cert.signatures = cert.signatures.slice(0, 2);
    await tamper(
      store.schema,
      `UPDATE {s}.blocks SET commit_cert = convert_to('${JSON.stringify(cert).replaceAll("'", "''")}', 'UTF8') WHERE height = 4`,
    );
    expect(await store.verify()).toMatchObject({
      ok: false,
      height: 4,
      problem: 'commit certificate: 2 valid signatures, a quorum of 4 orderers needs 3',
    });
  });
});

describe('commits are all-or-nothing', () => {
  it('leaves no block, transaction or state behind when the connection dies mid-commit', async () => {
    const store = await openStore();
    await appendTradeChain(store, 2);
    const head = (await store.head()) as NonNullable<Awaited<ReturnType<ChainStore['head']>>>;
    const txs = [tradeEnvelope(net, sampleTrade(900)), tradeEnvelope(net, sampleTrade(901))];
    const { block, commitCertificate } = certifiedBlock(net, head, txs);

    const locker = new pg.Client({ connectionString: testDatabaseUrl() });
    await locker.connect();
    try {
      // Hold the state table so the commit stops after writing its block and transaction rows.
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${store.schema}".state IN ACCESS EXCLUSIVE MODE`);
      const commit = store.appendBlock({ block, validationCodes: [0, 0], commitCertificate });
      // Watch from a third connection: inside the locker's transaction pg_stat_activity is a frozen snapshot.
      const pid = await superuser((watcher) => waitForLockedBackend(watcher, store.schema));
      await locker.query('SELECT pg_terminate_backend($1)', [pid]);
      await expect(commit).rejects.toMatchObject({ code: 'LEDGER_COMMIT_FAILED' });
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }

    expect(await store.head()).toEqual(head);
    expect(await store.getTransaction(txs[0]!.payload.txId)).toBeNull();
    expect(await store.getState('trade', `trade~${txs[0]!.payload.txId}`)).toBeNull();
    expect(await store.verify()).toMatchObject({ ok: true, blocks: 3 });
    // The same block commits cleanly afterwards: nothing half-written is in its way.
    await store.appendBlock({ block, validationCodes: [0, 0], commitCertificate });
    expect((await store.head())?.height).toBe(3);
  });
});

/** Polls pg_stat_activity until a backend waits on a lock in `schema`'s state table; gives up after 20 s. */
async function waitForLockedBackend(client: pg.Client, schema: string): Promise<number> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { rows } = await client.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`,
      [`%"${schema}".state%`],
    );
    if (rows[0] !== undefined) return rows[0].pid;
  }
  throw new Error('the commit never blocked on the state table lock');
}

describe('state and validation codes', () => {
  let store: ChainStore;

  beforeAll(async () => {
    store = await openStore();
    await store.appendBlock({ block: net.genesis, validationCodes: [0], commitCertificate: null });
  });

  it('applies only valid transactions, the later write to a key winning, and deletes', async () => {
    const put = (key: string, value: string | null) => ({
      ns: 'kv',
      key,
      value: value === null ? null : Buffer.from(value).toString('base64'),
    });
    const txs = [
      tradeEnvelope(net, sampleTrade(1), [put('a', 'first'), put('b', 'keep')]),
      tradeEnvelope(net, sampleTrade(2), [put('a', 'second')]),
      tradeEnvelope(net, sampleTrade(3), [put('b', 'invalid write')]),
    ];
    const first = certifiedBlock(net, genesisHead(net), txs);
    const head = await store.appendBlock({
      block: first.block,
      validationCodes: [ValidationCode.VALID, ValidationCode.VALID, ValidationCode.MVCC_READ_CONFLICT],
      commitCertificate: first.commitCertificate,
    });
    expect((await store.getState('kv', 'a'))?.value.toString()).toBe('second');
    expect((await store.getState('kv', 'a'))?.version).toEqual({ height: 1, txIndex: 1 });
    expect((await store.getState('kv', 'b'))?.value.toString()).toBe('keep');
    expect(await store.getState('trade', `trade~${txs[2]!.payload.txId}`)).toBeNull();
    expect((await store.getTransaction(txs[2]!.payload.txId))?.validationCode).toBe(
      ValidationCode.MVCC_READ_CONFLICT,
    );

    const second = certifiedBlock(net, head, [tradeEnvelope(net, sampleTrade(4), [put('b', null)])]);
    await store.appendBlock({
      block: second.block,
      validationCodes: [0],
      commitCertificate: second.commitCertificate,
    });
    expect(await store.getState('kv', 'b')).toBeNull();
  });

  it('refuses to make a transaction id final twice, but keeps a replay flagged DUPLICATE_TXID', async () => {
    const head = (await store.head()) as NonNullable<Awaited<ReturnType<ChainStore['head']>>>;
    const original = (await store.getBlock(1))?.block.transactions[0] as Envelope;
    const replay = certifiedBlock(net, head, [original]);
    await expect(
      store.appendBlock({
        block: replay.block,
        validationCodes: [ValidationCode.VALID],
        commitCertificate: replay.commitCertificate,
      }),
    ).rejects.toMatchObject({ code: 'LEDGER_BAD_BLOCK', message: expect.stringContaining('already final') });
    await store.appendBlock({
      block: replay.block,
      validationCodes: [ValidationCode.DUPLICATE_TXID],
      commitCertificate: replay.commitCertificate,
    });
    const tx = await store.getTransaction(original.payload.txId);
    expect(tx).toMatchObject({ height: 1, txIndex: 0, validationCode: ValidationCode.VALID });
  });

  it('refuses inconsistent commits before touching the database', async () => {
    const head = (await store.head()) as NonNullable<Awaited<ReturnType<ChainStore['head']>>>;
    const { block, commitCertificate } = certifiedBlock(net, head, [tradeEnvelope(net, sampleTrade(5))]);
    await expect(store.appendBlock({ block, validationCodes: [], commitCertificate })).rejects.toThrow(
      /1 transactions/,
    );
    await expect(store.appendBlock({ block, validationCodes: [99], commitCertificate })).rejects.toThrow(
      /unknown validation code 99/,
    );
    await expect(store.appendBlock({ block, validationCodes: [0], commitCertificate: null })).rejects.toThrow(
      /no commit certificate/,
    );
    const other = certifiedBlock(net, head, []);
    await expect(
      store.appendBlock({ block, validationCodes: [0], commitCertificate: other.commitCertificate }),
    ).rejects.toBeInstanceOf(LedgerError);
    const tampered = { ...block, transactions: [tradeEnvelope(net, sampleTrade(6))] };
    await expect(
      store.appendBlock({ block: tampered, validationCodes: [0], commitCertificate }),
    ).rejects.toThrow(/not the Merkle root/);
    expect(await store.head()).toEqual(head);
  });

  it('reopens an existing schema without re-running migrations and continues the chain', async () => {
    const again = await openStore(store.schema);
    expect(await again.head()).toEqual(await store.head());
    expect(await again.verify()).toMatchObject({ ok: true });
  });
});

describe('configuration blocks', () => {
  it('puts in force only a valid config transaction, but starts the epoch at a refused one too', async () => {
    const store = await openStore();
    await appendTradeChain(store, 1);
    expect(await store.latestConfig()).toMatchObject({ height: 0 });
    expect(await store.lastConfigBlockHeight()).toBe(0);
    const { block: head } = (await store.getBlock(1))!;
    const next = { ...net.config, sequence: 1, consensus: { ...net.config.consensus, batchTxMax: 7 } };
    const admins = net.material.users.filter((u) => u.role === 'admin');
    const approvals = admins.map((a) => approveConfig(next, { org: a.org, cert: a.certPem }, a.keyPem));
    const envelope = configEnvelope(
      next,
      approvals,
      { org: admins[0]!.org, cert: admins[0]!.certPem },
      admins[0]!.keyPem,
    );
    const refused = certifiedBlock(net, { height: 1, hash: blockHash(head.header) }, [envelope]);
    await store.appendBlock({
      block: refused.block,
      validationCodes: [ValidationCode.BAD_CONFIG_UPDATE],
      commitCertificate: refused.commitCertificate,
    });
    expect((await store.latestConfig())?.height).toBe(0);
    expect((await store.latestConfig())?.config.sequence).toBe(0);
    expect(await store.lastConfigBlockHeight()).toBe(2);
  });
});
