/* eslint-disable @typescript-eslint/no-unsafe-argument -- kubectl's JSON output is untyped API objects, read as such */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import YAML from 'yaml';
import { parseNetworkFile } from '../../node/config/index.js';
import { loadSampleContract } from '../../node/contracts/index.js';
import { ChainnodeClient } from '../../node/sdk/index.js';
import { testDatabaseUrl } from '../support/database.js';
import { ChainnodeProcess, randomLoopback } from '../support/processes.js';
import { BINARIES_BUILD_TIMEOUT_MS, ControlPlane, KubectlError } from './support/control-plane.js';
import { OperatorProcess } from './support/operator-process.js';

/*
 * The operator against a REAL control plane (etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, and kwok as the kubelet of three fake nodes), driven with kubectl as a user
 * would. The operator runs as a child process with the chart's ServiceAccount and RBAC, so the
 * chart's least-privilege rules are what these tests exercise.
 */

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '../..');
const CRD = join(REPO, 'crds/ledgernetworks.ledger.chainnode.dev.yaml');
const CHART = join(REPO, 'charts/chainnode-operator');
const SAMPLE = join(CHART, 'samples/ledgernetwork.yaml');
const NS = 'ledger';
const OPERATOR_NS = 'chainnode-system';
/** Short leader-election timing so the takeover test is quick (the chart's defaults are 15/10/2 s). */
const LEASE = { LEASE_DURATION_MS: '4000', RENEW_DEADLINE_MS: '3000', RETRY_PERIOD_MS: '500' };
const LEASE_DURATION_MS = 4_000;
const WAIT = '120s';

let cp: ControlPlane;
let operatorEnv: Record<string, string>;
const operators: OperatorProcess[] = [];
let leader: OperatorProcess;

const kubectl = (...args: string[]): Promise<string> => cp.kubectl(args);
const getJson = async (...args: string[]): Promise<any> =>
  JSON.parse(await cp.kubectl([...args, '-o', 'json']));
const apply = (doc: unknown, ns = NS): Promise<string> =>
  cp.kubectl(['apply', '-n', ns, '-f', '-'], JSON.stringify(doc));

/** Re-reads `read` until `ok` holds; for API state with no kubectl wait form. Bounded. */
async function eventually<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms; last: ${JSON.stringify(last).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const labelOf = (name: string): string => `ledger.chainnode.dev/network=${name}`;

async function ownedCounts(name: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const kind of [
    'secrets',
    'configmaps',
    'services',
    'statefulsets',
    'poddisruptionbudgets',
    'pods',
    'persistentvolumeclaims',
  ]) {
    counts[kind] = (await getJson('get', kind, '-n', NS, '-l', labelOf(name))).items.length;
  }
  return counts;
}

