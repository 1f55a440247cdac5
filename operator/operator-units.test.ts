import { describe, expect, it } from '@jest/globals';
import { createOrgCa, issueNodeCert, renewOrgCa, verifyChain } from '../certs/index.js';
import { nextCaStep, sameCa } from './ca-renewal.js';
import { completeIdentities, MaterialError, type Identities } from './material.js';
import { certificateMatchesKey, changeOf } from './reconciler.js';
import { ordererPdb, statefulSet, workloadObjects } from './builders.js';
import { addressesFor, planNetwork } from './plan.js';
import { WorkQueue } from './queue.js';
import { nextStep, quorumShortfall, rolloutInProgress, type ReconfigInput } from './reconfigure.js';
import type { NetworkConfig, Organisation } from '../node/protocol/index.js';
import { ledgerNetworkSpecSchema, parseLedgerNetwork } from './spec.js';
import { computeStatus, type Observation } from './status.js';

const owner = { name: 'net', namespace: 'ns', uid: 'u-1' };
const spec = ledgerNetworkSpecSchema.parse({
  orderers: { count: 4 },
  organisations: [{ name: 'org1', peers: 2 }, { name: 'org2' }],
});

describe('plan and builders', () => {
  it('spreads orderers over the organisations and names nodes after their pods', () => {
    const plan = planNetwork('net', 'ns', spec);
    expect(plan.orderers.map((o) => o.name)).toEqual([
      'net-org1-orderer-0',
      'net-org2-orderer-0',
      'net-org1-orderer-1',
      'net-org2-orderer-1',
    ]);
    expect(plan.peers.map((p) => p.name)).toEqual(['net-org1-peer-0', 'net-org1-peer-1', 'net-org2-peer-0']);
    expect(plan.groups.map((g) => `${g.statefulSet}=${g.replicas}`)).toEqual([
      'net-org1-orderer=2',
      'net-org1-peer=2',
      'net-org2-orderer=2',
      'net-org2-peer=1',
    ]);
  });

  it('lets a PodDisruptionBudget evict at most f = floor((n-1)/3) orderers', () => {
    expect([1, 3, 4, 6, 7, 10].map((n) => ordererPdb(owner, n).spec?.maxUnavailable)).toEqual([
      0, 0, 1, 1, 2, 3,
    ]);
  });

  it('builds identical objects from identical input (reconcile twice, nothing changes)', () => {
    const plan = planNetwork('net', 'ns', spec);
    expect(JSON.stringify(workloadObjects(owner, spec, plan))).toBe(
      JSON.stringify(workloadObjects(owner, spec, planNetwork('net', 'ns', spec))),
    );
  });

  it('reads the database URL from the external Secret in external mode, with no sidecar or volume claim', () => {
    const external = ledgerNetworkSpecSchema.parse({
      ...spec,
      storage: { mode: 'external', externalSecretRef: { name: 'db' } },
    });
    const set = statefulSet(
      owner,
      external,
      planNetwork('net', 'ns', external),
      planNetwork('net', 'ns', external).groups[0]!,
    );
    const node = set.spec?.template.spec?.containers[0];
    expect(node?.env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef).toEqual({
      name: 'db',
      key: 'databaseUrl',
    });
    expect(set.spec?.template.spec?.initContainers).toEqual([]);
    expect(set.spec?.volumeClaimTemplates).toEqual([]);
  });

  it('reports every problem of a spec that slipped past the schema instead of throwing', () => {
    const parsed = parseLedgerNetwork({
      metadata: { name: 'a-name-that-is-far-too-long', namespace: 'ns', uid: 'u' },
      spec: {
        orderers: { count: 0 },
        organisations: [{ name: 'x' }, { name: 'x' }],
        storage: { mode: 'nfs' },
      },
    });
    expect(parsed.spec).toBeUndefined();
    expect(parsed.specProblems.join('\n')).toMatch(/metadata.name must be at most 20/);
    expect(parsed.specProblems.join('\n')).toMatch(/spec.orderers.count/);
    expect(parsed.specProblems.join('\n')).toMatch(/organisation "x" appears twice/);
    expect(parsed.specProblems.join('\n')).toMatch(/spec.storage.mode/);
  });
});

