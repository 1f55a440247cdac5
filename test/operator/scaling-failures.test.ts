/* eslint-disable @typescript-eslint/no-unsafe-argument -- kubectl's JSON output is untyped API objects, read as such */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { configTxProblems, parseNetworkFile } from '../../node/config/index.js';
import type { Envelope, NetworkConfig } from '../../node/protocol/index.js';
import { Controller } from '../../operator/controller.js';
import { KubeClient, R } from '../../operator/kube.js';
import type { LedgerAdmin, SubmitOutcome } from '../../operator/ledger-admin.js';
import { OperatorMetrics } from '../../operator/metrics.js';
import { ConcurrentWriteError, Reconciler, writeConfigUpdates } from '../../operator/reconciler.js';
import { CATCH_UP_MARGIN_BLOCKS, rolloutInProgress } from '../../operator/reconfigure.js';
import { BINARIES_BUILD_TIMEOUT_MS, ControlPlane } from './support/control-plane.js';
import { ReplicaWatch } from './support/replica-watch.js';

/*
 * The operator's reconfiguration against a REAL control plane (kube-apiserver, controller-manager
 * making the StatefulSets' pods, kwok making them Ready) and a ledger TEST DOUBLE (`FakeLedger`):
 * the cases that need what running nodes cannot give on demand — an update the network refuses,
 * a submission whose answer is lost, and certificates near expiry (the operator's clock moved a
 * year ahead). scaling.test.ts scales 4 -> 7 -> 4 on real nodes; the same order is checked here
 * on the double first, as the baseline the failure cases start from.
 *
 * The double checks every submitted update with the real rules (configTxProblems, as orderers and
 * peers do: one voting change per update, learners first, admin approvals under the admin policy,
 * an organisation whose CA certificates change approving that itself, every certificate valid),
 * models a learner catching up block by block once its pod is Ready, and at each commit checks
 * the StatefulSets on the API server: an added node has no pod yet, a removed node still has one,
 * a promoted node has caught up.
 */

const NS = 'scaling';
const NAME = 'grow';
const WAIT_MS = 180_000;

let cp: ControlPlane;
let client: KubeClient;
let controller: Controller | undefined;
const metrics = new OperatorMetrics();
/** Reconciles the controller finished without an error so far. */
async function reconcilesDone(): Promise<number> {
  return (await metrics.reconciles.get()).values.find((v) => v.labels.result === 'success')?.value ?? 0;
}
let replicaWatch: ReplicaWatch | undefined;
const abort = new AbortController();
let counter = 0;
const timeline: { seq: number; kind: 'config' | 'sts'; what: string }[] = [];
const violations: string[] = [];

/** Added to the operator's and the ledger's clock, to bring certificates close to expiry. */
let clockOffsetMs = 0;
const now = (): Date => new Date(Date.now() + clockOffsetMs);

const record = (kind: 'config' | 'sts', what: string): void => {
  timeline.push({ seq: ++counter, kind, what });
};

interface Sts {
  metadata: { name: string };
  spec: { replicas: number };
}

async function replicasOf(org: string): Promise<number> {
  const sts = await client.getOrUndefined<Sts>(R.statefulSets, NS, `${NAME}-${org}-orderer`);
  return sts?.spec.replicas ?? 0;
}

/** pod name -> (org, ordinal) */
function podOf(name: string): { org: string; ordinal: number } {
  const m = /^grow-(org\d)-(?:orderer|peer)-(\d+)$/.exec(name);
  if (m === null) throw new Error(`not a pod name: ${name}`);
  return { org: m[1] as string, ordinal: Number(m[2]) };
}