beforeAll(async () => {
  cp = await ControlPlane.start({ nodes: 3 });
  await kubectl('apply', '--server-side', '-f', CRD);
  await kubectl(
    'wait',
    '--for=condition=Established',
    'crd/ledgernetworks.ledger.chainnode.dev',
    `--timeout=${WAIT}`,
  );
  await kubectl('create', 'namespace', NS);
  await kubectl('create', 'namespace', OPERATOR_NS);
  // What a cluster's storage provisioner would do: a default StorageClass and volumes to bind.
  await apply({
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: 'test-local', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    provisioner: 'kubernetes.io/no-provisioner',
    volumeBindingMode: 'Immediate',
  });
  for (let i = 0; i < 12; i++) {
    await apply({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `pv-${i}` },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        storageClassName: 'test-local',
        persistentVolumeReclaimPolicy: 'Delete',
        hostPath: { path: `/tmp/chainnode-test-pv-${i}` },
      },
    });
  }
  // The chart's ServiceAccount and RBAC (not its Deployment: there is no image registry here);
  // the operator then runs with that ServiceAccount's token.
  const { stdout: rendered } = await run(join(cp.bin, 'helm'), [
    'template',
    'op',
    CHART,
    '--namespace',
    OPERATOR_NS,
  ]);
  const docs = YAML.parseAllDocuments(rendered)
    .map((d) => d.toJSON())
    .filter((d) => d !== null && d.kind !== 'Deployment');
  expect(docs.map((d) => d.kind).sort()).toEqual([
    'ClusterRole',
    'ClusterRoleBinding',
    'Role',
    'RoleBinding',
    'ServiceAccount',
  ]);
  await cp.kubectl(['apply', '-n', OPERATOR_NS, '-f', '-'], docs.map((d) => YAML.stringify(d)).join('---\n'));
  const token = (
    await kubectl('create', 'token', 'op-chainnode-operator', '-n', OPERATOR_NS, '--duration=2h')
  ).trim();
  const ca = (await readFile(join(cp.dir, 'ca.crt'))).toString('base64');
  const kubeconfig = join(cp.dir, 'operator.kubeconfig');
  await writeFile(
    kubeconfig,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: cp.apiServerUrl, 'certificate-authority-data': ca } }],
      users: [{ name: 'operator', user: { token } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'operator' } }],
      'current-context': 'test',
    }),
    { mode: 0o600 },
  );
  operatorEnv = {
    KUBECONFIG: kubeconfig,
    POD_NAMESPACE: OPERATOR_NS,
    LEADER_ELECTION_ID: 'chainnode-operator',
    ...LEASE,
  };
  leader = OperatorProcess.start('operator-a', operatorEnv);
  operators.push(leader);
  await leader.waitFor((l) => l.msg === 'controller started', 30_000, 'controller started');
}, BINARIES_BUILD_TIMEOUT_MS + 120_000);

afterAll(async () => {
  await Promise.all(operators.map((o) => o.stop('SIGKILL')));
  await (cp as ControlPlane | undefined)?.stop();
}, 60_000);

describe('LedgerNetwork CRD', () => {
  it('installs with a status subresource and printer columns for orderers, peers, height, ready and age', async () => {
    const crd = await getJson('get', 'crd', 'ledgernetworks.ledger.chainnode.dev');
    const version = crd.spec.versions[0];
    expect(version.name).toBe('v1alpha1');
    expect(version.subresources).toEqual({ status: {} });
    expect(version.additionalPrinterColumns.map((c: any) => c.name)).toEqual(
      expect.arrayContaining(['Orderers', 'Peers', 'Height', 'Ready', 'Age']),
    );
    expect(crd.status.conditions.find((c: any) => c.type === 'Established').status).toBe('True');
  });

  it.each([
    [
      'zero orderers',
      { orderers: { count: 0 }, organisations: [{ name: 'org1' }] },
      'spec.orderers.count: Invalid value: 0: spec.orderers.count in body should be greater than or equal to 1',
    ],
    [
      'a negative peer count',
      { orderers: { count: 1 }, organisations: [{ name: 'org1', peers: -1 }] },
      'should be greater than or equal to 0',
    ],
    [
      'duplicate organisation names',
      { orderers: { count: 1 }, organisations: [{ name: 'org1' }, { name: 'org1' }] },
      'spec.organisations[1]: Duplicate value',
    ],
    [
      'an unknown storage mode',
      { orderers: { count: 1 }, organisations: [{ name: 'org1' }], storage: { mode: 'nfs' } },
      'spec.storage.mode: Unsupported value: "nfs": supported values: "sidecar", "external"',
    ],
    [
      'external storage without a Secret',
      { orderers: { count: 1 }, organisations: [{ name: 'org1' }], storage: { mode: 'external' } },
      'storage.externalSecretRef is required when storage.mode is external',
    ],
    [
      'an organisation name that is not a DNS label',
      { orderers: { count: 1 }, organisations: [{ name: 'Org_1' }] },
      'spec.organisations[0].name: Invalid value: "Org_1"',
    ],
  ])('kubectl apply refuses %s with a message naming the field', async (_what, spec, message) => {
    const attempt = apply({
      apiVersion: 'ledger.chainnode.dev/v1alpha1',
      kind: 'LedgerNetwork',
      metadata: { name: 'bad' },
      spec,
    });
    await expect(attempt).rejects.toThrow(KubectlError);
    await expect(attempt).rejects.toThrow(message);
  });
});