describe('status', () => {
  const observation = (ready: boolean, refusals: string[] = []): Observation => ({
    generation: 3,
    networkId: 'net',
    genesisHash: 'ab',
    desiredOrderers: 1,
    desiredPeers: 1,
    nodes: [
      {
        name: 'o',
        role: 'orderer',
        org: 'org1',
        podReady: ready,
        inGenesis: true,
        report: { name: 'o', role: 'orderer', org: 'org1', height: 7, leader: 'o', healthy: true },
      },
      {
        name: 'p',
        role: 'peer',
        org: 'org1',
        podReady: true,
        inGenesis: true,
        unreachable: 'status unavailable: refused',
      },
    ],
    refusals,
    certificatesReady: true,
    certificatesMessage: 'ok',
  });

  it('is Ready with counts, height and leader when every node is ready', () => {
    const s = computeStatus(observation(true), [], new Date('2026-01-01T00:00:00Z'));
    expect(s).toMatchObject({
      phase: 'Ready',
      observedGeneration: 3,
      orderers: '1/1',
      peers: '1/1',
      height: 7,
      leader: 'o',
    });
    expect(s.conditions.map((c) => `${c.type}=${c.status}`)).toEqual([
      'Ready=True',
      'Progressing=False',
      'Degraded=False',
      'CertificatesReady=True',
    ]);
    expect(s.nodes.find((n) => n.name === 'p')).toMatchObject({
      reachable: false,
      message: 'status unavailable: refused',
    });
  });

  it('keeps lastTransitionTime while a condition holds and moves it when it flips', () => {
    const first = computeStatus(observation(true), [], new Date('2026-01-01T00:00:00Z'));
    const same = computeStatus(observation(true), first.conditions, new Date('2026-01-01T01:00:00Z'));
    expect(same.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    const flipped = computeStatus(observation(false), same.conditions, new Date('2026-01-01T02:00:00Z'));
    expect(flipped.conditions.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      lastTransitionTime: '2026-01-01T02:00:00Z',
    });
  });

  it('is Degraded, not Ready, while a spec change is refused', () => {
    const s = computeStatus(observation(true, ['orderers.count 7 differs']), [], new Date());
    expect(s.phase).toBe('Degraded');
    expect(s.conditions.find((c) => c.type === 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'SpecChangeRefused',
      message: 'orderers.count 7 differs',
    });
    expect(s.conditions.find((c) => c.type === 'Ready')?.status).toBe('False');
  });
});

describe('work queue', () => {
  it('holds a key once however often it is added, and re-runs a key added while it was processed', async () => {
    const q = new WorkQueue({ ratePerS: 1000, burst: 1000 });
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    const first = await q.get();
    expect(first).toBe('a');
    q.add('a'); // while processing: marked dirty, not queued twice
    expect(q.length).toBe(1);
    q.done('a');
    expect(await q.get()).toBe('b');
    expect(await q.get()).toBe('a');
    q.shutDown();
    expect(await q.get()).toBeUndefined();
  });

  it('backs a failing key off exponentially up to the cap, and forgets on success', () => {
    const q = new WorkQueue({ backoffBaseMs: 100, backoffMaxMs: 1_000 });
    expect([1, 2, 3, 4, 5, 6].map(() => q.addRateLimited('k'))).toEqual([100, 200, 400, 800, 1000, 1000]);
    q.forget('k');
    expect(q.addRateLimited('k')).toBe(100);
    q.shutDown();
  });
});

