import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createOrgCa, issueNodeCert, issueUserCert, renewCert, renewOrgCa } from '../../certs/index.js';
import {
  applyConfigChanges,
  approveConfig,
  configEnvelope,
  nodeDir,
  writeConfigUpdate,
  type ConfigChange,
} from '../../node/config/index.js';
import { loadSampleContract } from '../../node/contracts/index.js';
import type { PeerRole } from '../../node/peer/index.js';
import {
  ValidationCode,
  votingOrderers,
  type NetworkConfig,
  type NodeName,
  type OrgName,
} from '../../node/protocol/index.js';
import { signProposal, signTransaction } from '../../node/sdk/index.js';
import { eventually, InProcessNetwork } from '../support/network-harness.js';

/*
 * Reconfiguration inside one process: real nodes, TLS links and PostgreSQL; config updates
 * ordered by the consensus they change, while a client keeps submitting.
 */

let net: InProcessNetwork;

async function invoke(via: PeerRole, contract: string, fn: string, args: string[]) {
  const proposal = signProposal(net.client, { contract, fn, args });
  const payload = await via.gateway.endorse(proposal);
  return via.gateway.submit(signTransaction(net.client, proposal, payload));
}

function adminsOf(orgs: readonly string[]) {
  return orgs.map((org) => {
    const admin = net.material.users.find((u) => u.org === org && u.role === 'admin');
    if (admin === undefined) throw new Error(`no admin of ${org}`);
    return admin;
  });
}

/** A config update of `config` approved by the admins of `orgs`, the first of them submitting it. */
function signedUpdate(
  config: NetworkConfig,
  changes: ConfigChange[],
  orgs: readonly string[] = ['org1', 'org2'],
) {
  const next = applyConfigChanges(config, changes);
  const admins = adminsOf(orgs);
  const approvals = admins.map((a) => approveConfig(next, { org: a.org, cert: a.certPem }, a.keyPem));
  const creator = admins[0]!;
  const envelope = configEnvelope(
    next,
    approvals,
    { org: creator.org, cert: creator.certPem },
    creator.keyPem,
  );
  return { envelope, next };
}

/** A config update approved by the admins of `orgs` (the first submits it), submitted through a peer. */
async function reconfigure(changes: ConfigChange[], orgs: readonly string[] = ['org1', 'org2']) {
  const via = net.peer();
  const { envelope, next } = signedUpdate(via.node.config, changes, orgs);
  const outcome = await via.gateway.submit(envelope);
  if (outcome.code === ValidationCode.VALID) await writeConfigUpdate(net.dir, envelope);
  return { outcome, config: next };
}

/** Every running node has applied configuration `sequence`. */
async function applied(sequence: number): Promise<void> {
  await eventually(
    () => [...net.orderers.values(), ...net.peers.values()].every((r) => r.node.config.sequence >= sequence),
    30_000,
    `every node at config sequence ${sequence}`,
  );
}

/** A steady client: one kv write after another, remembering each acknowledged (VALID) txId. */
class Load {
  readonly acknowledged: string[] = [];
  private running = true;
  private done: Promise<void> = Promise.resolve();
  errors = 0;

