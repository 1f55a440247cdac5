import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmod, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLatestConfig, loadNetworkDir, nodeDir } from '../../node/config/index.js';
import { pollUntil } from '../../node/local/wait.js';
import {
  formatPolicy,
  votingOrderers,
  type NetworkConfig,
  type NodeEntry,
} from '../../node/protocol/index.js';
import { ChainnodeClient } from '../../node/sdk/index.js';
import { fingerprintOf, presentedFingerprint } from '../cli/tls-probe.js';
import { randomLoopback, runChainnode, type CommandResult } from '../support/processes.js';

// Live reconfiguration of a local network started by `chainnode up`, driven through the CLI as an
// operator would, under a steady load whose acknowledged transactions are recorded: 4 -> 7 -> 4
// orderers (the genesis leader among those removed), a third organisation with a peer that the
// endorsement policy then requires, every node certificate renewed. At the end nothing
// acknowledged is missing anywhere and every live node has the same chain.

let dir: string | undefined;
/** Where the nodes' logs are kept after the run, for a post-mortem. */
const LOG_DIR = join(tmpdir(), 'chainnode-reconfig-logs');
const STEP_TIMEOUT_MS = 240_000;

function chainnode(...args: string[]): Promise<CommandResult> {
  // DATABASE_URL cleared: `up` runs its own embedded PostgreSQL in the network directory.
  return runChainnode(['--dir', networkDir(), ...args], { DATABASE_URL: '' });
}

/** Every command run and what it printed, kept with the logs (progress lines carry timings). */
const transcript: string[] = [];

async function ok(...args: string[]): Promise<string> {
  const started = new Date().toISOString();
  const result = await chainnode(...args);
  transcript.push(
    `${started} $ chainnode ${args.join(' ')} (exit ${result.code})\n${result.stdout}${result.stderr}`,
  );
  if (result.code !== 0) {
    throw new Error(
      `chainnode ${args.join(' ')} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
    );
  }
  return result.stdout + result.stderr;
}

function networkDir(): string {
  if (dir === undefined) throw new Error('no network directory yet');
  return dir;
}

async function latestConfig(): Promise<NetworkConfig> {
  const network = await loadNetworkDir(networkDir());
  return loadLatestConfig(networkDir(), network.config);
}

async function userIdentity(org: string, role: string): Promise<{ certPem: string; keyPem: string }> {
  const path = join(networkDir(), 'orgs', org, 'users', role);
  return {
    certPem: await readFile(join(path, 'cert.pem'), 'utf8'),
    keyPem: await readFile(join(path, 'key.pem'), 'utf8'),
  };
}

async function clientOf(entry: NodeEntry, org = 'org1', role = 'admin'): Promise<ChainnodeClient> {
  const config = await latestConfig();
  return ChainnodeClient.connect({
    url: `https://${entry.host}:${entry.apiPort}`,
    ...(await userIdentity(org, role)),
    caCerts: config.orgs.flatMap((o) => o.caCerts),
  });
}

// --- the steady load ---------------------------------------------------------------------------

interface Ack {
  readonly txId: string;
  readonly at: number;
}
const acks: Ack[] = [];
let failures = 0;
let running = false;
let workers: Promise<void>[] = [];
/** The load's clients, closed once the workers have stopped. */
const loadClients: ChainnodeClient[] = [];