describe('membership steps (reconfigure.ts)', () => {
  const orderer = (name: string, learner = false) => ({
    name,
    org: name.includes('org1') ? 'org1' : 'org2',
    host: 'h',
    port: 1,
    apiPort: 2,
    cert: 'c',
    ...(learner ? { learner: true as const } : {}),
  });
  const four = ['net-org1-orderer-0', 'net-org2-orderer-0', 'net-org1-orderer-1', 'net-org2-orderer-1'];
  const config = (orderers: ReturnType<typeof orderer>[], peers: string[] = []) =>
    ({
      orderers,
      peers: peers.map((p) => ({ ...orderer(p) })),
    }) as unknown as NetworkConfig;
  const input = (over: Partial<ReconfigInput>): ReconfigInput => ({
    network: 'net',
    orgs: ['org1', 'org2'],
    desiredOrderers: 4,
    desiredPeers: new Map(),
    config: config(four.map((n) => orderer(n))),
    podReady: () => true,
    heights: new Map(),
    rollouts: [],
    ...over,
  });

  it('adds the next round-robin orderer as a learner, then promotes it only once caught up', () => {
    expect(nextStep(input({ desiredOrderers: 5 }))).toMatchObject({
      kind: 'submit',
      op: 'add-orderer',
      node: 'net-org1-orderer-2',
    });
    const withLearner = config([...four.map((n) => orderer(n)), orderer('net-org1-orderer-2', true)]);
    expect(
      nextStep(
        input({ desiredOrderers: 5, config: withLearner, podReady: (n) => n !== 'net-org1-orderer-2' }),
      ),
    ).toMatchObject({ kind: 'wait', reason: 'waiting for its pod to be ready' });
    const heights = new Map<string, number>([
      ...four.map((n) => [n, 20] as const),
      ['net-org1-orderer-2', 10] as const,
    ]);
    expect(nextStep(input({ desiredOrderers: 5, config: withLearner, heights }))).toMatchObject({
      kind: 'wait',
      reason: 'catching up: height 10 of 20',
    });
    heights.set('net-org1-orderer-2', 19);
    expect(nextStep(input({ desiredOrderers: 5, config: withLearner, heights }))).toMatchObject({
      kind: 'submit',
      op: 'promote-orderer',
    });
    // Not promoted while too few voters are ready for the larger quorum (5 needs 4).
    expect(
      nextStep(
        input({
          desiredOrderers: 5,
          config: withLearner,
          heights,
          podReady: (n) => n !== 'net-org1-orderer-0' && n !== 'net-org2-orderer-0',
        }),
      ),
    ).toMatchObject({ kind: 'wait' });
    // A learner the spec no longer wants is removed, never promoted.
    expect(nextStep(input({ desiredOrderers: 4, config: withLearner, heights }))).toMatchObject({
      kind: 'submit',
      op: 'remove-node',
      node: 'net-org1-orderer-2',
    });
  });

  it('removes the highest-index orderer, only if the others still make the smaller quorum', () => {
    expect(nextStep(input({ desiredOrderers: 3 }))).toMatchObject({
      kind: 'submit',
      op: 'remove-node',
      node: 'net-org2-orderer-1',
    });
    expect(
      nextStep(
        input({
          desiredOrderers: 3,
          podReady: (n) => n !== 'net-org1-orderer-0' && n !== 'net-org2-orderer-0',
        }),
      ),
    ).toMatchObject({ kind: 'wait' });
  });

  it('changes peers after orderers, one at a time, and is idle when the membership matches', () => {
    const peers = config(
      four.map((n) => orderer(n)),
      ['net-org1-peer-0', 'net-org1-peer-1'],
    );
    expect(
      nextStep(
        input({
          config: peers,
          desiredPeers: new Map([
            ['org1', 1],
            ['org2', 1],
          ]),
        }),
      ),
    ).toMatchObject({ kind: 'submit', op: 'remove-node', node: 'net-org1-peer-1' });
    expect(
      nextStep(
        input({
          config: peers,
          desiredPeers: new Map([
            ['org1', 2],
            ['org2', 1],
          ]),
        }),
      ),
    ).toMatchObject({ kind: 'submit', op: 'add-peer', node: 'net-org2-peer-0', org: 'org2' });
    expect(nextStep(input({ config: peers, desiredPeers: new Map([['org1', 2]]) }))).toEqual({
      kind: 'idle',
    });
  });

  it('takes no step while an orderer StatefulSet is still rolling, whatever the step', () => {
    const rollouts = ['net-org1-orderer: 1 of 3 pod(s) at the new template'];
    const withLearner = config([...four.map((n) => orderer(n)), orderer('net-org1-orderer-2', true)]);
    const caughtUp = new Map([...four, 'net-org1-orderer-2'].map((n) => [n, 20] as const));
    for (const over of [
      { desiredOrderers: 5 }, // add
      { desiredOrderers: 5, config: withLearner, heights: caughtUp }, // promote
      { desiredOrderers: 3 }, // remove
      { desiredPeers: new Map([['org2', 1]]) }, // add a peer
    ]) {
      expect(nextStep(input(over))).toMatchObject({ kind: 'submit' });
      expect(nextStep(input({ ...over, rollouts }))).toEqual({
        kind: 'wait',
        reason: `waiting for the orderer rollout to finish (${rollouts[0]})`,
      });
    }
  });

  it("adds or removes an orderer only if the quorum survives its group's roll (one voter restarting)", () => {
    // 4 voters, quorum 3: adding org1's learner rolls org1's group, so all 4 must be ready.
    const oneDown = (n: string) => n !== 'net-org2-orderer-1';
    expect(nextStep(input({ desiredOrderers: 5, podReady: oneDown }))).toMatchObject({
      kind: 'wait',
      node: 'net-org1-orderer-2',
      reason: 'adding waits: 3 voting orderer(s) ready, 1 of them to restart; the quorum of 4 is 3',
    });
    expect(nextStep(input({ desiredOrderers: 5 }))).toMatchObject({ kind: 'submit', op: 'add-orderer' });
    // 7 -> 6: the other 6 (quorum 4 of 6) less org2's restarting one must still make it.
    const seven = [...four, 'net-org1-orderer-2', 'net-org2-orderer-2', 'net-org1-orderer-3'];
    const downTwo = (n: string) => n !== 'net-org1-orderer-0' && n !== 'net-org2-orderer-0';
    const at7 = config(seven.map((n) => orderer(n)));
    expect(nextStep(input({ desiredOrderers: 6, config: at7, podReady: downTwo }))).toMatchObject({
      kind: 'wait',
      node: 'net-org1-orderer-3',
    });
    expect(
      nextStep(input({ desiredOrderers: 6, config: at7, podReady: (n) => n !== 'net-org1-orderer-0' })),
    ).toMatchObject({ kind: 'submit', op: 'remove-node', node: 'net-org1-orderer-3' });
  });

  it('counts quorum shortfalls with the protocol quorum, asking all voters when there is no fault tolerance', () => {
    expect(quorumShortfall(4, 4, 1)).toBeUndefined();
    expect(quorumShortfall(3, 4, 1)).toMatch(/quorum of 4 is 3/);
    expect(quorumShortfall(3, 4, 0)).toBeUndefined();
    expect(quorumShortfall(5, 7, 0)).toBeUndefined();
    expect(quorumShortfall(5, 7, 1)).toMatch(/quorum of 7 is 5/);
    expect(quorumShortfall(3, 3, 1)).toBeUndefined(); // 3 orderers: quorum 2
    expect(quorumShortfall(2, 3, 1)).toMatch(/quorum of 3 is 2/);
    // 1 or 2 orderers: the quorum is all of them, no restart can keep it.
    expect(quorumShortfall(2, 2, 1)).toBeUndefined();
    expect(quorumShortfall(1, 2, 0)).toMatch(
      /1 of 2 voting orderer\(s\) ready; with no fault tolerance every one must be/,
    );
  });
});