  start(): void {
    this.done = (async () => {
      for (let i = 0; this.running; i++) {
        try {
          const outcome = await invoke(net.peer(i % 2 === 0 ? 'peer0-org1' : 'peer0-org2'), 'kv', 'put', [
            `load-${i}`,
            String(i),
          ]);
          if (outcome.code === ValidationCode.VALID) this.acknowledged.push(outcome.txId);
        } catch {
          // A timeout during a membership change is a client's retry, not a loss: only
          // acknowledged transactions must survive.
          this.errors++;
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  async progressed(by: number): Promise<void> {
    const target = this.acknowledged.length + by;
    await eventually(
      () => this.acknowledged.length >= target,
      30_000,
      `${by} more acknowledged transactions`,
    );
  }
}

async function addOrderer(name: string, org: string): Promise<void> {
  const ca = net.material.cas.find((c) => c.org === org)!;
  const host = net.material.orderers[0]!.entry.host;
  const taken = new Set(
    [...net.material.orderers, ...net.material.peers].flatMap((n) => [n.entry.port, n.entry.apiPort]),
  );
  for (const n of net.peer().node.config.orderers) taken.add(n.port).add(n.apiPort);
  let port = Math.max(...taken) + 1;
  while (taken.has(port) || taken.has(port + 1)) port++;
  const issued = await issueNodeCert({
    ca,
    org,
    role: 'orderer',
    name,
    dnsNames: ['localhost'],
    ipAddresses: [host],
    validityDays: 30,
  });
  const entry = {
    name: name as NodeName,
    org: org as never,
    host,
    port,
    apiPort: port + 1,
    cert: issued.certPem,
  };
  const dir = nodeDir(net.dir, entry, 'orderer');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'cert.pem'), issued.certPem);
  await writeFile(join(dir, 'key.pem'), issued.keyPem, { mode: 0o600 });
  const added = await reconfigure([{ op: 'add-orderer', entry }]);
  expect(added.outcome.code).toBe(ValidationCode.VALID);
  await applied(added.config.sequence);
  await net.startNode(name);
  const learner = net.orderers.get(name)!;
  // It follows the chain (genesis does not name it) until the update that added it: a learner.
  expect(learner.membership).not.toBe('voting');
  await eventually(
    () =>
      learner.membership === 'learner' &&
      learner.node.chainHead.height >= net.peer().node.chainHead.height - 1,
    60_000,
    `${name} to catch up as a learner`,
  );
  const promoted = await reconfigure([{ op: 'promote-orderer', name }]);
  expect(promoted.outcome.code).toBe(ValidationCode.VALID);
  await applied(promoted.config.sequence);
  await eventually(() => learner.membership === 'voting', 30_000, `${name} to vote`);
}

beforeAll(async () => {
  net = await InProcessNetwork.start({
    orderers: 4,
    orgs: 2,
    logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
  });
  await eventually(
    () => [...net.peers.values()].every((p) => p.node.connectedPeers().length === 5),
    20_000,
    'full mesh',
  );
  const deployed = await invoke(net.peer(), 'lifecycle', 'deploy', [
    'kv',
    '1',
    loadSampleContract('kv').source,
  ]);
  expect(deployed.code).toBe(ValidationCode.VALID);
}, 60_000);

afterAll(async () => {
  await net.stop();
});

describe('live reconfiguration of a 4-orderer network under load', () => {
  const load = () => loadRef;
  let loadRef: Load;

  it('refuses updates that are not approved by enough admins, skip a sequence or remove every voter', async () => {
    const before = net.peer().node.config;
    const problem = async (
      changes: ConfigChange[],
      orgs: string[],
      edit?: (c: NetworkConfig) => NetworkConfig,
      options: { creator?: { org: string; certPem: string; keyPem: string } } = {},
    ) => {
      const via = net.peer();
      let next = applyConfigChanges(via.node.config, changes);
      if (edit !== undefined) next = edit(next);
      const admins = adminsOf(orgs);
      const approvals = admins.map((a) => approveConfig(next, { org: a.org, cert: a.certPem }, a.keyPem));
      const creator = options.creator ?? {
        org: admins[0]!.org,
        certPem: admins[0]!.certPem,
        keyPem: admins[0]!.keyPem,
      };
      const envelope = configEnvelope(
        next,
        approvals,
        { org: creator.org as OrgName, cert: creator.certPem },
        creator.keyPem,
      );
      return via.gateway.submit(envelope).then(
        () => 'accepted',
        (e: unknown) => (e as Error).message,
      );
    };
    expect(await problem([{ op: 'set-consensus', params: { batchTxMax: 100 } }], ['org1'])).toMatch(
      /do not satisfy the admin policy/,
    );
    expect(
      await problem([{ op: 'set-consensus', params: { batchTxMax: 100 } }], ['org1', 'org2'], (c) => ({
        ...c,
        sequence: c.sequence + 1,
      })),
    ).toMatch(/must be 1/);
    const voters = votingOrderers(before.orderers).map((o) => o.name);
    expect(
      await problem(
        voters.map((name) => ({ op: 'remove-node', name })),
        ['org1', 'org2'],
      ),
    ).toMatch(/leaves no voting orderer/);
    expect(
      await problem(
        [
          { op: 'remove-node', name: 'orderer0' },
          { op: 'remove-node', name: 'orderer1' },
        ],
        ['org1', 'org2'],
      ),
    ).toMatch(/changes 2 voting orderers at once/);
    // Signed by an admin whose approval is not among the approvals.
    const org1Ca = net.material.cas.find((c) => c.org === 'org1')!;
    const outsider = await issueUserCert({
      ca: org1Ca,
      org: 'org1',
      role: 'admin',
      name: 'admin2',
      validityDays: 30,
    });
    expect(
      await problem([{ op: 'set-consensus', params: { batchTxMax: 100 } }], ['org1', 'org2'], undefined, {
        creator: { org: 'org1', ...outsider },
      }),
    ).toMatch(/the creator \(an admin of org1\) is not one of the approving admins/);
    // org2 trusting an unrelated CA: its admin (and nodes) would no longer be trusted.
    const stranger = await createOrgCa({ org: 'org2', validityDays: 30 });
    expect(
      await problem([{ op: 'set-org-cas', org: 'org2', caCerts: [stranger.certPem] }], ['org1', 'org2']),
    ).toMatch(/org org2 would be left without an admin/);
    // Nothing applied.
    expect(net.peer().node.config).toEqual(before);
  }, 60_000);

  it('grows to 6 orderers (learner, catch-up, promotion) while transactions keep committing', async () => {
    loadRef = new Load();
    load().start();
    await load().progressed(5);
    await addOrderer('orderer4', 'org1');
    await load().progressed(5);
    await addOrderer('orderer5', 'org2');
    await load().progressed(5);
    const voting = votingOrderers(net.peer().node.config.orderers).map((o) => o.name);
    expect(voting).toEqual(['orderer0', 'orderer1', 'orderer2', 'orderer3', 'orderer4', 'orderer5']);
    // The new orderers vote: their cores commit blocks too.
    const height = net.peer().node.chainHead.height;
    await load().progressed(3);
    for (const name of ['orderer4', 'orderer5']) {
      expect(net.orderers.get(name)!.metrics()?.height ?? 0).toBeGreaterThan(height - 1);
    }
  }, 180_000);

  it('changes consensus parameters at the update block: the next epoch cuts smaller batches', async () => {
    const changed = await reconfigure([{ op: 'set-consensus', params: { batchTxMax: 2 } }]);
    expect(changed.outcome.code).toBe(ValidationCode.VALID);
    await applied(changed.config.sequence);
    const from = net.peer().node.chainHead.height;
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, (_, i) => invoke(net.peer(), 'kv', 'put', [`batch-${i}`, String(i)])),
    );
    expect(outcomes.every((o) => o.code === ValidationCode.VALID)).toBe(true);
    const to = net.peer().node.chainHead.height;
    for (let h = from + 1; h <= to; h++) {
      const block = await net.peer().node.store.getBlock(h);
      expect(block?.block.transactions.length).toBeLessThanOrEqual(2);
    }
    expect(to - from).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it('refuses the loser of two updates drafted from one configuration with a reason, and applies the winner only', async () => {
    const base = net.peer().node.config;
    const first = signedUpdate(base, [{ op: 'set-consensus', params: { batchTxMax: 10 } }]);
    const second = signedUpdate(base, [{ op: 'set-consensus', params: { batchTxMax: 20 } }]);
    const outcomes = await Promise.allSettled([
      net.peer('peer0-org1').gateway.submit(first.envelope),
      net.peer('peer0-org2').gateway.submit(second.envelope),
    ]);
    const won = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const lost = outcomes.flatMap((o) => (o.status === 'rejected' ? [(o.reason as Error).message] : []));
    expect(won).toHaveLength(1);
    expect(won[0]!.code).toBe(ValidationCode.VALID);
    expect(lost).toHaveLength(1);
    // Both passed the gateways' checks (submitted at once): the loser learns of the winner's commit.
    expect(lost[0]).toMatch(
      /conflicts with a concurrent change: configuration sequence \d+ was put in force by another update/,
    );
    const winner = won[0]!.txId === first.envelope.payload.txId ? first : second;
    await writeConfigUpdate(net.dir, winner.envelope);
    await applied(winner.next.sequence);
    for (const role of [...net.orderers.values(), ...net.peers.values()]) {
      if (role.node.config.sequence > 0) expect(role.node.config).toEqual(winner.next);
    }
    await load().progressed(3);
  }, 60_000);

  it("renews an organisation's CA live: trusted as [renewed, old], then [renewed]", async () => {
    const ca = net.material.cas.find((c) => c.org === 'org2')!;
    const renewed = await renewOrgCa({ ca, validityDays: 3650 });
    for (const caCerts of [[renewed, ca.certPem], [renewed]]) {
      const changed = await reconfigure([{ op: 'set-org-cas', org: 'org2', caCerts }]);
      expect(changed.outcome.code).toBe(ValidationCode.VALID);
      await applied(changed.config.sequence);
      // org2's nodes, admin and client, all issued under the old CA certificate, keep working.
      await load().progressed(5);
    }
    expect(net.peer().node.config.orgs.find((o) => o.name === 'org2')!.caCerts).toEqual([renewed]);
  }, 120_000);

  it('renews certificates live (same key) and keeps ordering', async () => {
    for (const name of ['orderer1', 'peer0-org2']) {
      const config = net.peer().node.config;
      const entry = [...config.orderers, ...config.peers].find((n) => n.name === name)!;
      const material = [...net.material.orderers, ...net.material.peers].find((n) => n.entry.name === name)!;
      const ca = net.material.cas.find((c) => c.org === entry.org)!;
      const cert = await renewCert({ ca, certPem: entry.cert, keyPem: material.keyPem, validityDays: 60 });
      const renewed = await reconfigure([{ op: 'replace-cert', name, cert }]);
      expect(renewed.outcome.code).toBe(ValidationCode.VALID);
      await applied(renewed.config.sequence);
      await load().progressed(5);
    }
  }, 120_000);

  it('shrinks back to 4 orderers, removing a voting orderer at a time; a removed one orders nothing', async () => {
    for (const name of ['orderer0', 'orderer5']) {
      const removed = await reconfigure([{ op: 'remove-node', name }]);
      expect(removed.outcome.code).toBe(ValidationCode.VALID);
      await applied(removed.config.sequence);
      const gone = net.orderers.get(name)!;
      await eventually(() => gone.membership === 'not-member', 10_000, `${name} out`);
      // Disconnected, and refused when it dials again (its reconnects keep failing).
      await eventually(() => gone.node.connectedPeers().length === 0, 10_000, `${name} disconnected`);
      expect(gone.metrics()).toBeUndefined();
      await net.stopNode(name);
      await load().progressed(5);
    }
    await load().stop();
    expect(votingOrderers(net.peer().node.config.orderers).map((o) => o.name)).toEqual([
      'orderer1',
      'orderer2',
      'orderer3',
      'orderer4',
    ]);
    // Zero acknowledged transactions lost, one chain everywhere.
    const head = net.peer().node.chainHead;
    await eventually(
      () =>
        [...net.orderers.values(), ...net.peers.values()].every(
          (r) => r.node.chainHead.height >= head.height,
        ),
      30_000,
      'every node at the same height',
    );
    for (const role of [...net.peers.values()]) {
      const known = await role.node.store.knownTxIds(load().acknowledged);
      expect(known.size).toBe(load().acknowledged.length);
    }
    for (const role of [...net.orderers.values(), ...net.peers.values()]) {
      const block = await role.node.store.getBlock(head.height);
      expect(block?.hash).toBe(head.hash);
    }
    expect(load().acknowledged.length).toBeGreaterThan(30);
  }, 180_000);
});
