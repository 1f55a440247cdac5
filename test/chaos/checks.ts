import pg from 'pg';
import { ValidationCode, validationCodeName } from '../../node/protocol/index.js';
import type { OpRecord } from './load.js';

export type ViolationKind =
  | 'crash'
  | 'restart-failed'
  | 'unclean-stop'
  | 'no-recovery'
  /** The orderers stay in different views after a fault healed: one of them does not vote. */
  | 'view-split'
  | 'no-progress'
  | 'no-convergence'
  | 'fork'
  | 'lost-tx'
  | 'wrong-result'
  | 'divergent-validation'
  | 'verify'
  | 'runner';

export interface Violation {
  readonly kind: ViolationKind;
  readonly message: string;
  readonly node?: string;
  /** The node's log file, and its last lines, when a node is to blame. */
  readonly log?: string;
  readonly excerpt?: string;
}

export interface LedgerCheck {
  readonly violations: Violation[];
  /** Heights at which two nodes hold different blocks. */
  readonly forks: number;
  /** Acknowledged transactions missing from a peer that is past their height. */
  readonly lost: number;
  /** Acknowledged transactions found again later in the chain, flagged DUPLICATE_TXID. */
  readonly duplicates: number;
  /** Calls that failed (timeout, connection lost...) whose transaction was committed anyway. */
  readonly failedButCommitted: number;
  /** Blocks per node. */
  readonly heights: Record<string, number>;
}

interface TxRow {
  readonly height: number;
  readonly index: number;
  readonly txId: string;
  readonly code: number;
}

/** Reported cases of one kind beyond this are counted, not listed. */
const LISTED_MAX = 10;

/**
 * Reads every node's chain straight from PostgreSQL and checks: no two nodes hold different
 * blocks at one height; every acknowledged transaction is in every peer's chain exactly once,
 * at the height and with the validation result the client was told; every peer recorded the
 * same transactions with the same codes at the same positions.
 */