describe('the change an update makes (reconciler.ts)', () => {
  const entry = (name: string, extra: object = {}) => ({
    name,
    org: 'org1',
    host: 'h',
    port: 1,
    apiPort: 2,
    cert: 'c',
    ...extra,
  });
  const cfg = (orderers: object[], peers: object[] = [], caCerts = ['ca']) =>
    ({ orgs: [{ name: 'org1', caCerts }], orderers, peers }) as unknown as NetworkConfig;
  const base = cfg([entry('o0'), entry('o1')], [entry('p0')]);
  it('names the node and the op of a pending update, never a description', () => {
    expect(
      changeOf(base, cfg([entry('o0'), entry('o1'), entry('o2', { learner: true })], [entry('p0')])),
    ).toMatchObject({ op: 'add-orderer', node: 'o2' });
    expect(changeOf(cfg([entry('o0'), entry('o1', { learner: true })], [entry('p0')]), base)).toMatchObject({
      op: 'promote-orderer',
      node: 'o1',
    });
    expect(changeOf(base, cfg([entry('o0')], [entry('p0')]))).toMatchObject({
      op: 'remove-node',
      node: 'o1',
    });
    expect(changeOf(base, cfg([entry('o0'), entry('o1')], [entry('p0'), entry('p1')]))).toMatchObject({
      op: 'add-peer',
      node: 'p1',
    });
    expect(changeOf(base, cfg([entry('o0'), entry('o1', { cert: 'renewed' })], [entry('p0')]))).toMatchObject(
      {
        op: 'replace-cert',
        node: 'o1',
      },
    );
    expect(changeOf(base, cfg([entry('o0'), entry('o1')], [entry('p0')], ['ca2', 'ca']))).toEqual({
      op: 'set-org-cas',
      label: 'org1 (2 CA certificate(s))',
    });
    expect(changeOf(base, base)).toBeUndefined();
  });
});

