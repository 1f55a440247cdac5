/* eslint-disable @typescript-eslint/no-unsafe-argument -- API objects are untyped JSON, read as such */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { parseNetworkFile } from '../../node/config/index.js';
import { loadSampleContract } from '../../node/contracts/index.js';
import { nodeSchema } from '../../node/ledger/index.js';
import {
  canonicalString,
  decodeEnvelope,
  quorumSize,
  ValidationCode,
  votingOrderers,
  type Envelope,
  type NetworkConfig,
} from '../../node/protocol/index.js';
import { ChainnodeClient } from '../../node/sdk/index.js';
import { Controller } from '../../operator/controller.js';
import { KubeClient, R } from '../../operator/kube.js';
import { httpsLedgerAdmin, type LedgerAccess, type LedgerAdmin } from '../../operator/ledger-admin.js';
import { OperatorMetrics } from '../../operator/metrics.js';
import { Reconciler } from '../../operator/reconciler.js';
import { CATCH_UP_MARGIN_BLOCKS } from '../../operator/reconfigure.js';
import { testDatabaseUrl } from '../support/database.js';
import { randomLoopback } from '../support/processes.js';
import { BINARIES_BUILD_TIMEOUT_MS, ControlPlane } from './support/control-plane.js';
import { ReplicaWatch } from './support/replica-watch.js';
import { TestKubelet } from './support/kubelet.js';

/*
 * Orderer scaling 4 -> 7 -> 4 through config transactions, against a REAL control plane
 * (kube-apiserver, controller-manager making the StatefulSets' pods, scheduler, kwok's nodes)
 * and a REAL chainnode network: the test is the kubelet (support/kubelet.ts). Each pod the
 * StatefulSets have is run as a `chainnode node start` process exactly as its container says
 * (args, env with DATABASE_URL from the external-storage Secret, the projected volume's
 * network.yaml, config-updates/ and identity from the operator's Secret and ConfigMaps), on the
 * loopback address the network is rendered for, with its own schema in a database of the test
 * PostgreSQL; the pod is Ready once the node's /readyz answers. Pods the StatefulSets drop or
 * replace (rolling updates) are stopped. The operator's production LedgerAdmin (mutual-TLS
 * HTTPS with the organisations' admin identities) talks to these nodes.
 *
 * What is checked:
 * - the order: a watch on the API server records StatefulSet replica changes, and a recording
 *   wrapper around the production LedgerAdmin records each config update the network answered
 *   VALID (before the operator can act on it), on one shared counter; at each commit the
 *   StatefulSets and the real nodes are checked (an added node has no pod yet, a removed node
 *   still runs, a promoted learner runs, reports itself a learner and has caught up);
 * - the kubelet starts a node only if it is a member of the configuration in force on the
 *   network, and a node stopped for good is no longer a member;
 * - the chains: the config transactions on the nodes' chains are the recorded ones, in order,
 *   and the ones the operator published; under a steady kv load no acknowledged transaction
 *   is lost; every remaining node holds the identical chain.
 *
 * Refused updates, lost answers and certificate renewals (which need the operator's clock moved
 * a year ahead) run against a ledger test double: scaling-failures.test.ts.
 */

const NS = 'scaling';
const NAME = 'grow';
const LABEL = `ledger.chainnode.dev/network=${NAME}`;
const WAIT_MS = 120_000;
/**
 * Bound on one scale (4 -> 7 or 7 -> 4): every step waits for the roll of the group it resized
 * (each of its pods restarted one at a time, a node process start each), which on a loaded
 * 2-core machine took over 120 s. A bound, never a timing assertion.
 */
const SCALE_WAIT_MS = 360_000;

let cp: ControlPlane;
let client: KubeClient;
let controller: Controller | undefined;
let replicaWatch: ReplicaWatch | undefined;
let kubelet: TestKubelet | undefined;
let database: string | undefined;
let work: string | undefined;
const abort = new AbortController();
let counter = 0;
const timeline: { seq: number; kind: 'config' | 'sts'; what: string }[] = [];
const violations: string[] = [];
/** Learner -> the heights it reported (as a learner) when its promotion was submitted. */
const learnerSeen = new Map<string, { height: number; network: number }>();