async function worker(id: number, client: ChainnodeClient): Promise<void> {
  for (let i = 0; running; i++) {
    try {
      const outcome = await client.submit(
        { contract: 'kv', fn: 'put', args: [`w${id}-${i}`, String(i)] },
        { timeoutMs: 30_000 },
      );
      if (outcome.validation === 'VALID') acks.push({ txId: outcome.txId, at: Date.now() });
      else failures += 1;
    } catch {
      // Refused or timed out while the network changes shape: not acknowledged, not counted.
      failures += 1;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Waits (bounded) for `count` acknowledgements after `since`; returns the rate they came at. */
async function acksAfter(since: number, count: number, what: string): Promise<number> {
  await pollUntil(`${count} ${what}`, 120_000, () =>
    Promise.resolve(acks.filter((a) => a.at > since).length >= count ? true : undefined),
  );
  const recent = acks.filter((a) => a.at > since).slice(0, count);
  const last = recent.at(-1)?.at ?? Date.now();
  return (count / Math.max(1, last - since)) * 1000;
}

interface StepReport {
  step: string;
  seconds: number;
  ackedDuring: number;
  tpsDuring: number;
  tpsAfter: number;
}
const reports: StepReport[] = [];

/** Runs one reconfiguration step and measures the load during and after it (printed, not asserted). */
async function step(label: string, action: () => Promise<unknown>): Promise<void> {
  const start = Date.now();
  await action();
  const end = Date.now();
  const during = acks.filter((a) => a.at >= start && a.at <= end).length;
  // Liveness, not speed: the load must go on after the step.
  const tpsAfter = await acksAfter(end, 30, `acknowledged transactions after "${label}"`);
  reports.push({
    step: label,
    seconds: Number(((end - start) / 1000).toFixed(1)),
    ackedDuring: during,
    tpsDuring: Number(((during / Math.max(1, end - start)) * 1000).toFixed(1)),
    tpsAfter: Number(tpsAfter.toFixed(1)),
  });
}

// --- set-up and tear-down ----------------------------------------------------------------------

let genesisCerts: Map<string, string>;
let failed = true;

beforeAll(async () => {
  await rm(LOG_DIR, { recursive: true, force: true });
  dir = await mkdtemp(join(tmpdir(), 'chainnode-reconfig-'));
  // The embedded PostgreSQL runs as user 'postgres' when tests run as root: it must traverse dir.
  await chmod(dir, 0o755);
  const { host, basePort } = randomLoopback();
  await ok(
    'network',
    'init',
    '--orderers',
    '4',
    '--orgs',
    '2',
    '--host',
    host,
    '--base-port',
    String(basePort),
  );
  await ok('up', '--detach', '--json');
  const config = await latestConfig();
  genesisCerts = new Map([...config.orderers, ...config.peers].map((n) => [n.name as string, n.cert]));
  running = true;
  const gateways = config.peers;
  workers = Array.from({ length: 4 }, (_, i) => i).map(async (i) => {
    const gateway = gateways[i % gateways.length]!;
    const client = await clientOf(gateway, gateway.org, 'client');
    loadClients.push(client);
    return worker(i, client);
  });
}, 180_000);

function printReports(): void {
  process.stdout.write(
    `reconfiguration under load: ${acks.length} acknowledged, ${failures} refused or timed out\n` +
      `${reports.map((r) => `  ${r.step.padEnd(32)} ${String(r.seconds).padStart(6)} s  during ${String(r.tpsDuring).padStart(6)} tx/s (${r.ackedDuring})  after ${String(r.tpsAfter).padStart(6)} tx/s`).join('\n')}\n`,
  );
}

afterAll(async () => {
  running = false;
  await Promise.all(workers);
  for (const client of loadClients) client.close();
  printReports();
  if (dir !== undefined) {
    // Every node's log is kept for a post-mortem (as test/cluster/faults.test.ts does).
    await cp(join(dir, 'logs'), LOG_DIR, { recursive: true }).catch(() => undefined);
    await writeFile(join(LOG_DIR, 'cli.log'), transcript.join('\n')).catch(() => undefined);
    if (failed) process.stderr.write(`reconfig test failed: node logs kept in ${LOG_DIR}\n`);
  }
  if (dir !== undefined) {
    await chainnode('down');
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);

describe('live reconfiguration of a local network under load', () => {
  it('has a baseline', async () => {
    const start = Date.now();
    const tps = await acksAfter(start, 50, 'baseline acknowledgements');
    reports.push({
      step: 'baseline',
      seconds: 0,
      ackedDuring: 0,
      tpsDuring: 0,
      tpsAfter: Number(tps.toFixed(1)),
    });
  }, 120_000);

  it(
    'grows from 4 to 7 voting orderers, each joining as a learner and promoted once caught up',
    async () => {
      for (let i = 0; i < 3; i++) {
        await step(`add orderer (${5 + i} voting)`, async () => {
          const out = await ok('node', 'add', '--role', 'orderer', '--org', i % 2 === 0 ? 'org1' : 'org2');
          expect(out).toMatch(/catching up: height \d+\/\d+/);
          expect(out).toMatch(/votes: \d+ voting orderers/);
        });
      }
      const config = await latestConfig();
      expect(votingOrderers(config.orderers).map((o) => o.name)).toEqual([
        'orderer0',
        'orderer1',
        'orderer2',
        'orderer3',
        'orderer4',
        'orderer5',
        'orderer6',
      ]);
      const show = await chainnode('config', 'show', '--json');
      expect(JSON.parse(show.stdout).sequence).toBe(config.sequence);
    },
    STEP_TIMEOUT_MS * 2,
  );

  it('refuses to remove an unknown node, and to show the configuration to a client', async () => {
    const unknown = await chainnode('node', 'remove', 'orderer99');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no node named "orderer99"');
    const asClient = await chainnode('--identity', 'org1/client', 'config', 'show');
    expect(asClient.stderr).toContain('it takes an admin identity (--identity <org>/admin)');
  });

  it(
    'shrinks back to 4, removing the genesis leader too',
    async () => {
      for (const name of ['orderer4', 'orderer5', 'orderer0']) {
        await step(`remove ${name}`, () => ok('node', 'remove', name));
      }
      const config = await latestConfig();
      expect(votingOrderers(config.orderers).map((o) => o.name)).toEqual([
        'orderer1',
        'orderer2',
        'orderer3',
        'orderer6',
      ]);
    },
    STEP_TIMEOUT_MS * 2,
  );

  it(
    'adds a third organisation with a peer and requires its endorsement',
    async () => {
      await step('org add org3', () => ok('org', 'add', 'org3', '--peers', '1'));
      const proposal = join(networkDir(), 'endorsement.json');
      await step('endorsement policy with org3', async () => {
        await ok(
          'config',
          'propose',
          '--policy',
          "endorsement=AND('org1', 'org2', 'org3')",
          '--out',
          proposal,
        );
        await ok('--identity', 'org2/admin', 'config', 'sign', proposal, '--yes');
        const submitted = await ok('config', 'submit', proposal);
        expect(submitted).toContain('committed (VALID)');
      });
      const config = await latestConfig();
      expect(formatPolicy(config.policies.endorsement)).toBe("AND('org1', 'org2', 'org3')");
      const peer3 = config.peers.find((p) => p.org === 'org3')!;
      // A transaction by org3's client, through org3's peer: endorsed by org3, VALID.
      const client3 = await clientOf(peer3, 'org3', 'client');
      const outcome = await client3.submit({ contract: 'kv', fn: 'put', args: ['org3-key', 'hello'] });
      expect(outcome.validation).toBe('VALID');
      acks.push({ txId: outcome.txId, at: Date.now() });
      const tx = (await client3.transaction(outcome.txId)) as {
        envelope: { payload: { endorsements: { endorser: { org: string } }[] } };
      };
      expect(tx.envelope.payload.endorsements.map((e) => e.endorser.org).sort()).toEqual([
        'org1',
        'org2',
        'org3',
      ]);
      client3.close();
    },
    STEP_TIMEOUT_MS * 2,
  );

  it(
    'renews every node certificate, one node at a time',
    async () => {
      const before = await latestConfig();
      await step('rotate all certificates', () => ok('node', 'rotate', '--all'));
      const after = await latestConfig();
      for (const node of [...after.orderers, ...after.peers]) {
        const was = [...before.orderers, ...before.peers].find((n) => n.name === node.name)!;
        expect(node.cert).not.toBe(was.cert);
        expect(
          await readFile(
            join(
              networkDir(),
              'orgs',
              node.org,
              node.name.startsWith('orderer') ? 'orderers' : 'peers',
              node.name,
              'cert.pem',
            ),
            'utf8',
          ),
        ).toBe(node.cert);
      }
      expect([...after.orderers, ...after.peers].every((n) => genesisCerts.get(n.name) !== n.cert)).toBe(
        true,
      );
      // Each running node presents its renewed certificate on its node port and its API port
      // (adopted live, when it applies the replace-cert block): real TLS handshakes, fingerprints
      // compared.
      const probe = await userIdentity('org1', 'admin');
      for (const node of [...after.orderers, ...after.peers]) {
        const expected = fingerprintOf(node.cert);
        for (const port of [node.port, node.apiPort]) {
          const presented = await pollUntil(
            `${node.name} to present its renewed certificate on port ${port}`,
            30_000,
            async () => {
              const fingerprint = await presentedFingerprint(node.host, port, probe);
              return fingerprint === expected ? fingerprint : undefined;
            },
          );
          expect({ node: node.name, port, presented }).toEqual({
            node: node.name,
            port,
            presented: expected,
          });
        }
      }
    },
    STEP_TIMEOUT_MS * 2,
  );

  it(
    'rotates the keys of an orderer and a peer: each restarts with its new key and catches up',
    async () => {
      const before = await latestConfig();
      const targets = [votingOrderers(before.orderers)[0]!.name as string, before.peers[0]!.name as string];
      const keyOf = (name: string) => {
        const node = [...before.orderers, ...before.peers].find((n) => n.name === name)!;
        const kind = before.orderers.some((o) => o.name === name) ? 'orderers' : 'peers';
        return readFile(join(networkDir(), 'orgs', node.org, kind, name, 'key.pem'), 'utf8');
      };
      const oldKeys = await Promise.all(targets.map(keyOf));
      await step('rotate two keys', () => ok('node', 'rotate', '--new-key', ...targets));
      const newKeys = await Promise.all(targets.map(keyOf));
      for (const [i, name] of targets.entries()) {
        expect({ name, changed: newKeys[i] !== oldKeys[i] }).toEqual({ name, changed: true });
      }
      // They answer and take part again: the peer endorses, the orderer orders (below, the
      // final checks cover every node's chain).
      const after = await latestConfig();
      const probe = await userIdentity('org1', 'admin');
      for (const name of targets) {
        const entry = [...after.orderers, ...after.peers].find((n) => n.name === name)!;
        const client = await clientOf(entry);
        try {
          const status = (await client.status()) as { height: number };
          expect(status.height).toBeGreaterThan(0);
        } finally {
          client.close();
        }
        // Restarted with the new key: it presents the certificate on disk, which the config names.
        const kind = after.orderers.some((o) => o.name === name) ? 'orderer' : 'peer';
        const onDisk = await readFile(join(nodeDir(networkDir(), entry, kind), 'cert.pem'), 'utf8');
        expect(onDisk).toBe(entry.cert);
        expect(await presentedFingerprint(entry.host, entry.port, probe)).toBe(fingerprintOf(onDisk));
      }
    },
    STEP_TIMEOUT_MS,
  );

  it('lost no acknowledged transaction and every live node has the same chain', async () => {
    running = false;
    await Promise.all(workers);
    const config = await latestConfig();
    const live = [...config.orderers, ...config.peers];
    const clients = new Map(
      await Promise.all(live.map(async (n) => [n.name as string, await clientOf(n)] as const)),
    );
    const heads = async () =>
      Promise.all(
        live.map(async (n) => (await clients.get(n.name)!.status()) as { height: number; headHash: string }),
      );
    // A node busy for a moment answers late: retried (the last error kept), not fatal.
    await pollUntil('every live node to reach the same head', 60_000, async () =>
      new Set((await heads()).map((h) => `${h.height}:${h.headHash}`)).size === 1 ? true : undefined,
    );
    const [head] = await heads();
    try {
      for (const peer of config.peers) {
        const client = clients.get(peer.name)!;
        const valid = new Set<string>();
        for (let h = 0; h <= head!.height; h++) {
          const block = (await client.block(h)) as { transactions: { txId: string; validation: string }[] };
          for (const t of block.transactions) if (t.validation === 'VALID') valid.add(t.txId);
        }
        const missing = acks.filter((a) => !valid.has(a.txId));
        expect({ peer: peer.name, missing: missing.length }).toEqual({ peer: peer.name, missing: 0 });
      }
    } finally {
      for (const c of clients.values()) c.close();
    }
    process.stdout.write(
      `final height ${head!.height}, ${acks.length} acknowledged transactions on every peer\n`,
    );
    failed = false;
  }, 180_000);

  it("verify rechecks every live node's chain, across the configuration changes", async () => {
    const verify = await chainnode('verify', '--json');
    const reports = JSON.parse(verify.stdout) as {
      schema: string;
      ok: boolean;
      blocks: number;
      problem?: string;
    }[];
    expect(reports.filter((r) => !r.ok)).toEqual([]);
    expect(verify.code).toBe(0);
    expect(reports).toHaveLength(4 + 3);
  }, 120_000);
});
