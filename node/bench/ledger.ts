import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { SigningKey } from '../crypto/index.js';
import { ChainStore, openDatabase } from '../ledger/index.js';
import { generateNetwork } from '../network/index.js';
import { blockHash, ValidationCode, type Envelope, type Hash } from '../protocol/index.js';
import { certifyLocally, sampleTrade, tradeEnvelope, type Signer } from '../workload/index.js';
import { cpuSecondsSince, percentile, ratePerSec } from './stats.js';

export interface LedgerBenchRow {
  readonly txPerBlock: number;
  readonly blocks: number;
  readonly txPerSec: number;
  readonly blockCommitMsP50: number;
  readonly blockCommitMsP99: number;
  readonly mbPerSec: number;
  readonly clientCpuSeconds: number;
}

export interface LedgerBenchOptions {
  readonly txPerBlock?: readonly number[];
  /** Transactions committed per block size (so small blocks get more blocks). */
  readonly txPerRun?: number;
  readonly databaseUrl?: string;
  readonly onProgress?: (label: string, done: number, total: number) => void;
}

/**
 * Committed transactions per second into PostgreSQL (durable: fsync and synchronous_commit
 * on) for blocks of several sizes. Envelopes are signed before the clock starts: this measures
 * the store (encoding, hashing, the block's rows and state writes in one transaction).
 */
export async function benchLedger(options: LedgerBenchOptions = {}): Promise<LedgerBenchRow[]> {
  const sizes = options.txPerBlock ?? [100, 500, 2000];
  const txPerRun = options.txPerRun ?? 20_000;
  const dir = await mkdtemp(join(tmpdir(), 'chainnode-bench-'));
  // mkdtemp makes it 0700; PostgreSQL (run as 'postgres' when we are root) must traverse it.
  await chmod(dir, 0o755);
  const database = await openDatabase({ dir, databaseUrl: options.databaseUrl });
  const material = await generateNetwork({ orderers: 4, orgs: 2, networkId: 'bench' });
  const signer = (org: string, cert: string, keyPem: string): Signer => ({
    identity: { org: org as Signer['identity']['org'], cert },
    key: SigningKey.fromPem(keyPem),
  });
  const clientUser = material.users.find((u) => u.role === 'client');
  if (clientUser === undefined) throw new Error('generated network has no client');
  const client = signer(clientUser.org, clientUser.certPem, clientUser.keyPem);
  const endorsers = material.peers.map((p) => signer(p.entry.org, p.entry.cert, p.keyPem));
  const orderers = material.orderers.map((o) => ({ name: o.entry.name, key: SigningKey.fromPem(o.keyPem) }));

  const rows: LedgerBenchRow[] = [];
  try {
    for (const txPerBlock of sizes) {
      const blocks = Math.max(5, Math.round(txPerRun / txPerBlock));
      const schema = `bench_${txPerBlock}_${process.pid}`;
      const store = await ChainStore.open({ connectionString: database.url, schema });
      try {
        await store.appendBlock({
          block: material.genesis,
          validationCodes: [ValidationCode.VALID],
          commitCertificate: null,
        });
        let head: { height: number; hash: Hash } = { height: 0, hash: blockHash(material.genesis.header) };
        // Prepare every block first so signing is not measured.
        const prepared = [];
        for (let b = 0; b < blocks; b++) {
          const txs: Envelope[] = Array.from({ length: txPerBlock }, (_, i) =>
            tradeEnvelope(client, endorsers, sampleTrade(b * txPerBlock + i)),
          );
          const certified = certifyLocally(orderers, head, txs, Date.now());
          prepared.push(certified);
          head = { height: certified.block.header.height, hash: blockHash(certified.block.header) };
          options.onProgress?.(`prepare ${txPerBlock}-tx blocks`, b + 1, blocks);
        }
        const bytes = prepared.reduce((sum, p) => sum + Buffer.byteLength(JSON.stringify(p.block)), 0);
        const latencies: number[] = [];
        const cpu = process.cpuUsage();
        const start = process.hrtime.bigint();
        for (const [i, { block, commitCertificate }] of prepared.entries()) {
          const t0 = process.hrtime.bigint();
          await store.appendBlock({
            block,
            validationCodes: block.transactions.map(() => ValidationCode.VALID),
            commitCertificate,
          });
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          options.onProgress?.(`commit ${txPerBlock}-tx blocks`, i + 1, blocks);
        }
        const elapsed = process.hrtime.bigint() - start;
        rows.push({
          txPerBlock,
          blocks,
          txPerSec: ratePerSec(blocks * txPerBlock, elapsed),
          blockCommitMsP50: percentile(latencies, 50),
          blockCommitMsP99: percentile(latencies, 99),
          mbPerSec: ratePerSec(bytes / 1e6, elapsed),
          clientCpuSeconds: cpuSecondsSince(cpu),
        });
      } finally {
        await store.close();
        await dropSchema(database.url, schema);
      }
    }
  } finally {
    await database.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