const record = (kind: 'config' | 'sts', what: string): void => {
  timeline.push({ seq: ++counter, kind, what });
};

/** The configuration in force as far as the test knows (genesis, then each committed update). */
let inForce: NetworkConfig | undefined;
/** Whether `checkQuorum` runs (from Ready at 4 until the end of the scaling, not at teardown). */
let checkingQuorum = false;
/** How many times `checkQuorum` looked (so its silence is not mistaken for a pass). */
let quorumChecks = 0;

/**
 * The quorum, checked at each event that could cost it: a pod no longer ready, a config commit, a
 * replica change. The voting orderers of the configuration in force whose pods the kubelet runs
 * ready must make its quorum.
 */
function checkQuorum(when: string): void {
  if (!checkingQuorum || inForce === undefined || kubelet === undefined) return;
  quorumChecks += 1;
  const voters = votingOrderers(inForce.orderers).map((o) => o.name as string);
  const ready = new Set(kubelet.readyPods());
  const down = voters.filter((v) => !ready.has(v));
  const quorum = quorumSize(voters.length);
  if (voters.length - down.length < quorum)
    violations.push(
      `${when}: ${voters.length - down.length} of ${voters.length} voting orderers ready (not: ${down.join(', ')}); the quorum is ${quorum}`,
    );
}

interface Sts {
  metadata: { name: string };
  spec: { replicas: number };
}

async function replicasOf(org: string): Promise<number> {
  const sts = await client.getOrUndefined<Sts>(R.statefulSets, NS, `${NAME}-${org}-orderer`);
  return sts?.spec.replicas ?? 0;
}

/** pod name -> (org, ordinal) */
function podOf(name: string): { org: string; ordinal: number; role: string } {
  const m = /^grow-(org\d)-(orderer|peer)-(\d+)$/.exec(name);
  if (m === null) throw new Error(`not a pod name: ${name}`);
  return { org: m[1] as string, role: m[2] as string, ordinal: Number(m[3]) };
}

function describeUpdate(before: NetworkConfig, after: NetworkConfig): string {
  const was = new Map(before.orderers.map((o) => [o.name as string, o]));
  const now = new Map(after.orderers.map((o) => [o.name as string, o]));
  for (const [n, o] of now) {
    const old = was.get(n);
    if (old === undefined) return `add ${n}`;
    if (old.learner === true && o.learner !== true) return `promote ${n}`;
  }
  for (const n of was.keys()) if (!now.has(n)) return `remove ${n}`;
  return 'other';
}

/**
 * The production LedgerAdmin, observed: every call goes to the real nodes over mutual TLS; a
 * config update is recorded, and the pods and nodes checked, when the network answered VALID
 * and before the operator can act on the answer.
 */