describe('reconciling the sample LedgerNetwork', () => {
  it('creates CA and node certificates in Secrets, the signed genesis in a ConfigMap, StatefulSets, Services and PDBs', async () => {
    await kubectl('apply', '-n', NS, '-f', SAMPLE);
    await kubectl('wait', '-n', NS, '--for=create', 'configmap/sample-network', `--timeout=${WAIT}`);
    await kubectl(
      'wait',
      '-n',
      NS,
      '--for=create',
      'poddisruptionbudget/sample-orderers',
      `--timeout=${WAIT}`,
    );
    const network = await getJson('get', 'ledgernetwork', 'sample', '-n', NS);
    const owned = (o: any): boolean =>
      o.metadata.ownerReferences?.some(
        (r: any) => r.uid === network.metadata.uid && r.controller === true,
      ) === true;

    const cm = await getJson('get', 'configmap', 'sample-network', '-n', NS);
    expect(owned(cm)).toBe(true);
    const networkYaml: string = cm.data['network.yaml'];
    expect(networkYaml).not.toContain('PRIVATE KEY');
    const loaded = parseNetworkFile(networkYaml, 'sample-network', new Date()); // checks every signature and certificate
    expect(loaded.config.orderers.map((o) => o.name)).toEqual([
      'sample-org1-orderer-0',
      'sample-org2-orderer-0',
      'sample-org1-orderer-1',
      'sample-org2-orderer-1',
    ]);
    expect(loaded.config.peers.map((p) => `${p.name}@${p.host}:${p.port}`)).toEqual([
      'sample-org1-peer-0@sample-org1-peer-0.sample-peers.ledger.svc:7050',
      'sample-org2-peer-0@sample-org2-peer-0.sample-peers.ledger.svc:7050',
    ]);
    expect(loaded.config.consensus.batchTimeoutMs).toBe(50);

    const secrets = (await getJson('get', 'secrets', '-n', NS, '-l', labelOf('sample'))).items;
    const kinds = secrets
      .map((s: any) => `${s.metadata.labels['ledger.chainnode.dev/secret-kind']}:${s.metadata.name}`)
      .sort();
    expect(kinds).toEqual([
      'admin:sample-org1-admin',
      'admin:sample-org2-admin',
      'ca:sample-org1-ca',
      'ca:sample-org2-ca',
      'client:sample-org1-client',
      'client:sample-org2-client',
      'node:sample-org1-orderer-0-identity',
      'node:sample-org1-orderer-1-identity',
      'node:sample-org1-peer-0-identity',
      'node:sample-org2-orderer-0-identity',
      'node:sample-org2-orderer-1-identity',
      'node:sample-org2-peer-0-identity',
      'postgres:sample-postgres',
    ]);
    expect(secrets.every(owned)).toBe(true);
    const ordererSecret = secrets.find((s: any) => s.metadata.name === 'sample-org1-orderer-0-identity');
    const cert = Buffer.from(ordererSecret.data['cert.pem'], 'base64').toString();
    expect(cert).toBe(loaded.config.orderers[0]!.cert);
    expect(Buffer.from(ordererSecret.data['key.pem'], 'base64').toString()).toContain('BEGIN PRIVATE KEY');

    const sets = (await getJson('get', 'statefulsets', '-n', NS, '-l', labelOf('sample'))).items;
    expect(Object.fromEntries(sets.map((s: any) => [s.metadata.name, s.spec.replicas]))).toEqual({
      'sample-org1-orderer': 2,
      'sample-org2-orderer': 2,
      'sample-org1-peer': 1,
      'sample-org2-peer': 1,
    });
    expect(sets.every(owned)).toBe(true);
    const peerSet = sets.find((s: any) => s.metadata.name === 'sample-org1-peer');
    const pod = peerSet.spec.template.spec;
    const node = pod.containers.find((c: any) => c.name === 'node');
    expect(node.args).toEqual([
      'node',
      'start',
      '--config',
      '/etc/chainnode/network.yaml',
      '--name',
      '$(POD_NAME)',
    ]);
    expect(node.readinessProbe.httpGet).toMatchObject({ path: '/readyz', scheme: 'HTTPS', port: 'api' });
    expect(node.livenessProbe.httpGet).toMatchObject({ path: '/healthz', scheme: 'HTTPS', port: 'api' });
    expect(node.env.find((e: any) => e.name === 'DATABASE_URL').value).toBe(
      'postgres://chainnode:$(PGPASSWORD)@127.0.0.1:5432/chainnode',
    );
    expect(pod.initContainers[0]).toMatchObject({
      name: 'postgres',
      image: 'postgres:16',
      restartPolicy: 'Always',
    });
    const projected = pod.volumes.find((v: any) => v.name === 'network').projected.sources;
    expect(projected.flatMap((s: any) => (s.secret ?? s.configMap).items.map((i: any) => i.path))).toEqual([
      'network.yaml',
      'orgs/org1/peers/sample-org1-peer-0/cert.pem',
      'orgs/org1/peers/sample-org1-peer-0/key.pem',
    ]);
    expect(peerSet.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('1Gi');

    const services = (await getJson('get', 'services', '-n', NS, '-l', labelOf('sample'))).items;
    expect(
      Object.fromEntries(
        services.map((s: any) => [s.metadata.name, s.spec.clusterIP === 'None' ? 'headless' : 'clusterIP']),
      ),
    ).toEqual({
      'sample-orderers': 'headless',
      'sample-peers': 'headless',
      'sample-gateway': 'clusterIP',
    });
    expect(services.every(owned)).toBe(true);

    const pdbs = (await getJson('get', 'poddisruptionbudgets', '-n', NS, '-l', labelOf('sample'))).items;
    expect(Object.fromEntries(pdbs.map((p: any) => [p.metadata.name, p.spec.maxUnavailable]))).toEqual({
      'sample-orderers': 1, // n = 4 tolerates f = 1
      'sample-org1-peers': 1,
      'sample-org2-peers': 1,
    });
  });

  it('gets its pods scheduled and Ready, and reaches Ready with counts and observedGeneration', async () => {
    await kubectl('wait', '-n', NS, '--for=condition=Ready', 'ledgernetwork/sample', '--timeout=180s');
    const network = await getJson('get', 'ledgernetwork', 'sample', '-n', NS);
    expect(network.status).toMatchObject({
      observedGeneration: network.metadata.generation,
      phase: 'Ready',
      readyOrderers: 4,
      readyPeers: 2,
      orderers: '4/4',
      peers: '2/2',
    });
    const condition = (t: string) => network.status.conditions.find((c: any) => c.type === t);
    expect(condition('CertificatesReady').status).toBe('True');
    expect(condition('Degraded').status).toBe('False');
    expect(condition('Progressing').status).toBe('False');
    expect(network.metadata.finalizers).toContain('ledger.chainnode.dev/finalizer');
    const pods = (await getJson('get', 'pods', '-n', NS, '-l', labelOf('sample'))).items;
    expect(pods).toHaveLength(6);
    expect(pods.every((p: any) => p.spec.nodeName?.startsWith('kwok-node-'))).toBe(true);
    const table = await kubectl('get', 'ledgernetwork', 'sample', '-n', NS);
    expect(table).toMatch(/sample\s+4\/4\s+2\/2\s+(<none>|\d+)?\s*True/);
    const events = (
      await getJson('get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=sample')
    ).items;
    expect(events.map((e: any) => e.reason)).toEqual(
      expect.arrayContaining(['GenesisCreated', 'NetworkReady']),
    );
  });

  it('recreates a deleted owned object and never regenerates the certificate material', async () => {
    const before = await getJson('get', 'secrets', '-n', NS, '-l', labelOf('sample'));
    const cmBefore = await getJson('get', 'configmap', 'sample-network', '-n', NS);
    const gateway = await getJson('get', 'service', 'sample-gateway', '-n', NS);
    await kubectl('delete', 'service', 'sample-gateway', '-n', NS, '--wait=true');
    const again = await eventually(
      () => getJson('get', 'services', '-n', NS, '--field-selector', 'metadata.name=sample-gateway'),
      (l) => l.items.length === 1,
      30_000,
      'the gateway Service recreated',
    );
    expect(again.items[0].metadata.uid).not.toBe(gateway.metadata.uid);
    const after = await getJson('get', 'secrets', '-n', NS, '-l', labelOf('sample'));
    const fingerprint = (l: any) =>
      l.items.map((s: any) => `${s.metadata.uid}:${JSON.stringify(s.data)}`).sort();
    expect(fingerprint(after)).toEqual(fingerprint(before));
    const cmAfter = await getJson('get', 'configmap', 'sample-network', '-n', NS);
    expect(cmAfter.metadata.uid).toBe(cmBefore.metadata.uid);
    expect(cmAfter.data).toEqual(cmBefore.data);
  });

  it('changes peer and orderer counts only through the ledger: with no node API reachable, nothing is resized and the status says why', async () => {
    // These pods are kwok's: no node answers, so no config transaction can be submitted, and a
    // membership change must not touch a StatefulSet (test/operator/scaling.test.ts scales).
    await kubectl(
      'patch',
      'ledgernetwork',
      'sample',
      '-n',
      NS,
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: {
          orderers: { count: 7 },
          organisations: [
            { name: 'org1', peers: 2 },
            { name: 'org2', peers: 1 },
          ],
        },
      }),
    );
    const network = await eventually(
      () => getJson('get', 'ledgernetwork', 'sample', '-n', NS),
      (n) =>
        n.status.reconfiguration?.phase === 'LedgerUnreachable' &&
        n.status.observedGeneration === n.metadata.generation,
      60_000,
      'the membership change waiting for the ledger',
    );
    expect(network.status.reconfiguration.message).toContain("membership change waits for the ledger's API");
    const progressing = network.status.conditions.find((c: any) => c.type === 'Progressing');
    expect(progressing).toMatchObject({ status: 'True', reason: 'Reconfiguring' });
    expect(network.status.desiredOrderers).toBe(7);
    const sets = (await getJson('get', 'statefulsets', '-n', NS, '-l', labelOf('sample'))).items;
    expect(Object.fromEntries(sets.map((s: any) => [s.metadata.name, s.spec.replicas]))).toEqual({
      'sample-org1-orderer': 2,
      'sample-org2-orderer': 2,
      'sample-org1-peer': 1,
      'sample-org2-peer': 1,
    });
    expect(
      (await getJson('get', 'configmaps', '-n', NS, '-l', labelOf('sample'))).items.map(
        (c: any) => c.metadata.name,
      ),
    ).toEqual(['sample-network']);

    await kubectl(
      'patch',
      'ledgernetwork',
      'sample',
      '-n',
      NS,
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: {
          orderers: { count: 4 },
          organisations: [
            { name: 'org1', peers: 1 },
            { name: 'org2', peers: 1 },
          ],
        },
      }),
    );
    await kubectl('wait', '-n', NS, '--for=condition=Ready', 'ledgernetwork/sample', '--timeout=60s');
    const back = await getJson('get', 'ledgernetwork', 'sample', '-n', NS);
    expect(back.status.reconfiguration.phase).toBe('Idle');
  });

  it('reports a resource it cannot act on as Degraded and keeps reconciling the others', async () => {
    await apply({
      apiVersion: 'ledger.chainnode.dev/v1alpha1',
      kind: 'LedgerNetwork',
      metadata: {
        name: 'broken',
        annotations: { 'ledger.chainnode.dev/loopback-address': 'not-an-address' },
      },
      spec: { orderers: { count: 1 }, organisations: [{ name: 'org1', peers: 0 }] },
    });
    await kubectl('wait', '-n', NS, '--for=condition=Degraded', 'ledgernetwork/broken', '--timeout=60s');
    const broken = await getJson('get', 'ledgernetwork', 'broken', '-n', NS);
    expect(broken.status.conditions.find((c: any) => c.type === 'Degraded')).toMatchObject({
      reason: 'InvalidSpec',
      message: expect.stringContaining('must be "127.a.b.c:basePort", got "not-an-address"'),
    });
    expect((await getJson('get', 'configmaps', '-n', NS, '-l', labelOf('broken'))).items).toHaveLength(0);
    // The operator still serves the sample: a deleted PDB comes back.
    await kubectl('delete', 'pdb', 'sample-orderers', '-n', NS, '--wait=true');
    await kubectl('wait', '-n', NS, '--for=create', 'pdb/sample-orderers', '--timeout=30s');
    expect(leader.running).toBe(true);
    await kubectl('delete', 'ledgernetwork', 'broken', '-n', NS, '--wait=true', '--timeout=60s');
  });
});