async function podReady(name: string): Promise<boolean> {
  const pod = await client.getOrUndefined<{
    status?: { conditions?: { type: string; status: string }[] };
  }>(R.pods, NS, name);
  return pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/** The ledger as the operator sees it: a configuration in force, a height, learners catching up. */
class FakeLedger implements LedgerAdmin {
  config: NetworkConfig;
  height = 6;
  /** Heights of learners (they fetch one block per status poll once their pod is Ready). */
  readonly learnerHeights = new Map<string, number>();
  refuseNext = false;
  /** Commit the next update, then fail the call (a connection lost after the commit). */
  loseNextAnswer = false;
  readonly submitted: string[] = [];
  /** Every configuration in force so far, oldest first. */
  readonly history: NetworkConfig[] = [];
  /** The next `reads` reads of the configuration answer `config` (nodes behind the network). */
  stale: { config: NetworkConfig; reads: number } | undefined;

  constructor(
    genesis: NetworkConfig,
    /** The LedgerNetwork whose ledger this is. */
    readonly network = NAME,
  ) {
    this.config = genesis;
    this.history.push(genesis);
  }

  currentConfig(): Promise<NetworkConfig> {
    if (this.stale !== undefined && this.stale.reads > 0) {
      this.stale.reads -= 1;
      return Promise.resolve(this.stale.config);
    }
    return Promise.resolve(this.config);
  }

  async nodeStatus(name: string): Promise<{ height: number }> {
    if (!(await podReady(name))) throw new Error(`${name}: connection refused (no pod)`);
    const entry = this.config.orderers.find((o) => o.name === name);
    if (entry?.learner !== true) return { height: this.height };
    const h = Math.min(this.height, (this.learnerHeights.get(name) ?? -1) + 1);
    this.learnerHeights.set(name, h);
    return { height: h };
  }

  /** The node renewed last, with its pod's uid when its renewal committed. */
  lastRenewed: { name: string; uid: string } | undefined;
  readonly renewed: string[] = [];

  /** At each renewal: every pod Ready (the quorum whole), and the previous node's pod restarted. */
  async checkRenewal(name: string): Promise<void> {
    const pods = await client.list<any>(R.pods, NS, `ledger.chainnode.dev/network=${this.network}`);
    const notReady = pods.items.filter(
      (p: any) => !p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'),
    );
    if (notReady.length > 0)
      violations.push(
        `renewal of ${name} with pods not ready: ${notReady.map((p: any) => p.metadata.name).join(', ')}`,
      );
    const uidOf = (n: string): string =>
      pods.items.find((p: any) => p.metadata.name === n)?.metadata.uid ?? '';
    if (this.lastRenewed !== undefined && uidOf(this.lastRenewed.name) === this.lastRenewed.uid)
      violations.push(`${this.lastRenewed.name} was not restarted before the next renewal (${name})`);
    this.lastRenewed = { name, uid: uidOf(name) };
    this.renewed.push(name);
  }

  async submitConfig(envelope: Envelope): Promise<SubmitOutcome> {
    if (envelope.payload.type !== 'config') throw new Error('not a config transaction');
    const next = envelope.payload.config;
    const problems = configTxProblems(envelope, this.config, now());
    if (this.refuseNext) {
      this.refuseNext = false;
      problems.push('refused by the test');
    }
    if (problems.length > 0) {
      this.submitted.push(`refused: ${problems.join('; ')}`);
      return { validation: 'BAD_CONFIG_UPDATE' };
    }
    // No update is submitted while an orderer StatefulSet still rolls its pods.
    const sets = await client.list<any>(R.statefulSets, NS, `ledger.chainnode.dev/network=${this.network}`);
    for (const set of sets.items) {
      const rolling = set.metadata.name.endsWith('-orderer') ? rolloutInProgress(set) : undefined;
      if (rolling !== undefined) violations.push(`an update submitted during a rollout: ${rolling}`);
    }
    const before = new Map(this.config.orderers.map((o) => [o.name as string, o]));
    const after = new Map(next.orderers.map((o) => [o.name as string, o]));
    let what = 'other';
    for (const [name, o] of after) {
      const old = before.get(name);
      if (old === undefined) {
        what = `add ${name}`;
        const { org, ordinal } = podOf(name);
        if (ordinal < (await replicasOf(org))) violations.push(`${name} had a pod before it was added`);
        if (o.learner !== true) violations.push(`${name} joined as a voter`);
      } else if (old.learner === true && o.learner !== true) {
        what = `promote ${name}`;
        const height = this.learnerHeights.get(name);
        if (!(await podReady(name))) violations.push(`${name} promoted without a ready pod`);
        if (height === undefined || height + CATCH_UP_MARGIN_BLOCKS < this.height)
          violations.push(`${name} promoted at height ${String(height)} of ${this.height}`);
      }
    }
    const peersBefore = new Map(this.config.peers.map((p) => [p.name as string, p]));
    for (const n of [...next.orderers, ...next.peers]) {
      const old = before.get(n.name) ?? peersBefore.get(n.name);
      if (old === undefined || old.cert === n.cert) continue;
      what = `renew ${n.name}`;
      await this.checkRenewal(n.name);
    }
    for (const org of next.orgs) {
      const old = this.config.orgs.find((o) => o.name === org.name);
      if (old !== undefined && JSON.stringify(old.caCerts) !== JSON.stringify(org.caCerts))
        what = `cas ${org.name} ${org.caCerts.length}`;
    }
    for (const name of before.keys()) {
      if (after.has(name)) continue;
      what = `remove ${name}`;
      const { org, ordinal } = podOf(name);
      if (ordinal >= (await replicasOf(org)))
        violations.push(`${name}'s pod was gone before its removal committed`);
    }
    this.config = next;
    this.history.push(next);
    this.height += 1; // the config transaction's block
    this.submitted.push(what);
    record('config', what);
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      throw new Error('socket hang up');
    }
    return { validation: 'VALID', height: this.height };
  }
}