function recordingLedgerAdmin(access: LedgerAccess): LedgerAdmin {
  const real = httpsLedgerAdmin(access);
  return {
    currentConfig: () => real.currentConfig(),
    nodeStatus: (name) => real.nodeStatus(name),
    async submitConfig(envelope) {
      if (envelope.payload.type !== 'config') throw new Error('not a config transaction');
      const before = await real.currentConfig();
      const what = describeUpdate(before, envelope.payload.config);
      const [op, node] = what.split(' ') as [string, string];
      if (op === 'promote') {
        // The learner runs, follows the chain as a learner and has caught up (its real /status)
        // with the voting orderers; at least a quorum of them must answer for that to be known
        // (an unanswered one is left out, never counted as height 0).
        const status = await nodeStatusOf(access, node);
        const voters = votingOrderers(before.orderers);
        const answers = await Promise.allSettled(voters.map((o) => real.nodeStatus(o.name)));
        const heights = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value.height] : []));
        if (heights.length < quorumSize(voters.length))
          violations.push(
            `${node}'s catch-up cannot be checked: ${heights.length} of ${voters.length} voting orderers answered /status (${answers
              .flatMap((a) => (a.status === 'rejected' ? [(a.reason as Error).message] : []))
              .join('; ')})`,
          );
        const network = Math.max(0, ...heights);
        learnerSeen.set(node, { height: status.height, network });
        if (!kubelet?.readyPods().includes(node)) violations.push(`${node} promoted while not running`);
        if (status.membership !== 'learner')
          violations.push(`${node} promoted while reporting membership ${String(status.membership)}`);
        if (status.height + CATCH_UP_MARGIN_BLOCKS < network)
          violations.push(`${node} promoted at height ${status.height} of ${network}`);
      }
      const outcome = await real.submitConfig(envelope);
      if (outcome.validation !== 'VALID') {
        violations.push(`${what} answered ${outcome.validation}: ${outcome.message ?? ''}`);
        return outcome;
      }
      if (op === 'add') {
        const { org, ordinal } = podOf(node);
        if (ordinal < (await replicasOf(org))) violations.push(`${node} had a pod before it was added`);
        if (kubelet?.containers.has(node) === true) violations.push(`${node} ran before it was added`);
        if (envelope.payload.config.orderers.find((o) => o.name === node)?.learner !== true)
          violations.push(`${node} joined as a voter`);
      } else if (op === 'remove') {
        const { org, ordinal } = podOf(node);
        if (ordinal >= (await replicasOf(org)))
          violations.push(`${node}'s pod was gone before its removal committed`);
        if (kubelet?.containers.has(node) !== true)
          violations.push(`${node} had stopped before its removal committed`);
      }
      inForce = envelope.payload.config;
      record('config', what);
      checkQuorum(`config commit: ${what}`);
      return outcome;
    },
  };
}

/** Material to reach the nodes as an organisation's admin or client, from the operator's Secrets. */
interface Access {
  genesis: NetworkConfig;
  caPems: string[];
  admins: Map<string, { certPem: string; keyPem: string }>;
  clients: Map<string, { certPem: string; keyPem: string }>;
}
let access: Access;
let haveAccess = false;

async function identityFromSecret(name: string): Promise<{ certPem: string; keyPem: string }> {
  const s = await client.get<any>(R.secrets, NS, name);
  const decode = (k: string) => Buffer.from(s.data[k], 'base64').toString();
  return { certPem: decode('cert.pem'), keyPem: decode('key.pem') };
}

function ledgerAccess(): LedgerAccess {
  return { known: access.genesis, caPems: access.caPems, admins: access.admins };
}

/** A node's /status as its organisation's admin (the production client, asking one node). */
async function nodeStatusOf(
  a: LedgerAccess,
  name: string,
): Promise<{ height: number; membership?: string | null; configSequence?: number }> {
  const config = await httpsLedgerAdmin(a).currentConfig();
  const entry = [...config.orderers, ...config.peers].find((n) => n.name === name);
  if (entry === undefined) throw new Error(`${name} is not in the configuration in force`);
  const admin = access.admins.get(entry.org) as { certPem: string; keyPem: string };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: entry.host,
        port: entry.apiPort,
        path: '/status',
        ca: access.caPems,
        cert: admin.certPem,
        key: admin.keyPem,
        timeout: 3_000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`/status of ${name}: HTTP ${String(res.statusCode)}`));
          else resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { height: number });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`/status of ${name}: no answer`)));
    req.on('error', reject);
    req.end();
  });
}

async function networkStatus(): Promise<any> {
  return (await client.get<any>(R.ledgerNetworks, NS, NAME)).status ?? {};
}