describe('leader election', () => {
  it('a second replica stays passive until the leader stops renewing and its Lease expires', async () => {
    const standby = OperatorProcess.start('operator-b', operatorEnv);
    operators.push(standby);
    await standby.waitFor(
      (l) => l.msg === 'operator starting; waiting for the leader lease',
      30_000,
      'start-up',
    );
    const startedAt = Date.now();
    // The leader renews for well over a lease duration while the standby watches.
    const lease = await eventually(
      () => getJson('get', 'lease', 'chainnode-operator', '-n', OPERATOR_NS),
      (l) => Date.parse(l.spec.renewTime) > startedAt + 2 * LEASE_DURATION_MS,
      6 * LEASE_DURATION_MS,
      'the leader renewing its lease',
    );
    expect(lease.spec.holderIdentity).toBe('operator-a');
    expect(standby.has((l) => l.msg === 'became leader' || l.msg === 'controller started')).toBe(false);

    await leader.stop('SIGKILL'); // a crash: the Lease is not released
    const killedAt = Date.now();
    await standby.waitFor((l) => l.msg === 'controller started', 6 * LEASE_DURATION_MS, 'the takeover');
    const tookOverAfterMs = Date.now() - killedAt;
    expect(tookOverAfterMs).toBeGreaterThanOrEqual(LEASE_DURATION_MS - 1_000); // renewTime precedes the kill by up to one retry period
    const taken = await getJson('get', 'lease', 'chainnode-operator', '-n', OPERATOR_NS);
    expect(taken.spec.holderIdentity).toBe('operator-b');
    expect(taken.spec.leaseTransitions).toBeGreaterThanOrEqual(1);
    leader = standby;
    // The new leader reconciles.
    await kubectl('delete', 'service', 'sample-gateway', '-n', NS, '--wait=true');
    await kubectl('wait', '-n', NS, '--for=create', 'service/sample-gateway', '--timeout=30s');
  });
});