describe('StatefulSet rollouts (reconfigure.ts)', () => {
  const done = {
    metadata: { name: 'net-org1-orderer', generation: 4 },
    spec: { replicas: 3 },
    status: {
      observedGeneration: 4,
      replicas: 3,
      readyReplicas: 3,
      updatedReplicas: 3,
      currentRevision: 'r2',
      updateRevision: 'r2',
    },
  };
  it('is complete once the controller saw the spec and every pod runs the current template', () => {
    expect(rolloutInProgress(done)).toBeUndefined();
  });
  it('is in progress while the spec is unobserved, pods are missing or extra, not updated, or not yet Ready', () => {
    const cases = [
      [{ ...done, status: { ...done.status, observedGeneration: 3 } }, /not yet seen generation 4/],
      [{ ...done, status: { ...done.status, observedGeneration: undefined } }, /not yet seen/],
      [{ ...done, status: { ...done.status, replicas: 4 } }, /4 pod\(s\), 3 wanted/],
      [{ ...done, status: { ...done.status, updatedReplicas: 1 } }, /1 of 3 pod\(s\) at the new template/],
      [
        { ...done, status: { ...done.status, readyReplicas: 2, currentRevision: 'r1' } },
        /rolling to r2, 2 of 3 pod\(s\) ready/,
      ],
    ] as const;
    for (const [set, why] of cases) expect(rolloutInProgress(set)).toMatch(why);
  });
});

describe('identities (material.ts, reconciler.ts)', () => {
  const small = ledgerNetworkSpecSchema.parse({ orderers: { count: 1 }, organisations: [{ name: 'org1' }] });
  const validity = { caValidityDays: 3650, nodeValidityDays: 365 };
  const now = new Date('2026-01-01T00:00:00Z');

  it('never issues a new key for a node the configuration already certifies; only for a new node', async () => {
    const plan = planNetwork('net', 'ns', small);
    const addressOf = addressesFor('net', 'ns', {});
    const first = await completeIdentities(
      { cas: new Map(), nodes: new Map(), users: new Map() },
      plan,
      addressOf,
      validity,
      { mayCreateCas: true, now },
    );
    const lost: Identities = { ...first.identities, nodes: new Map() };
    const member = plan.orderers[0]!.name;
    await expect(
      completeIdentities(lost, plan, addressOf, validity, {
        mayCreateCas: false,
        now,
        members: new Set([member]),
      }),
    ).rejects.toThrow(
      new MaterialError(
        `the identity of node "${member}" is missing; the configuration certifies its key, so a new one cannot replace it (restore its Secret, or rotate its key with replace-cert)`,
      ),
    );
    const again = await completeIdentities(lost, plan, addressOf, validity, {
      mayCreateCas: false,
      now,
      members: new Set(),
    });
    expect(again.created.nodes).toEqual(plan.orderers.concat(plan.peers).map((n) => n.name));
  });

  it('tells whether a certificate certifies a key', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 10, now });
    const common = {
      ca,
      org: 'org1',
      role: 'peer' as const,
      dnsNames: ['p'],
      ipAddresses: [],
      validityDays: 5,
      now,
    };
    const a = await issueNodeCert({ ...common, name: 'a' });
    const b = await issueNodeCert({ ...common, name: 'b' });
    expect(certificateMatchesKey(a.certPem, a.keyPem)).toBe(true);
    expect(certificateMatchesKey(a.certPem, b.keyPem)).toBe(false);
  });
});