async function until<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  timeoutMs = WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${timeoutMs} ms; last ${JSON.stringify(v).slice(0, 1500)}\nkubelet: ${kubelet?.events.slice(-30).join('; ') ?? ''}\nload: ${load?.acknowledged.length ?? 0} acknowledged, last failures: ${load?.failures.slice(-3).join(' | ') ?? ''}\nviolations: ${violations.join('; ')}; crashes: ${kubelet?.crashes.join('; ') ?? ''}`,
      );
    await new Promise((r) => setTimeout(r, 250)); // polling the API server, bounded by the deadline
  }
}

async function patchCount(count: number): Promise<void> {
  await client.mergePatch(R.ledgerNetworks, NS, NAME, { spec: { orderers: { count } } });
}

/** A steady client: one kv write after another through the two peers, keeping each acknowledged txId. */
class Load {
  readonly acknowledged: string[] = [];
  readonly failures: string[] = [];
  private running = true;
  private done: Promise<void> = Promise.resolve();

  constructor(private readonly clients: ChainnodeClient[]) {}

  start(): void {
    this.done = (async () => {
      for (let i = 0; this.running; i++) {
        try {
          const c = this.clients[i % this.clients.length] as ChainnodeClient;
          const r = await c.submit({ contract: 'kv', fn: 'put', args: [`load-${i}`, String(i)] });
          if (r.code === ValidationCode.VALID) this.acknowledged.push(r.txId);
          else this.failures.push(`${r.txId}: ${r.validation}`);
        } catch (e) {
          // A timeout or refusal is the client's to retry, not a loss: only acknowledged
          // transactions must survive.
          this.failures.push((e as Error).message.slice(0, 200));
        }
        await new Promise((r) => setTimeout(r, 100)); // pacing: a light load, not synchronisation
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    for (const c of this.clients) c.close();
  }
}
let load: Load | undefined;

function schemaUrl(): string {
  const url = new URL(testDatabaseUrl());
  url.pathname = `/${database ?? ''}`;
  return url.toString();
}

/** A node's chain as stored in its schema: (height, hash) and its transactions. */
async function chainOf(db: pg.Pool, node: string) {
  const s = `"${nodeSchema(node)}"`;
  const blocks = await db.query<{ height: string; hash: string }>(
    `SELECT height, encode(hash, 'hex') AS hash FROM ${s}.blocks ORDER BY height`,
  );
  const txs = await db.query<{ height: string; tx_id: string; code: number; envelope: Buffer }>(
    `SELECT height, encode(tx_id, 'hex') AS tx_id, validation_code AS code, envelope FROM ${s}.transactions ORDER BY height, tx_index`,
  );
  return { blocks: blocks.rows.map((r) => `${r.height}:${r.hash}`), txs: txs.rows };
}

beforeAll(async () => {
  cp = await ControlPlane.start({ nodes: 3, podReadiness: 'test' });
  await cp.kubectl(['apply', '--server-side', '-f', 'crds/ledgernetworks.ledger.chainnode.dev.yaml']);
  await cp.kubectl([
    'wait',
    '--for=condition=Established',
    'crd/ledgernetworks.ledger.chainnode.dev',
    '--timeout=120s',
  ]);
  await cp.kubectl(['create', 'namespace', NS]);
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  client = new KubeClient(kc);
  // A database of its own (external storage, its URL in a Secret as a user would give it); each
  // node keeps its chain in its own schema there, kept across restarts as a volume would be.
  database = `operator_scaling_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`).finally(() => admin.end());
  await client.create(R.secrets, NS, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: NS },
    stringData: { databaseUrl: schemaUrl() },
  });
  // OPERATOR_TEST_LOG=/path/file writes the operator's log there (debug level).
  const logFile = process.env.OPERATOR_TEST_LOG;
  const log =
    logFile === undefined ? pino({ level: 'silent' }) : pino({ level: 'debug' }, pino.destination(logFile));
  const reconciler = new Reconciler({
    client,
    log,
    event: () => Promise.resolve(),
    ledgerAdmin: recordingLedgerAdmin,
  });
  controller = new Controller(client, reconciler, { namespaces: [NS] }, new OperatorMetrics(), log);
  controller.start();
  replicaWatch = new ReplicaWatch(
    client,
    NS,
    LABEL,
    (set, from, to) => {
      record('sts', `${set} ${from}->${to}`);
      checkQuorum(`replicas of ${set} ${from}->${to}`);
    },
    abort.signal,
  );
  replicaWatch.start();
  work = await mkdtemp(join(tmpdir(), 'chainnode-kubelet-'));
  kubelet = new TestKubelet(
    client,
    NS,
    LABEL,
    work,
    {
      // A node starts only as a member of the configuration in force (learner or voter).
      beforeStart: async (pod) => {
        if (!haveAccess) return undefined;
        const config = await httpsLedgerAdmin(ledgerAccess())
          .currentConfig()
          .catch(() => access.genesis); // no node up yet: the genesis is in force
        return [...config.orderers, ...config.peers].some((n) => n.name === pod)
          ? undefined
          : `${pod} started at config sequence ${config.sequence}, which does not name it`;
      },
      // A pod that stops being ready must leave a quorum of ready voting orderers behind.
      readinessChanged: (pod, ready) => {
        if (!ready) checkQuorum(`${pod} no longer ready`);
      },
      // A node stopped for good (its StatefulSet shrank) is no longer a member.
      afterStop: async (pod) => {
        const { org, ordinal, role } = podOf(pod);
        const sts = await client.getOrUndefined<Sts>(R.statefulSets, NS, `${NAME}-${org}-${role}`);
        if (sts !== undefined && ordinal < sts.spec.replicas) return undefined; // a restart
        const config = await httpsLedgerAdmin(ledgerAccess()).currentConfig();
        return [...config.orderers, ...config.peers].some((n) => n.name === pod)
          ? `${pod} stopped for good while still a member at config sequence ${config.sequence}`
          : undefined;
      },
    },
    process.env.OPERATOR_TEST_NODE_LOGS,
  ); // OPERATOR_TEST_NODE_LOGS=/dir keeps every node's log there
}, BINARIES_BUILD_TIMEOUT_MS + 120_000);

afterAll(async () => {
  abort.abort();
  await replicaWatch?.stopped();
  await load?.stop();
  await kubelet?.stop();
  await controller?.stop();
  await (cp as ControlPlane | undefined)?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
  if (database !== undefined) {
    const admin = new pg.Client({ connectionString: testDatabaseUrl() });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).finally(() => admin.end());
  }
}, 90_000);

describe('scaling orderers through config transactions, on running nodes', () => {
  it(
    '4 -> 7 -> 4 under load: learners added before their pods, promoted once caught up, removed before their pods go; no acknowledged transaction lost, one chain',
    async () => {
      const { host, basePort } = randomLoopback();
      await client.create(R.ledgerNetworks, NS, {
        apiVersion: 'ledger.chainnode.dev/v1alpha1',
        kind: 'LedgerNetwork',
        metadata: {
          name: NAME,
          namespace: NS,
          annotations: { 'ledger.chainnode.dev/loopback-address': `${host}:${basePort}` },
        },
        spec: {
          image: 'chainnode/chainnode:test',
          orderers: { count: 4 },
          organisations: [
            { name: 'org1', peers: 1 },
            { name: 'org2', peers: 1 },
          ],
          storage: { mode: 'external', externalSecretRef: { name: 'db' } },
          consensus: { batchTimeoutMs: 50, viewTimeoutMs: 1000 },
        },
      });
      const cm = await until(
        () => client.getOrUndefined<any>(R.configMaps, NS, `${NAME}-network`),
        (c) => c !== undefined,
        'genesis ConfigMap',
      );
      const genesis = parseNetworkFile(cm.data['network.yaml'], 'network.yaml', new Date()).config;
      access = {
        genesis,
        caPems: genesis.orgs.flatMap((o) => o.caCerts),
        admins: new Map(
          await Promise.all(
            ['org1', 'org2'].map(async (o) => [o, await identityFromSecret(`${NAME}-${o}-admin`)] as const),
          ),
        ),
        clients: new Map(
          await Promise.all(
            ['org1', 'org2'].map(async (o) => [o, await identityFromSecret(`${NAME}-${o}-client`)] as const),
          ),
        ),
      };
      haveAccess = true;
      inForce = genesis;
      kubelet?.start();
      await until(
        networkStatus,
        (s) => s.phase === 'Ready' && s.nodes?.every((n: any) => n.reachable === true) === true,
        'Ready at 4 with every node answering',
      );
      checkingQuorum = true;
      checkQuorum('Ready at 4');

      // The kv contract, deployed by org1's admin; then a client writing through both peers.
      const peers = genesis.peers;
      const connect = (entry: (typeof peers)[number], who: { certPem: string; keyPem: string }) =>
        ChainnodeClient.connect({
          url: `https://${entry.host}:${entry.apiPort}`,
          certPem: who.certPem,
          keyPem: who.keyPem,
          caCerts: access.caPems,
        });
      const deployer = connect(peers[0]!, access.admins.get('org1')!);
      try {
        expect((await deployer.deploy('kv', loadSampleContract('kv').source)).validation).toBe('VALID');
      } finally {
        deployer.close();
      }
      load = new Load(peers.map((p) => connect(p, access.clients.get(p.org)!)));
      load.start();
      await until(
        () => Promise.resolve(load!.acknowledged.length),
        (n) => n >= 5,
        'the load committing',
      );

      await patchCount(7);
      await until(
        networkStatus,
        (s) => s.phase === 'Ready' && s.readyOrderers === 7 && s.reconfiguration?.phase === 'Idle',
        'Ready at 7',
        SCALE_WAIT_MS,
      );
      const at7 = await httpsLedgerAdmin(ledgerAccess()).currentConfig();
      expect(at7.orderers.map((o) => `${o.name}${o.learner === true ? ' (learner)' : ''}`)).toEqual([
        'grow-org1-orderer-0',
        'grow-org2-orderer-0',
        'grow-org1-orderer-1',
        'grow-org2-orderer-1',
        'grow-org1-orderer-2',
        'grow-org2-orderer-2',
        'grow-org1-orderer-3',
      ]);
      expect(at7.sequence).toBe(6);
      expect(await replicasOf('org1')).toBe(4);
      expect(await replicasOf('org2')).toBe(3);
      const acknowledgedAt7 = load.acknowledged.length;

      await patchCount(4);
      await until(
        networkStatus,
        (s) =>
          s.phase === 'Ready' &&
          s.readyOrderers === 4 &&
          s.desiredOrderers === 4 &&
          s.reconfiguration?.phase === 'Idle',
        'Ready at 4 again',
        SCALE_WAIT_MS,
      );
      await until(
        () => Promise.resolve(timeline.filter((e) => e.kind === 'sts').length),
        (n) => n >= 6,
        'the last replica change seen',
      );
      // The load kept committing through the shrink too.
      await until(
        () => Promise.resolve(load!.acknowledged.length),
        (n) => n >= acknowledgedAt7 + 5,
        'the load committing at 4 again',
      );
      await load.stop();

      expect(violations).toEqual([]);
      expect(replicaWatch?.failures).toEqual([]);
      expect(kubelet?.violations).toEqual([]);
      expect(kubelet?.crashes).toEqual([]);
      expect(timeline.map((e) => `${e.kind}: ${e.what}`)).toEqual([
        'config: add grow-org1-orderer-2',
        'sts: grow-org1-orderer 2->3',
        'config: promote grow-org1-orderer-2',
        'config: add grow-org2-orderer-2',
        'sts: grow-org2-orderer 2->3',
        'config: promote grow-org2-orderer-2',
        'config: add grow-org1-orderer-3',
        'sts: grow-org1-orderer 3->4',
        'config: promote grow-org1-orderer-3',
        'config: remove grow-org1-orderer-3',
        'sts: grow-org1-orderer 4->3',
        'config: remove grow-org2-orderer-2',
        'sts: grow-org2-orderer 3->2',
        'config: remove grow-org1-orderer-2',
        'sts: grow-org1-orderer 3->2',
      ]);
      expect([...learnerSeen.keys()]).toEqual([
        'grow-org1-orderer-2',
        'grow-org2-orderer-2',
        'grow-org1-orderer-3',
      ]);
      const status = await networkStatus();
      expect(status.reconfiguration).toMatchObject({ phase: 'Idle', publishedSequence: 9 });

      // The remaining nodes: the genesis ones, each running once, the removed ones stopped. (The
      // last shrink rolls its group's pods, with the new update files, one at a time: wait for it.)
      const remaining = [...genesis.orderers, ...genesis.peers].map((n) => n.name as string).sort();
      await until(
        () =>
          Promise.resolve({
            running: [...(kubelet?.containers.keys() ?? [])].sort(),
            ready: (kubelet?.readyPods() ?? []).sort(),
          }),
        ({ running, ready }) =>
          JSON.stringify(running) === JSON.stringify(remaining) &&
          JSON.stringify(ready) === JSON.stringify(remaining),
        'exactly the remaining nodes running and ready',
      );
      // Through the last roll too, the quorum held: checked at each commit, replica change and
      // pod leaving readiness (the rolls restart every orderer pod of a resized group).
      checkingQuorum = false;
      expect(violations).toEqual([]);
      expect(quorumChecks).toBeGreaterThan(timeline.length);

      // A pool: the nodes' chains are read concurrently.
      const db = new pg.Pool({ connectionString: schemaUrl(), max: 4 });
      try {
        // Quiescent (no load): every remaining node reaches the same head.
        const heads = async () =>
          Promise.all(
            remaining.map(async (n) => {
              const r = await db.query<{ h: string }>(
                `SELECT max(height) AS h FROM "${nodeSchema(n)}".blocks`,
              );
              return Number(r.rows[0]?.h ?? -1);
            }),
          );
        await until(heads, (hs) => new Set(hs).size === 1, 'every remaining node at the same height', 30_000);
        const chains = new Map(
          await Promise.all(remaining.map(async (n) => [n, await chainOf(db, n)] as const)),
        );
        const reference = chains.get(remaining[0]!)!;
        for (const [n, chain] of chains) {
          expect({ node: n, blocks: chain.blocks }).toEqual({ node: n, blocks: reference.blocks });
        }
        // Zero acknowledged transactions lost: each is on every peer's chain, VALID.
        for (const p of genesis.peers) {
          const txs = chains.get(p.name)!.txs;
          const valid = new Set(txs.filter((t) => t.code === ValidationCode.VALID).map((t) => t.tx_id));
          const lost = load.acknowledged.filter((t) => !valid.has(t));
          expect({ peer: p.name, lost }).toEqual({ peer: p.name, lost: [] });
        }
        expect(load.acknowledged.length).toBeGreaterThan(20);
        // The config transactions on the chain are the ones recorded above, each alone in its
        // block, and exactly the envelopes the operator published to the pods.
        const configs = reference.txs
          .map((t) => ({ ...t, envelope: decodeEnvelope(t.envelope) }))
          .filter((t): t is typeof t & { envelope: Envelope } => t.envelope.payload.type === 'config')
          // Genesis (height 0) holds the first configuration; the updates follow.
          .filter((t) => Number(t.height) > 0);
        const sequences = configs.map((t) =>
          t.envelope.payload.type === 'config' ? t.envelope.payload.config.sequence : -1,
        );
        expect(sequences).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let before = genesis;
        const onChain: string[] = [];
        for (const t of configs) {
          if (t.envelope.payload.type !== 'config') continue;
          onChain.push(`config: ${describeUpdate(before, t.envelope.payload.config)}`);
          before = t.envelope.payload.config;
          expect(reference.txs.filter((x) => x.height === t.height)).toHaveLength(1);
        }
        expect(onChain).toEqual(timeline.filter((e) => e.kind === 'config').map((e) => `config: ${e.what}`));
        const updates = await client.get<any>(R.configMaps, NS, `${NAME}-config-updates`);
        expect(Object.keys(updates.data).sort()).toEqual(
          sequences.map((s) => `${String(s).padStart(6, '0')}.json`),
        );
        for (const t of configs) {
          const seq = t.envelope.payload.type === 'config' ? t.envelope.payload.config.sequence : -1;
          const published = JSON.parse(updates.data[`${String(seq).padStart(6, '0')}.json`]) as unknown;
          expect(canonicalString(published)).toBe(canonicalString(t.envelope));
        }
      } finally {
        await db.end();
      }
    },
    2 * SCALE_WAIT_MS + 4 * WAIT_MS,
  );
});