export async function checkLedgers(options: {
  databaseUrl: string;
  schemas: ReadonlyMap<string, string>;
  peers: readonly string[];
  ops: readonly OpRecord[];
}): Promise<LedgerCheck> {
  const db = new pg.Client({ connectionString: options.databaseUrl });
  await db.connect();
  const blocks = new Map<string, Map<number, string>>();
  const txs = new Map<string, TxRow[]>();
  try {
    for (const [name, schema] of options.schemas) {
      const { rows } = await db.query<{ height: string; hash: string }>(
        `SELECT height::text AS height, encode(hash, 'hex') AS hash FROM "${schema}".blocks ORDER BY height`,
      );
      blocks.set(name, new Map(rows.map((r) => [Number(r.height), r.hash])));
      if (options.peers.includes(name)) {
        const t = await db.query<{ height: string; tx_index: number; tx_id: string; code: number }>(
          `SELECT height::text AS height, tx_index, encode(tx_id, 'hex') AS tx_id, validation_code AS code
           FROM "${schema}".transactions ORDER BY height, tx_index`,
        );
        txs.set(
          name,
          t.rows.map((r) => ({ height: Number(r.height), index: r.tx_index, txId: r.tx_id, code: r.code })),
        );
      }
    }
  } finally {
    await db.end();
  }

  const violations: Violation[] = [];
  const heights: Record<string, number> = {};
  for (const [name, chain] of blocks) heights[name] = Math.max(-1, ...chain.keys());

  // 1. One block per height across all nodes.
  let forks = 0;
  const top = Math.max(...Object.values(heights));
  for (let h = 0; h <= top; h++) {
    const byHash = new Map<string, string[]>();
    for (const [name, chain] of blocks) {
      const hash = chain.get(h);
      if (hash !== undefined) byHash.set(hash, [...(byHash.get(hash) ?? []), name]);
    }
    if (byHash.size > 1) {
      forks += 1;
      if (forks <= LISTED_MAX) {
        const sides = [...byHash].map(([hash, names]) => `${names.join(',')}: ${hash.slice(0, 16)}`);
        violations.push({ kind: 'fork', message: `height ${h}: ${sides.join(' | ')}` });
      }
    }
  }

  // 2. Acknowledged transactions: on every peer, once, where and as the client was told.
  const index = new Map<string, Map<string, TxRow[]>>();
  for (const [peer, rows] of txs) {
    const byId = new Map<string, TxRow[]>();
    for (const row of rows) byId.set(row.txId, [...(byId.get(row.txId) ?? []), row]);
    index.set(peer, byId);
  }
  let lost = 0;
  let wrong = 0;
  let duplicates = 0;
  for (const op of options.ops) {
    if (op.outcome !== 'ok') continue;
    let missing = false;
    for (const peer of options.peers) {
      const rows = index.get(peer)?.get(op.txId) ?? [];
      const final = rows.filter((r) => r.code !== ValidationCode.DUPLICATE_TXID);
      duplicates += rows.length - final.length;
      if (final.length === 0) {
        // A peer that has not reached the height yet is a convergence problem, reported as such.
        if ((heights[peer] ?? -1) >= (op.height ?? 0)) missing = true;
        continue;
      }
      const row = final[0];
      if (final.length > 1 || row === undefined || row.code !== op.code || row.height !== op.height) {
        wrong += 1;
        if (wrong <= LISTED_MAX) {
          violations.push({
            kind: 'wrong-result',
            node: peer,
            message: `tx ${op.txId} (op ${op.id} via ${op.gateway}) acknowledged ${op.validation ?? '?'} at height ${op.height ?? '?'}; ${peer} has ${final
              .map((r) => `${validationCodeName(r.code)} at ${r.height}/${r.index}`)
              .join(', ')}`,
          });
        }
      }
    }
    if (missing) {
      lost += 1;
      if (lost <= LISTED_MAX) {
        const where = options.peers.filter((p) => (index.get(p)?.get(op.txId) ?? []).length === 0);
        violations.push({
          kind: 'lost-tx',
          message: `tx ${op.txId} (op ${op.id}, key ${op.key} via ${op.gateway}, acknowledged ${op.validation ?? '?'} at height ${op.height ?? '?'}, t=${op.start}..${op.end} ms) missing on ${where.join(', ')}`,
        });
      }
    }
  }
  if (lost > LISTED_MAX)
    violations.push({ kind: 'lost-tx', message: `... ${lost - LISTED_MAX} more lost transactions` });
  if (wrong > LISTED_MAX)
    violations.push({ kind: 'wrong-result', message: `... ${wrong - LISTED_MAX} more wrong results` });

  // 3. Every peer validated the same transactions the same way.
  const [first, ...rest] = options.peers;
  const reference = first === undefined ? [] : (txs.get(first) ?? []);
  let divergent = 0;
  for (const peer of rest) {
    const rows = txs.get(peer) ?? [];
    const upTo = Math.min(heights[first ?? ''] ?? -1, heights[peer] ?? -1);
    const a = reference.filter((r) => r.height <= upTo);
    const b = rows.filter((r) => r.height <= upTo);
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const x = a[i];
      const y = b[i];
      if (x?.txId === y?.txId && x?.code === y?.code && x?.height === y?.height && x?.index === y?.index)
        continue;
      divergent += 1;
      if (divergent <= LISTED_MAX) {
        const show = (r: TxRow | undefined): string =>
          r === undefined
            ? 'nothing'
            : `${r.txId.slice(0, 16)} ${validationCodeName(r.code)} at ${r.height}/${r.index}`;
        violations.push({
          kind: 'divergent-validation',
          message: `transaction #${i}: ${first ?? '?'} has ${show(x)}, ${peer} has ${show(y)}`,
        });
      }
    }
  }

  // Calls that failed but whose transaction made it: allowed (the outcome was unknown), counted.
  const committed = index.get(first ?? '') ?? new Map<string, TxRow[]>();
  const failedButCommitted = options.ops.filter(
    (o) => o.outcome !== 'ok' && (committed.get(o.txId) ?? []).length > 0,
  ).length;

  return { violations, forks, lost, duplicates, failedButCommitted, heights };
}