let ledger: FakeLedger | undefined;
/** The ledger of the second network, whose CAs are renewed (ROLL). */
let rollLedger: FakeLedger | undefined;
const ROLL = 'roll';

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
      throw new Error(`${what}: not within ${timeoutMs} ms; last ${JSON.stringify(v).slice(0, 1500)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function patchCount(count: number): Promise<void> {
  await client.mergePatch(R.ledgerNetworks, NS, NAME, { spec: { orderers: { count } } });
}

beforeAll(async () => {
  cp = await ControlPlane.start({ nodes: 3 });
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
  // OPERATOR_TEST_LOG=/path/file writes the operator's log there (debug level).
  const logFile = process.env.OPERATOR_TEST_LOG;
  const log =
    logFile === undefined ? pino({ level: 'silent' }) : pino({ level: 'debug' }, pino.destination(logFile));
  const reconciler = new Reconciler({
    client,
    log,
    event: () => Promise.resolve(),
    nodeStatus: () => Promise.reject(new Error('no node API in this test')),
    now,
    ledgerAdmin: (access) => {
      const l = access.known.networkId === NAME ? ledger : rollLedger;
      if (l === undefined) throw new Error(`the ledger of ${access.known.networkId} is not up yet`);
      return l;
    },
  });
  controller = new Controller(client, reconciler, { namespaces: [NS] }, metrics, log);
  controller.start();
  replicaWatch = new ReplicaWatch(
    client,
    NS,
    `ledger.chainnode.dev/network=${NAME}`,
    (set, from, to) => {
      record('sts', `${set} ${from}->${to}`);
    },
    abort.signal,
  );
  replicaWatch.start();
}, BINARIES_BUILD_TIMEOUT_MS + 120_000);

afterAll(async () => {
  abort.abort();
  await replicaWatch?.stopped();
  await controller?.stop();
  await (cp as ControlPlane | undefined)?.stop();
}, 60_000);

describe('reconfiguration failure cases, on a ledger test double', () => {
  it(
    '4 -> 7 -> 4: adds learners, grows after commit, promotes after catch-up, removes before shrinking',
    async () => {
      await cp.kubectl(
        ['apply', '-n', NS, '-f', '-'],
        JSON.stringify({
          apiVersion: 'ledger.chainnode.dev/v1alpha1',
          kind: 'LedgerNetwork',
          metadata: { name: NAME },
          spec: {
            orderers: { count: 4 },
            organisations: [
              { name: 'org1', peers: 1 },
              { name: 'org2', peers: 1 },
            ],
            storage: { mode: 'external', externalSecretRef: { name: 'db' } },
          },
        }),
      );
      const cm = await until(
        () => client.getOrUndefined<any>(R.configMaps, NS, `${NAME}-network`),
        (c) => c !== undefined,
        'genesis ConfigMap',
      );
      ledger = new FakeLedger(parseNetworkFile(cm.data['network.yaml'], 'network.yaml', new Date()).config);
      await until(networkStatus, (s) => s.phase === 'Ready', 'Ready at 4');

      await patchCount(7);
      await until(
        networkStatus,
        (s) => s.phase === 'Ready' && s.readyOrderers === 7 && s.reconfiguration?.phase === 'Idle',
        'Ready at 7',
      );
      expect(ledger.config.orderers.map((o) => o.name)).toEqual([
        'grow-org1-orderer-0',
        'grow-org2-orderer-0',
        'grow-org1-orderer-1',
        'grow-org2-orderer-1',
        'grow-org1-orderer-2',
        'grow-org2-orderer-2',
        'grow-org1-orderer-3',
      ]);
      expect(ledger.config.orderers.every((o) => o.learner !== true)).toBe(true);
      expect(await replicasOf('org1')).toBe(4);
      expect(await replicasOf('org2')).toBe(3);
      const updates = await client.get<any>(R.configMaps, NS, `${NAME}-config-updates`);
      expect(Object.keys(updates.data).sort()).toEqual([
        '000001.json',
        '000002.json',
        '000003.json',
        '000004.json',
        '000005.json',
        '000006.json',
      ]);
      // The grown group's pods see every committed update beside network.yaml.
      const sts = await client.get<any>(R.statefulSets, NS, `${NAME}-org1-orderer`);
      const paths = sts.spec.template.spec.volumes
        .find((v: any) => v.name === 'network')
        .projected.sources.flatMap((s: any) => (s.configMap?.items ?? []).map((i: any) => i.path));
      expect(paths).toEqual(expect.arrayContaining(['network.yaml', 'config-updates/000005.json']));

      await patchCount(4);
      await until(
        networkStatus,
        (s) =>
          s.phase === 'Ready' &&
          s.readyOrderers === 4 &&
          s.desiredOrderers === 4 &&
          s.reconfiguration?.phase === 'Idle',
        'Ready at 4 again',
      );
      await until(
        () => Promise.resolve(timeline.filter((e) => e.kind === 'sts').length),
        (n) => n >= 6,
        'the last replica change seen',
      );

      expect(replicaWatch?.failures).toEqual([]);
      expect(violations).toEqual([]);
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
      const status = await networkStatus();
      expect(status.reconfiguration).toMatchObject({ phase: 'Idle', publishedSequence: 9 });
      expect(ledger.config.sequence).toBe(9);
      // Each learner was seen catching up block by block before its promotion.
      expect([...ledger.learnerHeights.values()].every((h) => h >= 6)).toBe(true);
    },
    2 * WAIT_MS,
  );

  it(
    'a config update the network refuses makes the resource Degraded with the reason, nothing half-applied',
    async () => {
      const l = ledger as FakeLedger;
      l.refuseNext = true;
      const before = l.config.sequence;
      await patchCount(5);
      const s = await until(
        networkStatus,
        (st) => st.conditions?.some((c: any) => c.type === 'Degraded' && c.status === 'True') === true,
        'Degraded',
      );
      const degraded = s.conditions.find((c: any) => c.type === 'Degraded');
      expect(degraded.reason).toBe('ConfigUpdateRefused');
      expect(degraded.message).toContain(
        'the network refused the config update add-orderer grow-org1-orderer-2: BAD_CONFIG_UPDATE',
      );
      expect(s.reconfiguration).toMatchObject({
        phase: 'Refused',
        op: 'add-orderer',
        node: 'grow-org1-orderer-2',
      });
      expect(l.config.sequence).toBe(before);
      expect(await replicasOf('org1')).toBe(2);
      const updates = await client.get<any>(R.configMaps, NS, `${NAME}-config-updates`);
      expect(Object.keys(updates.data)).not.toContain('pending.json');
      // Not retried for the same generation: two more reconciles (nudged by an annotation, which
      // leaves the generation as it is) submit nothing. A new spec generation tries again.
      const submittedAtRefusal = l.submitted.length;
      const reconciledAtRefusal = await reconcilesDone();
      await client.mergePatch(R.ledgerNetworks, NS, NAME, {
        metadata: { annotations: { 'test/nudge-refused': String(reconciledAtRefusal) } },
      });
      await until(reconcilesDone, (n) => n >= reconciledAtRefusal + 2, 'two reconciles after the refusal');
      expect(l.submitted.slice(submittedAtRefusal)).toEqual([]);
      expect(l.config.sequence).toBe(before);
      expect((await networkStatus()).reconfiguration).toMatchObject({ phase: 'Refused', op: 'add-orderer' });
      await patchCount(4);
      await until(networkStatus, (st) => st.phase === 'Ready', 'Ready after going back to 4');
      expect(violations).toEqual([]);
    },
    WAIT_MS,
  );

  it(
    'an update whose answer was lost is found committed and published from the write-ahead copy, then the scale goes on',
    async () => {
      const l = ledger as FakeLedger;
      const from = timeline.length;
      l.loseNextAnswer = true;
      await patchCount(5);
      await until(
        networkStatus,
        (st) => st.phase === 'Ready' && st.readyOrderers === 5 && st.reconfiguration?.phase === 'Idle',
        'Ready at 5',
      );
      expect(timeline.slice(from).map((e) => `${e.kind}: ${e.what}`)).toEqual([
        'config: add grow-org1-orderer-2',
        'sts: grow-org1-orderer 2->3',
        'config: promote grow-org1-orderer-2',
      ]);
      const updates = await client.get<any>(R.configMaps, NS, `${NAME}-config-updates`);
      expect(Object.keys(updates.data)).toEqual(expect.arrayContaining(['000010.json', '000011.json']));
      expect(Object.keys(updates.data)).not.toContain('pending.json');
      expect(violations).toEqual([]);
    },
    WAIT_MS,
  );

  it(
    'a read of the configuration from nodes behind the published one makes the operator wait, not plan from it',
    async () => {
      const l = ledger as FakeLedger;
      const from = l.submitted.length;
      // The nodes answer the configuration before the last promotion (the learner still a learner).
      const behind = l.history[l.history.length - 2] as NetworkConfig;
      l.stale = { config: behind, reads: 3 };
      await patchCount(4);
      await until(
        () => Promise.resolve(l.stale?.reads),
        (n) => n === 0,
        'the stale reads answered',
      );
      await until(
        networkStatus,
        (st) => st.phase === 'Ready' && st.readyOrderers === 4 && st.reconfiguration?.phase === 'Idle',
        'Ready at 4',
      );
      // Nothing drafted from the old view (it would have been refused as the wrong sequence).
      expect(l.submitted.slice(from)).toEqual(['remove grow-org1-orderer-2']);
      expect(violations).toEqual([]);
    },
    WAIT_MS,
  );

  it(
    'renews certificates before expiry one node at a time (replace-cert, the Secret, a restart, caught up, the next), even while a membership change stays refused',
    async () => {
      const l = ledger as FakeLedger;
      // A scale the network refuses: it stays refused (not retried) until the spec changes...
      l.refuseNext = true;
      await patchCount(5);
      await until(
        networkStatus,
        (st) => st.reconfiguration?.phase === 'Refused' && st.reconfiguration?.op === 'add-orderer',
        'the scale to 5 refused',
      );
      const submittedAtRefusal = l.submitted.length;
      const secretOf = async (node: string) => {
        const sec = await client.get<any>(R.secrets, NS, `${node}-identity`);
        return {
          uid: sec.metadata.uid as string,
          cert: Buffer.from(sec.data['cert.pem'], 'base64').toString(),
          key: Buffer.from(sec.data['key.pem'], 'base64').toString(),
        };
      };
      const nodes = [...l.config.orderers, ...l.config.peers].map((n) => n.name as string);
      const before = new Map(await Promise.all(nodes.map(async (n) => [n, await secretOf(n)] as const)));
      const from = timeline.length;
      // 300 of 365 days later: less than a third of each certificate's lifetime is left.
      clockOffsetMs = 300 * 24 * 3600 * 1000;
      await client.mergePatch(R.ledgerNetworks, NS, NAME, {
        metadata: { annotations: { 'test/nudge': '1' } },
      });
      // ...and the certificates are renewed all the same.
      await until(
        () => Promise.resolve(l.renewed.length),
        (n) => n === nodes.length,
        'every node renewed',
      );
      const whileRefused = await networkStatus();
      expect(whileRefused.reconfiguration).toMatchObject({ phase: 'Refused', op: 'add-orderer' });
      expect(whileRefused.conditions.find((c: any) => c.type === 'Degraded')).toMatchObject({
        status: 'True',
        reason: 'ConfigUpdateRefused',
      });
      expect(l.submitted.slice(submittedAtRefusal).every((w) => w.startsWith('renew '))).toBe(true);
      // Back to the count in force: Ready and idle once the last renewed pod has restarted.
      await patchCount(4);
      await until(
        networkStatus,
        (st) => st.phase === 'Ready' && st.reconfiguration?.phase === 'Idle',
        'Ready and idle after the renewals',
      );
      expect(violations).toEqual([]);
      expect([...l.renewed].sort()).toEqual([...nodes].sort());
      expect(timeline.slice(from).every((e) => e.kind === 'config' && e.what.startsWith('renew '))).toBe(
        true,
      );
      for (const n of nodes) {
        const after = await secretOf(n);
        const entry = [...l.config.orderers, ...l.config.peers].find((x) => x.name === n);
        expect(after.cert).toBe(entry?.cert);
        expect(after.cert).not.toBe(before.get(n)?.cert);
        expect(after.key).toBe(before.get(n)?.key); // renewal: the same key
        // Replaced in place, never deleted and recreated (the key never left the API server).
        expect(after.uid).toBe(before.get(n)?.uid);
      }
      // The admin identities were reissued too (they approve config updates).
      const admin = await client.get<any>(R.secrets, NS, `${NAME}-org1-admin`);
      const adminCert = new X509Certificate(Buffer.from(admin.data['cert.pem'], 'base64'));
      expect(Date.parse(adminCert.validTo)).toBeGreaterThan(now().getTime() + 300 * 24 * 3600 * 1000);
    },
    WAIT_MS,
  );

  it('writes the published config updates only over the version it read, so an overlapping operator cannot drop one', async () => {
    const read = await client.get<any>(R.configMaps, NS, `${NAME}-config-updates`);
    const owner = { name: NAME, namespace: NS, uid: read.metadata.ownerReferences[0].uid as string };
    const data = read.data as Record<string, string>;
    // One operator writes over what it read...
    const newer = await writeConfigUpdates(
      client,
      owner,
      { ...data, 'note.txt': 'one' },
      read.metadata.resourceVersion,
    );
    // ...another, still holding the first read (or none), is refused instead of overwriting it.
    const last = Object.keys(data).sort().at(-1) as string;
    const withoutLast = Object.fromEntries(Object.entries(data).filter(([k]) => k !== last));
    await expect(
      writeConfigUpdates(client, owner, withoutLast, read.metadata.resourceVersion),
    ).rejects.toThrow(ConcurrentWriteError);
    await expect(writeConfigUpdates(client, owner, withoutLast, undefined)).rejects.toThrow(
      ConcurrentWriteError,
    );
    expect((await client.get<any>(R.configMaps, NS, `${NAME}-config-updates`)).data).toEqual({
      ...data,
      'note.txt': 'one',
    });
    await writeConfigUpdates(client, owner, data, newer);
  });

  it(
    'renews an organisation CA before expiry with its key and name: trusts [renewed, old], stores it in its Secret in place, trusts [renewed]; node certificates follow under it',
    async () => {
      // A network of 30-day certificates (a CA of 3650 days would need the clock years ahead,
      // where every node certificate would have expired).
      await cp.kubectl(
        ['apply', '-n', NS, '-f', '-'],
        JSON.stringify({
          apiVersion: 'ledger.chainnode.dev/v1alpha1',
          kind: 'LedgerNetwork',
          metadata: { name: ROLL },
          spec: {
            orderers: { count: 1 },
            organisations: [
              { name: 'org1', peers: 1 },
              { name: 'org2', peers: 1 },
            ],
            storage: { mode: 'external', externalSecretRef: { name: 'db' } },
            certificates: { caValidityDays: 30, nodeValidityDays: 30 },
          },
        }),
      );
      const cm = await until(
        () => client.getOrUndefined<any>(R.configMaps, NS, `${ROLL}-network`),
        (c) => c !== undefined,
        'genesis ConfigMap of the second network',
      );
      const genesis = parseNetworkFile(cm.data['network.yaml'], 'network.yaml', now()).config;
      const l = new FakeLedger(genesis, ROLL);
      rollLedger = l;
      const rollStatus = async () => (await client.get<any>(R.ledgerNetworks, NS, ROLL)).status ?? {};
      await until(rollStatus, (s) => s.phase === 'Ready', 'the second network Ready');
      const caSecret = async (org: string) => {
        const sec = await client.get<any>(R.secrets, NS, `${ROLL}-${org}-ca`);
        return {
          uid: sec.metadata.uid as string,
          cert: Buffer.from(sec.data['cert.pem'], 'base64').toString(),
          key: Buffer.from(sec.data['key.pem'], 'base64').toString(),
        };
      };
      const before = { org1: await caSecret('org1'), org2: await caSecret('org2') };
      const nodes = [...genesis.orderers, ...genesis.peers].map((n) => n.name as string);

      // 21 of 30 days later: every CA and node certificate has less than a third left.
      clockOffsetMs += 21 * 24 * 3600 * 1000;
      await client.mergePatch(R.ledgerNetworks, NS, ROLL, {
        metadata: { annotations: { 'test/nudge': '1' } },
      });
      await until(
        () => Promise.resolve(l.renewed.length),
        (n) => n === nodes.length,
        'every node of the second network renewed',
      );
      await until(
        rollStatus,
        (s) => s.phase === 'Ready' && s.reconfiguration?.phase === 'Idle',
        'the second network Ready and idle after the renewals',
      );
      expect(violations).toEqual([]);
      // Each CA in two updates, one organisation after the other, before any node certificate.
      expect(l.submitted).toEqual([
        'cas org1 2',
        'cas org1 1',
        'cas org2 2',
        'cas org2 1',
        ...l.renewed.map((n) => `renew ${n}`),
      ]);
      expect([...l.renewed].sort()).toEqual([...nodes].sort());
      for (const org of ['org1', 'org2'] as const) {
        const after = await caSecret(org);
        const trusted = l.config.orgs.find((o) => o.name === org)?.caCerts;
        // The Secret holds the one certificate the configuration trusts: renewed, in place.
        expect(trusted).toEqual([after.cert]);
        expect(after.uid).toBe(before[org].uid);
        expect(after.key).toBe(before[org].key);
        expect(after.cert).not.toBe(before[org].cert);
        const [was, is] = [new X509Certificate(before[org].cert), new X509Certificate(after.cert)];
        expect(is.subject).toBe(was.subject);
        expect(is.publicKey.equals(was.publicKey)).toBe(true);
        expect(Date.parse(is.validTo)).toBeGreaterThan(Date.parse(was.validTo));
      }
      // The renewed node certificates were issued under the renewed CA: they outlive the old one.
      const oldCaEnd = Date.parse(new X509Certificate(before.org1.cert).validTo);
      for (const n of [...l.config.orderers, ...l.config.peers])
        expect(Date.parse(new X509Certificate(n.cert).validTo)).toBeGreaterThan(oldCaEnd);
    },
    WAIT_MS,
  );
});
