import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNetworkDir, type LoadedNetwork } from '../../node/config/index.js';
import { REJECT_REASONS, type ConsensusMetrics, type RejectReason } from '../../node/consensus/index.js';
import { loadSampleContract } from '../../node/contracts/index.js';
import type { ByzantineMode } from '../../node/orderer/byzantine.js';
import { ChainnodeClient } from '../../node/sdk/index.js';
import { dropSchema, testDatabaseUrl, uniqueSchema } from '../support/database.js';
import { ChainnodeProcess, randomLoopback, runChainnode } from '../support/processes.js';

// A Byzantine orderer among four real `chainnode node start` processes (f = 1), two orgs with a
// peer each, load through the peers' gateways. One network; the Byzantine orderer is always the
// leader of the current view when its mode starts (orderer0, the leader of view 0, equivocates
// from the first block), and a previous Byzantine orderer is restarted honest before another
// one turns, so at most one orderer lies at any time. For every mode: transactions keep
// committing, the honest nodes agree on every block, every acknowledged transaction is VALID on
// every peer, and the honest orderers' /status counts the misbehaviour.

const ORDERERS = ['orderer0', 'orderer1', 'orderer2', 'orderer3'];
const PEERS = ['peer0-org1', 'peer0-org2'];
/** Acknowledged (VALID) transactions each mode must let through, and how long it may take. */
const PROGRESS_TXS = 12;
const PROGRESS_MS = 60_000;
/** Blocks an honest orderer misses in withhold-blocks: more than its vote window (2 x window = 8), so it must fetch. */
const LAG_BLOCKS = 16;
const LOG_DIR = join(tmpdir(), 'chainnode-byzantine-logs');

let dir: string;
let network: LoadedNetwork;
let admin: { certPem: string; keyPem: string };
const schemas = new Map<string, string>();
const procs = new Map<string, ChainnodeProcess>();
const started: ChainnodeProcess[] = [];
const clients = new Map<string, ChainnodeClient>();
/** The orderer lying now, and how. */
let byzantine: { name: string; mode: ByzantineMode } | undefined;
const timings: string[] = [];

type LastViewChange = NonNullable<ConsensusMetrics['lastViewChange']> & { orderer: string };

interface Status {
  name: string;
  height: number;
  view: number | null;
  leaderName: string | null;
  connectedPeers: string[];
  consensus: ConsensusMetrics | null;
}

function start(name: string, mode?: ByzantineMode): ChainnodeProcess {
  let schema = schemas.get(name);
  if (schema === undefined) {
    schema = uniqueSchema(name.replaceAll('-', '_'));
    schemas.set(name, schema);
  }
  const env: Record<string, string> = { DATABASE_URL: testDatabaseUrl(), LOG_LEVEL: 'info' };
  if (mode !== undefined) {
    env.CHAINNODE_BYZANTINE = mode;
    env.CHAINNODE_TEST_ONLY_BYZANTINE = 'i-understand';
  }
  const proc = ChainnodeProcess.start(
    mode === undefined ? name : `${name}-${mode}`,
    ['node', 'start', '--config', join(dir, 'network.yaml'), '--name', name, '--schema', schema],
    env,
  );
  procs.set(name, proc);
  started.push(proc);
  return proc;
}

function client(name: string): ChainnodeClient {
  let c = clients.get(name);
  if (c === undefined) {
    const entry = [...network.config.orderers, ...network.config.peers].find((n) => n.name === name)!;
    c = ChainnodeClient.connect({
      url: `https://${entry.host}:${entry.apiPort}`,
      ...admin,
      caCerts: network.config.orgs.flatMap((o) => o.caCerts),
    });
    clients.set(name, c);
  }
  return c;
}

async function status(name: string): Promise<Status> {
  return (await client(name).status()) as unknown as Status;
}