describe('CA renewal steps (ca-renewal.ts)', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const day = 24 * 3600 * 1000;
  const at = (days: number) => new Date(t0.getTime() + days * day);
  const org = (name: string, caCerts: string[]) => ({ name, caCerts }) as Organisation;

  it('renews a due CA with its key and name, trusts [renewed, old], stores it, then trusts [renewed]', async () => {
    const old = await createOrgCa({ org: 'org1', validityDays: 30, now: t0 });
    const cas = new Map([['org1', old]]);
    expect(nextCaStep([org('org1', [old.certPem])], cas, at(19), 1 / 3)).toBeUndefined();
    expect(nextCaStep([org('org1', [old.certPem])], cas, at(21), 1 / 3)).toEqual({
      kind: 'renew',
      org: 'org1',
      ca: old,
    });
    const renewed = await renewOrgCa({ ca: old, validityDays: 30, now: at(21) });
    expect(sameCa(renewed, old.certPem)).toBe(true);
    // Committed [renewed, old]: the Secret takes the renewed certificate.
    expect(nextCaStep([org('org1', [renewed, old.certPem])], cas, at(21), 1 / 3)).toEqual({
      kind: 'store',
      org: 'org1',
      certPem: renewed,
    });
    // Stored: the old version goes; a CA certificate of another key stays.
    const other = await createOrgCa({ org: 'org1', validityDays: 30, now: t0 });
    const stored = new Map([['org1', { certPem: renewed, keyPem: old.keyPem }]]);
    expect(nextCaStep([org('org1', [renewed, old.certPem, other.certPem])], stored, at(21), 1 / 3)).toEqual({
      kind: 'drop-old',
      org: 'org1',
      caCerts: [renewed, other.certPem],
    });
    expect(nextCaStep([org('org1', [renewed])], stored, at(21), 1 / 3)).toBeUndefined();
    // Every certificate the CA issued before still verifies against the renewed one alone, so
    // dropping the old one from the configuration cuts nobody off.
    const leaf = await issueNodeCert({
      ca: old,
      org: 'org1',
      role: 'peer',
      name: 'p',
      dnsNames: ['p'],
      ipAddresses: [],
      validityDays: 30,
      now: at(1),
    });
    expect(verifyChain(leaf.certPem, [renewed], { at: at(25) })).toMatchObject({ org: 'org1', role: 'peer' });
  });

  it('stores before it drops and drops before it renews, and renews the CA closest to expiry first', async () => {
    const a = await createOrgCa({ org: 'a', validityDays: 30, now: t0 });
    const b = await createOrgCa({ org: 'b', validityDays: 30, now: at(-1) });
    const cas = new Map([
      ['a', a],
      ['b', b],
    ]);
    expect(nextCaStep([org('a', [a.certPem]), org('b', [b.certPem])], cas, at(21), 1 / 3)).toMatchObject({
      kind: 'renew',
      org: 'b',
    });
    const renewedA = await renewOrgCa({ ca: a, validityDays: 30, now: at(21) });
    expect(
      nextCaStep([org('a', [renewedA, a.certPem]), org('b', [b.certPem])], cas, at(21), 1 / 3),
    ).toMatchObject({ kind: 'store', org: 'a' });
  });

  it('refuses to act for an organisation whose trusted CA certificates are all of another key', async () => {
    const kept = await createOrgCa({ org: 'org1', validityDays: 30, now: t0 });
    const other = await createOrgCa({ org: 'org1', validityDays: 30, now: t0 });
    expect(nextCaStep([org('org1', [other.certPem])], new Map([['org1', kept]]), at(1), 1 / 3)).toMatchObject(
      {
        kind: 'mismatch',
        org: 'org1',
      },
    );
  });
});