describe('the rendered network', () => {
  const processes: ChainnodeProcess[] = [];
  let database: string | undefined;
  let work: string | undefined;

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    if (work !== undefined) await rm(work, { recursive: true, force: true });
    if (database !== undefined) {
      const admin = new pg.Client({ connectionString: testDatabaseUrl() });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).finally(() => admin.end());
    }
  }, 60_000);

  it('runs: the Secrets, ConfigMap and pod specs the operator created start nodes that connect and commit transactions', async () => {
    // A database of its own (external storage mode, URL in a Secret, as a user would give it).
    database = `operator_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: testDatabaseUrl() });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${database}"`).finally(() => admin.end());
    const url = new URL(testDatabaseUrl());
    url.pathname = `/${database}`;
    await apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'local-db' },
      stringData: { databaseUrl: url.toString() },
    });
    const { host, basePort } = randomLoopback();
    await apply({
      apiVersion: 'ledger.chainnode.dev/v1alpha1',
      kind: 'LedgerNetwork',
      metadata: {
        name: 'local',
        annotations: { 'ledger.chainnode.dev/loopback-address': `${host}:${basePort}` },
      },
      spec: {
        image: 'chainnode/chainnode:test',
        orderers: { count: 1 },
        organisations: [
          { name: 'org1', peers: 1 },
          { name: 'org2', peers: 1 },
        ],
        storage: { mode: 'external', externalSecretRef: { name: 'local-db' } },
        consensus: { batchTimeoutMs: 20, viewTimeoutMs: 1000 },
      },
    });
    await kubectl('wait', '-n', NS, '--for=condition=Ready', 'ledgernetwork/local', '--timeout=180s');

    // Materialise each pod as the kubelet would: env (fieldRef, secretKeyRef, $(VAR)), args and
    // the projected volume's files at their mount path, re-rooted under a temp dir.
    work = await mkdtemp(join(tmpdir(), 'chainnode-pods-'));
    const pods = (await getJson('get', 'pods', '-n', NS, '-l', labelOf('local'))).items;
    expect(pods).toHaveLength(3);
    const secretCache = new Map<string, any>();
    const secret = async (name: string) => {
      if (!secretCache.has(name)) secretCache.set(name, await getJson('get', 'secret', name, '-n', NS));
      return secretCache.get(name);
    };
    const names: string[] = [];
    for (const pod of pods) {
      const container = pod.spec.containers.find((c: any) => c.name === 'node');
      const root = join(work, pod.metadata.name);
      const env: Record<string, string> = {};
      const expand = (s: string) => s.replace(/\$\(([A-Z_]+)\)/g, (m, v: string) => env[v] ?? m);
      for (const e of container.env) {
        if (e.value !== undefined) env[e.name] = expand(e.value);
        else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = pod.metadata.name;
        else if (e.valueFrom?.secretKeyRef !== undefined) {
          const s = await secret(e.valueFrom.secretKeyRef.name);
          env[e.name] = Buffer.from(s.data[e.valueFrom.secretKeyRef.key], 'base64').toString();
        } else throw new Error(`unexpected env ${JSON.stringify(e)}`);
      }
      for (const mount of container.volumeMounts) {
        const volume = pod.spec.volumes.find((v: any) => v.name === mount.name);
        if (volume.projected === undefined) continue;
        for (const source of volume.projected.sources) {
          const data =
            source.configMap !== undefined
              ? Object.fromEntries(
                  Object.entries(
                    (await getJson('get', 'configmap', source.configMap.name, '-n', NS)).data,
                  ).map(([k, v]) => [k, Buffer.from(v as string)]),
                )
              : Object.fromEntries(
                  Object.entries((await secret(source.secret.name)).data).map(([k, v]) => [
                    k,
                    Buffer.from(v as string, 'base64'),
                  ]),
                );
          for (const item of (source.configMap ?? source.secret).items) {
            const path = join(root, mount.mountPath, item.path);
            await mkdir(dirname(path), { recursive: true });
            await writeFile(path, data[item.key]!, { mode: item.mode ?? 0o644 });
          }
        }
      }
      const args: string[] = container.args
        .map((a: string) => expand(a))
        .map((a: string) => (a.startsWith('/etc/chainnode/') ? join(root, a) : a));
      names.push(pod.metadata.name);
      processes.push(ChainnodeProcess.start(pod.metadata.name, args, { DATABASE_URL: env.DATABASE_URL! }));
    }
    expect(names.sort()).toEqual(['local-org1-orderer-0', 'local-org1-peer-0', 'local-org2-peer-0']);
    const ready = await Promise.all(
      processes.map((p) => p.waitFor((l) => l.msg === 'node ready', 90_000, 'node ready')),
    );
    expect(new Set(ready.map((l) => l.headHash)).size).toBe(1);
    const status = await getJson('get', 'ledgernetwork', 'local', '-n', NS);
    expect(ready[0]!.headHash).toBe(status.status.genesisHash);
    for (const proc of processes) {
      for (const other of names.filter((n) => n !== proc.label)) {
        await proc.waitFor((l) => l.msg === 'peer up' && l.peer === other, 60_000, `peer up ${other}`);
      }
    }
    // The operator reads the running nodes' /status (their API on the rendered apiPort) into the
    // status; a metadata change makes it reconcile now rather than at its next resync.
    await kubectl('annotate', 'ledgernetwork', 'local', '-n', NS, `test/nudge=${Date.now()}`, '--overwrite');
    const withHeights = await eventually(
      () => getJson('get', 'ledgernetwork', 'local', '-n', NS),
      (n) => n.status.nodes?.every((x: any) => x.reachable === true) === true,
      60_000,
      'every node reachable in the status',
    );
    expect(withHeights.status.leader).toBe('local-org1-orderer-0');
    expect(withHeights.status.height).toBeGreaterThanOrEqual(0);

    // And it works: with the admin identity the operator issued, deploy a contract and commit a
    // transaction endorsed by both organisations' peers, as a client of the gateway would.
    const networkYaml = (await getJson('get', 'configmap', 'local-network', '-n', NS)).data[
      'network.yaml'
    ] as string;
    const network = parseNetworkFile(networkYaml, 'network.yaml', new Date());
    const adminSecret = (await secret('local-org1-admin')).data;
    const peer = network.config.peers.find((p) => p.org === 'org1')!;
    const client = ChainnodeClient.connect({
      url: `https://${peer.host}:${peer.apiPort}`,
      certPem: Buffer.from(adminSecret['cert.pem'], 'base64').toString(),
      keyPem: Buffer.from(adminSecret['key.pem'], 'base64').toString(),
      caCerts: network.config.orgs.flatMap((o) => o.caCerts),
    });
    try {
      expect((await client.deploy('kv', loadSampleContract('kv').source)).validation).toBe('VALID');
      const put = await client.submit({ contract: 'kv', fn: 'put', args: ['rendered', 'works'] });
      expect(put.validation).toBe('VALID');
      expect(await client.evaluate({ contract: 'kv', fn: 'get', args: ['rendered'] })).toBe('"works"');
    } finally {
      client.close();
    }
    await kubectl('delete', 'ledgernetwork', 'local', '-n', NS, '--wait=true', '--timeout=60s');
  });
});

describe('deleting a LedgerNetwork', () => {
  it('removes everything it owned: Secrets, ConfigMap, StatefulSets, pods, volumes, Services and PDBs', async () => {
    expect(Object.values(await ownedCounts('sample')).every((n) => n > 0)).toBe(true);
    await kubectl('delete', 'ledgernetwork', 'sample', '-n', NS, '--wait=true', '--timeout=60s');
    await eventually(
      () => ownedCounts('sample'),
      (c) => Object.values(c).every((n) => n === 0),
      120_000,
      'every owned object gone',
    );
    const events = (
      await getJson('get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=sample')
    ).items;
    expect(events.map((e: any) => e.reason)).toContain('Deleting');
  });
});