/** Polls `condition` every 200 ms (errors count as "not yet": a node may be restarting). */
async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await condition()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`,
  );
}

/** (Re)starts `name`, honest or in `mode`, and waits until its API answers and it is linked to everyone. */
async function restart(name: string, mode?: ByzantineMode): Promise<void> {
  await procs.get(name)?.stop('SIGTERM');
  const proc = start(name, mode);
  await proc.waitFor((l) => l.msg === 'API listening', 60_000, `${name} API listening`);
  await until(async () => (await status(name)).connectedPeers.length === 5, 30_000, `${name} linked`);
  if (mode !== undefined) byzantine = { name, mode };
  else if (byzantine?.name === name) byzantine = undefined;
}

function honestOrderers(): string[] {
  return ORDERERS.filter((o) => o !== byzantine?.name);
}

function honestNodes(): string[] {
  return [...honestOrderers(), ...PEERS];
}

/**
 * The view the honest orderers work in and its leader: the view most of them are in with
 * status normal (a lagging one may sit alone in a view change to a higher view), else the highest.
 */
async function currentLeader(): Promise<{ view: number; leader: string }> {
  const statuses = await Promise.all(honestOrderers().map(status));
  const normal = statuses.filter((s) => s.consensus?.status === 'normal').map((s) => s.view ?? 0);
  const count = (v: number): number => normal.filter((n) => n === v).length;
  const view =
    normal.length === 0
      ? Math.max(...statuses.map((s) => s.view ?? 0))
      : [...normal].sort((a, b) => count(b) - count(a) || b - a)[0]!;
  return { view, leader: ORDERERS[view % ORDERERS.length]! };
}

/** Waits until every node in `names` has the same height as the highest of them. */
async function converge(names: readonly string[], timeoutMs = 60_000): Promise<number> {
  let top = 0;
  await until(
    async () => {
      const heights = await Promise.all(names.map(async (n) => (await status(n)).height));
      top = Math.max(...heights);
      return heights.every((h) => h === top);
    },
    timeoutMs,
    `${names.join(', ')} at one height`,
  );
  return top;
}

/** Every block hash of `name` from 1 to `top`, by height. */
async function hashes(name: string, top: number): Promise<string[]> {
  const out: string[] = [];
  for (let to = top; to >= 1; to -= 100) {
    const page = (await client(name).blocks({ to, limit: Math.min(100, to) })) as {
      height: number;
      hash: string;
    }[];
    for (const b of page) out[b.height] = b.hash;
  }
  return out.slice(1);
}

/**
 * Load through both gateways until `count` transactions were acknowledged VALID (and `also`
 * holds, if given), within PROGRESS_MS; returns their txIds.
 */
async function load(count: number, what: string, also?: () => Promise<boolean>): Promise<string[]> {
  const acknowledged: string[] = [];
  let running = true;
  let failures = 0;
  const worker = async (w: number): Promise<void> => {
    const gateway = PEERS[w % PEERS.length]!;
    for (let i = 0; running; i++) {
      try {
        const r = await client(gateway).submit(
          { contract: 'kv', fn: 'put', args: [`${what}-w${w}-${i}`, String(i)] },
          { timeoutMs: 30_000 },
        );
        if (r.validation === 'VALID') acknowledged.push(r.txId);
      } catch {
        failures += 1; // not acknowledged, so not counted; an acknowledged one must never be lost
      }
    }
  };
  const workers = Array.from({ length: 4 }, (_, w) => worker(w));
  try {
    await until(
      async () => acknowledged.length >= count && (also === undefined || (await also())),
      PROGRESS_MS,
      `${count} acknowledged under ${what}`,
    );
  } finally {
    running = false;
    await Promise.all(workers);
  }
  timings.push(`  ${what}: ${acknowledged.length} acknowledged, ${failures} failed submissions`);
  return acknowledged;
}

/** Sums of the honest orderers' consensus metrics. */
async function honestMetrics(): Promise<{
  rejected: Record<RejectReason, number>;
  viewChanges: number;
  lastViewChanges: LastViewChange[];
  views: number[];
}> {
  const statuses = await Promise.all(honestOrderers().map(status));
  const rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  for (const s of statuses) for (const r of REJECT_REASONS) rejected[r] += s.consensus!.rejected[r];
  return {
    rejected,
    viewChanges: statuses.reduce((sum, s) => sum + s.consensus!.viewChanges, 0),
    lastViewChanges: statuses.flatMap((s) =>
      s.consensus!.lastViewChange === null ? [] : [{ ...s.consensus!.lastViewChange, orderer: s.name }],
    ),
    views: statuses.map((s) => s.view ?? 0),
  };
}

/** Safety and validity after a mode: identical chains on every honest node, every acknowledged tx VALID on every peer. */
async function checkAgreement(acknowledged: readonly string[]): Promise<number> {
  const nodes = honestNodes();
  const top = await converge(nodes);
  const chains = await Promise.all(nodes.map((n) => hashes(n, top)));
  for (const [i, chain] of chains.entries()) {
    expect({ node: nodes[i], blocks: chain.length }).toEqual({ node: nodes[i], blocks: top });
    for (let h = 0; h < top; h++)
      if (chain[h] !== chains[0]![h])
        throw new Error(`fork at height ${h + 1}: ${nodes[0]} ${chains[0]![h]} vs ${nodes[i]} ${chain[h]}`);
  }
  for (const txId of acknowledged)
    for (const peer of PEERS)
      expect({
        peer,
        txId,
        validation: ((await client(peer).transaction(txId)) as { validation: string }).validation,
      }).toEqual({
        peer,
        txId,
        validation: 'VALID',
      });
  return top;
}

/** What a test failure leaves behind: every node's status and log, in LOG_DIR. */
async function keepEvidence(): Promise<void> {
  await mkdir(LOG_DIR, { recursive: true });
  const statuses = await Promise.all(
    [...procs.entries()]
      .filter(([, p]) => p.running)
      .map(([name]) =>
        Promise.race([
          status(name),
          new Promise((resolve) => setTimeout(resolve, 5_000, { name, error: 'no answer in 5 s' }).unref()),
        ]).catch((e: unknown) => ({ name, error: String(e) })),
      ),
  );
  await writeFile(join(LOG_DIR, 'statuses.json'), JSON.stringify(statuses, null, 2));
}

beforeAll(async () => {
  const t0 = Date.now();
  await rm(LOG_DIR, { recursive: true, force: true });
  dir = await mkdtemp(join(tmpdir(), 'chainnode-byzantine-'));
  const { host, basePort } = randomLoopback();
  const init = await runChainnode([
    'network',
    'init',
    '--orderers',
    '4',
    '--orgs',
    '2',
    '--peers-per-org',
    '1',
    '--host',
    host,
    '--base-port',
    String(basePort),
    '--out',
    dir,
  ]);
  if (init.code !== 0) throw new Error(init.stderr);
  network = await loadNetworkDir(dir);
  admin = {
    certPem: await readFile(join(dir, 'orgs/org1/users/admin/cert.pem'), 'utf8'),
    keyPem: await readFile(join(dir, 'orgs/org1/users/admin/key.pem'), 'utf8'),
  };
  expect(network.config.orderers.map((o) => o.name)).toEqual(ORDERERS);
  // orderer0 leads view 0 and equivocates from the very first block (the deployment).
  start('orderer0', 'equivocate');
  byzantine = { name: 'orderer0', mode: 'equivocate' };
  for (const name of [...ORDERERS.slice(1), ...PEERS]) start(name);
  await Promise.all(
    [...procs.values()].map((p) => p.waitFor((l) => l.msg === 'API listening', 90_000, 'API listening')),
  );
  await until(
    async () =>
      (await Promise.all([...ORDERERS, ...PEERS].map(status))).every((s) => s.connectedPeers.length === 5),
    30_000,
    'full mesh',
  );
  timings.push(`network up in ${Date.now() - t0} ms`);
}, 180_000);

afterAll(async () => {
  for (const c of clients.values()) c.close();
  await Promise.all([...procs.values()].map((p) => p.stop('SIGKILL')));
  await mkdir(LOG_DIR, { recursive: true });
  const runs = new Map<string, number>();
  for (const proc of started) {
    const run = (runs.get(proc.label) ?? 0) + 1;
    runs.set(proc.label, run);
    await writeFile(
      join(LOG_DIR, `${proc.label}.${run}.log`),
      [...proc.lines.map((l) => JSON.stringify(l)), ...proc.stderr].join('\n') + '\n',
    );
  }
  await Promise.all([...schemas.values()].map(dropSchema));
  await rm(dir, { recursive: true, force: true });
  process.stderr.write(`byzantine test:\n${timings.join('\n')}\n(logs in ${LOG_DIR})\n`);
});

interface ModeOutcome {
  /** Rejections by reason, summed over the honest orderers, during the mode. */
  rejected: Record<RejectReason, number>;
  viewChanges: number;
  lastViewChanges: LastViewChange[];
  /** The leader of the honest orderers' view when the mode started, and that view. */
  ledBy: string;
  viewBefore: number;
  viewsAfter: number[];
}

/**
 * Runs one mode: the Byzantine orderer must already be in it. `first` runs after the baseline
 * metrics are taken; `during` may add faults after a first round of load (and is followed by
 * another); `counted` checks the honest orderers' metrics.
 */
async function runMode(
  mode: ByzantineMode,
  counted: (outcome: ModeOutcome) => void,
  options: { first?: () => Promise<void>; during?: () => Promise<string[]> } = {},
): Promise<void> {
  const t0 = Date.now();
  try {
    expect(byzantine?.mode).toBe(mode);
    const proc = procs.get(byzantine!.name)!;
    expect(proc.count((l) => l.level === 50 && String(l.msg).startsWith(`BYZANTINE MODE ${mode}`))).toBe(1);
    const { view: viewBefore, leader } = await currentLeader();
    const before = await honestMetrics();
    await options.first?.();
    const acknowledged = await load(PROGRESS_TXS, mode);
    if (options.during !== undefined) {
      acknowledged.push(...(await options.during()));
      acknowledged.push(...(await load(PROGRESS_TXS, `${mode} (after)`)));
    }
    const top = await checkAgreement(acknowledged);
    const after = await honestMetrics();
    const rejected = Object.fromEntries(
      REJECT_REASONS.map((r) => [r, after.rejected[r] - before.rejected[r]]),
    ) as Record<RejectReason, number>;
    timings.push(
      `${mode} by ${byzantine!.name} (leader of view ${viewBefore}: ${leader}): ${Date.now() - t0} ms, height ${top}, ` +
        `honest rejected ${JSON.stringify(Object.fromEntries(Object.entries(rejected).filter(([, n]) => n > 0)))}, ` +
        `views ${JSON.stringify(after.views)}, last view changes ${JSON.stringify(after.lastViewChanges)}`,
    );
    counted({
      rejected,
      viewChanges: after.viewChanges - before.viewChanges,
      lastViewChanges: after.lastViewChanges,
      ledBy: leader,
      viewsAfter: after.views,
      viewBefore,
    });
  } catch (e) {
    await keepEvidence();
    throw e;
  }
}

/** Makes the leader of the current view Byzantine in `mode`, the previous Byzantine orderer honest again. */
async function turn(mode: ByzantineMode): Promise<void> {
  const t0 = Date.now();
  const previous = byzantine;
  let { leader } = await currentLeader();
  if (previous !== undefined && previous.name !== leader) {
    await restart(previous.name);
    // Honest again: it must have caught up and joined the view before another orderer lies.
    await until(
      async () => {
        const [mine, theirs] = await Promise.all([status(previous.name), currentLeader()]);
        const top = Math.max(
          ...(await Promise.all(honestOrderers().map(async (n) => (await status(n)).height))),
        );
        return mine.consensus?.status === 'normal' && mine.view === theirs.view && mine.height >= top;
      },
      60_000,
      `${previous.name} to rejoin honest`,
    );
    ({ leader } = await currentLeader());
  }
  await restart(leader, mode);
  timings.push(`  turned ${leader} ${mode} in ${Date.now() - t0} ms`);
}

describe('a Byzantine orderer (f = 1 of 4) cannot break safety or stop progress', () => {
  it('refuses to start with an unknown mode or without the explicit opt-in', async () => {
    const args = ['node', 'start', '--config', join(dir, 'network.yaml'), '--name', 'orderer3'];
    const [unknown, noOptIn] = await Promise.all([
      runChainnode(args, { CHAINNODE_BYZANTINE: 'evil', CHAINNODE_TEST_ONLY_BYZANTINE: 'i-understand' }),
      runChainnode(args, { CHAINNODE_BYZANTINE: 'silent' }),
    ]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/"evil" is not a Byzantine mode/);
    expect(noOptIn.code).not.toBe(0);
    expect(noOptIn.stderr).toMatch(/refusing to start without CHAINNODE_TEST_ONLY_BYZANTINE=i-understand/);
  }, 60_000);

  it('equivocate: the leader of view 0 sends two blocks for one height', async () => {
    await runMode(
      'equivocate',
      (d) => {
        expect(d.ledBy).toBe('orderer0');
        expect(d.viewBefore).toBe(0);
        // Someone was shown both blocks and says so; the equivocating leader lost its view.
        expect(d.rejected.equivocation).toBeGreaterThan(0);
        expect(Math.min(...d.viewsAfter)).toBeGreaterThan(0);
        expect(d.lastViewChanges.length).toBeGreaterThan(0);
      },
      {
        // The contract deployment is the first block it equivocates on.
        first: async () => {
          const deployed = await client('peer0-org1').deploy('kv', loadSampleContract('kv').source);
          expect(deployed.validation).toBe('VALID');
        },
      },
    );
  }, 180_000);

  it('conflicting-votes: PREPAREs and COMMITs for a block nobody proposed', async () => {
    await turn('conflicting-votes');
    await runMode('conflicting-votes', (d) => {
      expect(d.rejected.equivocation).toBeGreaterThan(0);
    });
  }, 180_000);

  it('replay: old messages of earlier heights and views, again and again', async () => {
    await turn('replay');
    await runMode('replay', (d) => {
      expect(d.rejected['stale-height']).toBeGreaterThan(0);
    });
  }, 180_000);

  it('withhold-blocks: serves no block to anyone, even to an honest orderer catching up', async () => {
    await turn('withhold-blocks');
    const lagging = honestOrderers()[0]!;
    await runMode(
      'withhold-blocks',
      () => {
        // Nothing to count in consensus (its votes are honest): that the restarted orderer
        // caught up although the Byzantine one serves nothing is the check (checkAgreement).
      },
      {
        during: async () => {
          // An honest orderer misses blocks (more than its vote window) and has to fetch them.
          await procs.get(lagging)!.stop('SIGTERM');
          const from = (await status('peer0-org1')).height;
          const acknowledged = await load(
            PROGRESS_TXS,
            `withhold-blocks (${lagging} down)`,
            async () => (await status('peer0-org1')).height >= from + LAG_BLOCKS,
          );
          await restart(lagging);
          return acknowledged;
        },
      },
    );
    const refusals = procs.get(byzantine!.name)!.count((l) => l.msg === 'BYZANTINE: withholding blocks');
    const switches = PEERS.map((p) =>
      procs.get(p)!.count((l) => l.msg === 'switching block source' && l.failed === byzantine!.name),
    );
    timings.push(
      `  withhold-blocks: refusals logged ${refusals}, peers switching away ${JSON.stringify(switches)}`,
    );
  }, 240_000);

  it('silent: sends no consensus message at all', async () => {
    await turn('silent');
    await runMode('silent', (d) => {
      // It led the view: the honest orderers timed out on it and moved on.
      expect(Math.min(...d.viewsAfter)).toBeGreaterThan(d.viewBefore);
      expect(d.lastViewChanges.map((v) => v.reason)).toEqual(
        expect.arrayContaining([expect.stringMatching(/^(progress|request)-timeout$/)]),
      );
    });
  }, 180_000);

  it('bad-signatures: every message it sends fails verification', async () => {
    await turn('bad-signatures');
    await runMode('bad-signatures', (d) => {
      expect(d.rejected['bad-signature']).toBeGreaterThan(0);
      // Its proposals never verify: it led the view, and lost it.
      expect(Math.min(...d.viewsAfter)).toBeGreaterThan(d.viewBefore);
    });
  }, 180_000);
});
