import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { fakeCrypto } from '../../test/simulator/fake-crypto.js';
import { makeTestNetwork, sampleTrade, tradeEnvelope } from '../../test/support/chain-fixture.js';
import {
  blockHash,
  buildBlock,
  commitVoteBytes,
  PROTOCOL_VERSION,
  ProtocolError,
  SigningDomain,
  type Block,
  type CommitCertificate,
  type ConsensusParams,
  type Envelope,
  type Hash,
  type NodeName,
  type SignatureHex,
} from '../protocol/index.js';
import { ConsensusCore } from './core.js';
import {
  decodeConsensusMessage,
  encodeConsensusMessage,
  signMessage,
  type Checkpoint,
  type ConsensusMessage,
  type PrePrepare,
  type Prepare,
  type Suspect,
  type Unsigned,
} from './messages.js';
import type { BlockValidator, FinalBlock, PersistRecord, Ready } from './types.js';

const PARAMS: ConsensusParams = {
  batchTxMax: 2,
  batchBytesMax: 64 * 1024,
  batchTimeoutMs: 10,
  viewTimeoutMs: 100,
  checkpointInterval: 2,
  window: 3,
};
const TICK_MS = 10;

let envelopes: Envelope[];
let genesis: Block;

beforeAll(async () => {
  const net = await makeTestNetwork({ orderers: 4 });
  genesis = net.genesis;
  envelopes = Array.from({ length: 20 }, (_, i) => tradeEnvelope(net, sampleTrade(i)));
});

const names = (n: number): NodeName[] => Array.from({ length: n }, (_, i) => `orderer${i}` as NodeName);

function makeCore(
  self: NodeName,
  orderers: readonly NodeName[],
  options: { validateBlock?: BlockValidator; records?: PersistRecord[] } = {},
): ConsensusCore {
  const core = new ConsensusCore(
    {
      self,
      orderers,
      params: PARAMS,
      tickMs: TICK_MS,
      epochStart: 0,
      crypto: fakeCrypto(self),
      validateBlock: options.validateBlock ?? (() => null),
      validateEnvelope: () => null,
    },
    { head: { block: genesis, certificate: null }, records: options.records ?? [], recentTxIds: [] },
  );
  // The clock reaches the genesis time, so proposals carry plausible timestamps.
  core.step({ type: 'tick', nowMs: genesis.header.timestampMs });
  return core;
}

/** A lossless in-memory network that delivers every message, in order, until quiet. */
class Cluster {
  readonly cores: Map<NodeName, ConsensusCore>;
  readonly commits = new Map<NodeName, FinalBlock[]>();
  readonly persisted = new Map<NodeName, PersistRecord[]>();
  readonly down = new Set<NodeName>();
  /** Messages for which this returns true are lost. */
  drop: (from: NodeName, to: NodeName, message: ConsensusMessage) => boolean = () => false;
  now = genesis.header.timestampMs;

  constructor(readonly orderers: readonly NodeName[]) {
    this.cores = new Map(orderers.map((name) => [name, makeCore(name, orderers)]));
    for (const name of orderers) {
      this.commits.set(name, []);
      this.persisted.set(name, []);
    }
  }

  core(name: NodeName): ConsensusCore {
    const core = this.cores.get(name);
    if (core === undefined) throw new Error(name);
    return core;
  }

  step(name: NodeName, event: Parameters<ConsensusCore['step']>[0]): void {
    if (this.down.has(name)) return;
    const queue: [NodeName, Ready][] = [[name, this.core(name).step(event)]];
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      const [from, ready] = item;
      this.persisted.get(from)?.push(...ready.persist);
      this.commits.get(from)?.push(...ready.commit);
      for (const out of ready.send) {
        for (const to of out.to) {
          if (this.down.has(to) || this.drop(from, to, out.message)) continue;
          queue.push([to, this.core(to).step({ type: 'decoded-message', from, message: out.message })]);
        }
      }
    }
  }

  tick(count = 1): void {
    for (let i = 0; i < count; i++) {
      this.now += TICK_MS;
      for (const name of this.orderers) this.step(name, { type: 'tick', nowMs: this.now });
    }
  }
}

function heights(cluster: Cluster): number[] {
  return cluster.orderers.map((n) => cluster.core(n).height);
}

function checkCertificate(cert: CommitCertificate, block: Block, quorum: number): void {
  expect(cert.blockHash).toBe(blockHash(block.header));
  expect(cert.signatures.length).toBeGreaterThanOrEqual(quorum);
  const bytes = commitVoteBytes({ height: cert.height, blockHash: cert.blockHash, view: cert.view });
  for (const { signer, signature } of cert.signatures) {
    expect(fakeCrypto(signer).verify(signer, SigningDomain.commitVote, bytes, signature)).toBe(true);
  }
}

describe('ConsensusCore, honest runs', () => {
  it('commits alone with n = 1 (development network)', () => {
    const cluster = new Cluster(names(1));
    cluster.step('orderer0' as NodeName, { type: 'request', envelope: envelopes[0]! });
    cluster.tick(3);
    const commits = cluster.commits.get('orderer0' as NodeName)!;
    expect(commits).toHaveLength(1);
    checkCertificate(commits[0]!.certificate, commits[0]!.block, 1);
  });

  it.each([4, 7])('commits the same blocks on all %i orderers, in height order', (n) => {
    const cluster = new Cluster(names(n));
    for (let i = 0; i < 5; i++)
      cluster.step(`orderer${i % n}` as NodeName, { type: 'request', envelope: envelopes[i]! });
    cluster.tick(5);
    expect(heights(cluster)).toEqual(Array(n).fill(3));
    const reference = cluster.commits.get('orderer0' as NodeName)!.map((c) => blockHash(c.block.header));
    for (const name of cluster.orderers) {
      const commits = cluster.commits.get(name)!;
      expect(commits.map((c) => blockHash(c.block.header))).toEqual(reference);
      expect(commits.map((c) => c.block.header.height)).toEqual([1, 2, 3]);
      for (const c of commits) checkCertificate(c.certificate, c.block, 2 * Math.floor((n - 1) / 3) + 1);
    }
  });

  it('persists a vote in the same Ready that sends it', () => {
    const orderers = names(4);
    const follower = makeCore(orderers[1]!, orderers);
    const block = buildBlock({
      height: 1,
      prevHash: blockHash(genesis.header),
      transactions: [envelopes[0]!],
      timestampMs: genesis.header.timestampMs,
      proposer: orderers[0]!,
    });
    const ready = follower.step({
      type: 'decoded-message',
      from: orderers[0]!,
      message: prePrepare(orderers[0]!, 0, block),
    });
    expect(ready.persist).toEqual([
      { kind: 'prepare', view: 0, height: 1, blockHash: blockHash(block.header) },
    ]);
    expect(ready.send.map((s) => s.message.type)).toEqual(['prepare']);
  });

  it('orders a request submitted to a follower (relayed to the leader)', () => {
    const cluster = new Cluster(names(4));
    cluster.step('orderer2' as NodeName, { type: 'request', envelope: envelopes[0]! });
    cluster.tick(3);
    expect(heights(cluster)).toEqual([1, 1, 1, 1]);
  });

  it('replaces a silent leader through VIEW-CHANGE / NEW-VIEW and keeps committing', () => {
    const cluster = new Cluster(names(4));
    cluster.down.add('orderer0' as NodeName);
    cluster.step('orderer1' as NodeName, { type: 'request', envelope: envelopes[0]! });
    cluster.tick(60);
    const live = ['orderer1', 'orderer2', 'orderer3'] as NodeName[];
    for (const name of live) {
      expect(cluster.core(name).height).toBe(1);
      expect(cluster.core(name).metrics().view).toBe(1);
      expect(cluster.core(name).metrics().status).toBe('normal');
    }
  });

  it('does not blame the leader for an idle spell: a request after it is ordered in the same view', () => {
    const cluster = new Cluster(names(4));
    cluster.step('orderer1' as NodeName, { type: 'request', envelope: envelopes[0]! });
    cluster.tick(5);
    cluster.tick(100); // idle: ten view timeouts with nothing to order
    cluster.step('orderer2' as NodeName, { type: 'request', envelope: envelopes[1]! });
    cluster.tick(5);
    expect(heights(cluster)).toEqual([2, 2, 2, 2]);
    for (const name of cluster.orderers) expect(cluster.core(name).metrics().viewChanges).toBe(0);
  });

  it('replaces a leader that orders newer requests while one it was sent waits (censorship)', () => {
    const cluster = new Cluster(names(4));
    const [leader, follower] = ['orderer0', 'orderer1'] as NodeName[];
    const censored = envelopes[0]!;
    // Every copy of the censored request on its way to the leader is lost: it never sees it.
    cluster.drop = (_from, to, message) =>
      to === leader &&
      message.type === 'forward' &&
      message.envelopes.some((e) => e.payload.txId === censored.payload.txId);
    for (const name of cluster.orderers.filter((n) => n !== leader))
      cluster.step(name, { type: 'request', envelope: censored });
    // Newer requests keep arriving at the leader, which orders them.
    for (let i = 1; i <= 12; i++) {
      cluster.tick(5);
      cluster.step(leader!, { type: 'request', envelope: envelopes[i]! });
    }
    cluster.tick(40);
    expect(cluster.core(follower!).metrics().lastViewChange).toEqual({ view: 1, reason: 'request-timeout' });
    cluster.drop = () => false;
    cluster.tick(20);
    const orderedBy = (name: NodeName) =>
      cluster.commits.get(name)!.flatMap((c) => c.block.transactions.map((e) => e.payload.txId));
    expect(orderedBy(follower!)).toContain(censored.payload.txId);
  });

  it('rejoins the current view after missing its NEW-VIEW, once f+1 others vote in it', () => {
    const cluster = new Cluster(names(4));
    const [old, next] = ['orderer0', 'orderer1'] as NodeName[];
    cluster.down.add(old!);
    cluster.step(next!, { type: 'request', envelope: envelopes[0]! });
    cluster.tick(60);
    expect(cluster.core(next!).metrics().view).toBe(1);
    // Back, it still believes it leads view 0: nobody resends a NEW-VIEW unasked.
    cluster.down.delete(old!);
    expect(cluster.core(old!).metrics()).toMatchObject({ view: 0, status: 'normal' });
    cluster.step(next!, { type: 'request', envelope: envelopes[1]! });
    cluster.tick(20);
    expect(cluster.core(old!).metrics()).toMatchObject({
      view: 1,
      status: 'normal',
      lastViewChange: { view: 1, reason: 'behind' },
    });
    for (const name of cluster.orderers) expect(cluster.core(name).metrics().view).toBe(1);
  });

  it('writes a checkpoint every checkpointInterval blocks and makes it stable', () => {
    const cluster = new Cluster(names(4));
    for (let i = 0; i < 4; i++)
      cluster.step('orderer0' as NodeName, { type: 'request', envelope: envelopes[i]! });
    cluster.tick(4);
    expect(cluster.core('orderer1' as NodeName).metrics().stableCheckpoint).toBe(2);
  });
});

function prePrepare(from: NodeName, view: number, block: Block): PrePrepare {
  const body: Unsigned<PrePrepare> = {
    type: 'pre-prepare',
    version: PROTOCOL_VERSION,
    view,
    height: block.header.height,
    from,
    block,
  };
  return signMessage<PrePrepare>(body, fakeCrypto(from));
}

function suspect(from: NodeName, view: number): Suspect {
  const body: Unsigned<Suspect> = { type: 'suspect', version: PROTOCOL_VERSION, view, height: 0, from };
  return signMessage<Suspect>(body, fakeCrypto(from));
}

function prepare(from: NodeName, view: number, height: number, hash: Hash): Prepare {
  const body: Unsigned<Prepare> = {
    type: 'prepare',
    version: PROTOCOL_VERSION,
    view,
    height,
    from,
    blockHash: hash,
  };
  return signMessage<Prepare>(body, fakeCrypto(from));
}

describe('ConsensusCore, bad input is counted, never thrown', () => {
  const orderers = names(4);
  const [leader, me, other] = [orderers[0]!, orderers[1]!, orderers[2]!];
  const nextBlock = (transactions = [envelopes[0]!], prevHash?: Hash, proposer = leader): Block =>
    buildBlock({
      height: 1,
      prevHash: prevHash ?? blockHash(genesis.header),
      transactions,
      timestampMs: genesis.header.timestampMs,
      proposer,
    });

  it('refuses a message whose signature does not verify', () => {
    const core = makeCore(me, orderers);
    const message = {
      ...prepare(other, 0, 1, blockHash(nextBlock().header)),
      signature: 'ab'.repeat(64) as SignatureHex,
    };
    core.step({ type: 'decoded-message', from: other, message });
    expect(core.metrics().rejected['bad-signature']).toBe(1);
  });

  it('refuses a message whose claimed sender is not the authenticated peer', () => {
    const core = makeCore(me, orderers);
    core.step({
      type: 'decoded-message',
      from: orderers[3]!,
      message: prepare(other, 0, 1, blockHash(nextBlock().header)),
    });
    expect(core.metrics().rejected['from-mismatch']).toBe(1);
  });

  it('refuses a signer that is not an orderer', () => {
    const core = makeCore(me, orderers);
    const stranger = 'mallory' as NodeName;
    core.step({
      type: 'decoded-message',
      from: stranger,
      message: prepare(stranger, 0, 1, blockHash(nextBlock().header)),
    });
    expect(core.metrics().rejected['not-member']).toBe(1);
  });

  it('counts undecodable bytes as malformed', () => {
    const core = makeCore(me, orderers);
    core.step({ type: 'message', from: other, bytes: Buffer.from('{"type":"prepare"') });
    core.step({ type: 'message', from: other, bytes: Buffer.from('{"type":"vote"}') });
    expect(core.metrics().rejected.malformed).toBe(2);
  });

  it('counts a duplicate vote once and a conflicting one as equivocation', () => {
    const core = makeCore(me, orderers);
    const hash = blockHash(nextBlock().header);
    core.step({ type: 'decoded-message', from: other, message: prepare(other, 0, 1, hash) });
    core.step({ type: 'decoded-message', from: other, message: prepare(other, 0, 1, hash) });
    core.step({
      type: 'decoded-message',
      from: other,
      message: prepare(other, 0, 1, blockHash(nextBlock([envelopes[1]!]).header)),
    });
    expect(core.metrics().rejected.duplicate).toBe(1);
    expect(core.metrics().rejected.equivocation).toBe(1);
  });

  it('ignores heights outside the window', () => {
    const core = makeCore(me, orderers);
    core.step({
      type: 'decoded-message',
      from: other,
      message: prepare(other, 0, 0, blockHash(genesis.header)),
    });
    core.step({
      type: 'decoded-message',
      from: other,
      message: prepare(other, 0, 1000, blockHash(genesis.header)),
    });
    expect(core.metrics().rejected['stale-height']).toBe(1);
    expect(core.metrics().rejected['future-height']).toBe(1);
  });

  it('refuses a PRE-PREPARE from an orderer that is not the leader', () => {
    const core = makeCore(me, orderers);
    core.step({
      type: 'decoded-message',
      from: other,
      message: prePrepare(other, 0, nextBlock(undefined, undefined, other)),
    });
    expect(core.metrics().rejected['not-leader']).toBe(1);
  });

  it('suspects a leader that proposes a block not extending the chain; changes view with f+1 suspicions', () => {
    const core = makeCore(me, orderers);
    const ready = core.step({
      type: 'decoded-message',
      from: leader,
      message: prePrepare(leader, 0, nextBlock(undefined, blockHash(nextBlock().header))),
    });
    expect(core.metrics().rejected['invalid-proposal']).toBe(1);
    // Alone it only says so, and stays in its view (it may be the one misled).
    expect(ready.send.map((s) => s.message.type)).toEqual(['suspect']);
    expect(core.metrics()).toMatchObject({ view: 0, status: 'normal', viewChanges: 0 });
    const joined = core.step({ type: 'decoded-message', from: other, message: suspect(other, 1) });
    expect(core.metrics()).toMatchObject({
      view: 1,
      status: 'view-change',
      viewChanges: 1,
      lastViewChange: { view: 1, reason: 'invalid-proposal' },
    });
    expect(joined.persist).toContainEqual({ kind: 'view', view: 1, entered: false, epoch: 0 });
    expect(joined.send.map((s) => s.message.type)).toEqual(['view-change']);
  });

  it('suspects a leader that proposes invalid transactions', () => {
    const core = makeCore(me, orderers, { validateBlock: () => 'transaction 0: bad creator signature' });
    const ready = core.step({
      type: 'decoded-message',
      from: leader,
      message: prePrepare(leader, 0, nextBlock()),
    });
    expect(core.metrics().rejected['invalid-proposal']).toBe(1);
    expect(ready.send.map((s) => s.message.type)).toEqual(['suspect']);
    core.step({ type: 'decoded-message', from: other, message: suspect(other, 1) });
    expect(core.metrics().view).toBe(1);
  });

  it('suspects a leader that equivocates', () => {
    const core = makeCore(me, orderers);
    core.step({ type: 'decoded-message', from: leader, message: prePrepare(leader, 0, nextBlock()) });
    core.step({
      type: 'decoded-message',
      from: leader,
      message: prePrepare(leader, 0, nextBlock([envelopes[1]!])),
    });
    expect(core.metrics().rejected.equivocation).toBe(1);
    core.step({ type: 'decoded-message', from: other, message: suspect(other, 1) });
    expect(core.metrics().lastViewChange).toEqual({ view: 1, reason: 'equivocation' });
  });

  it('does not follow a lone suspicion (one faulty orderer cannot depose a leader)', () => {
    const core = makeCore(me, orderers);
    core.step({ type: 'decoded-message', from: other, message: suspect(other, 1) });
    core.step({ type: 'decoded-message', from: other, message: suspect(other, 1) });
    expect(core.metrics()).toMatchObject({ view: 0, status: 'normal', viewChanges: 0 });
  });

  it('never prepares a second block at a (view, height) it voted on before a restart', () => {
    const first = nextBlock();
    const records: PersistRecord[] = [
      { kind: 'prepare', view: 0, height: 1, blockHash: blockHash(first.header) },
    ];
    const core = makeCore(me, orderers, { records });
    const ready = core.step({
      type: 'decoded-message',
      from: leader,
      message: prePrepare(leader, 0, nextBlock([envelopes[1]!])),
    });
    expect(core.metrics().rejected['vote-conflict']).toBe(1);
    expect(ready.send).toEqual([]);
  });

  it('resumes the view it persisted, in a view change', () => {
    const core = makeCore(me, orderers, { records: [{ kind: 'view', view: 3, entered: false }] });
    expect(core.metrics()).toMatchObject({ view: 3, status: 'view-change' });
    const ready = core.step({ type: 'tick', nowMs: genesis.header.timestampMs });
    expect(core.metrics()).toMatchObject({ view: 3, status: 'view-change' });
    expect(ready.send.map((s) => s.message.type)).toEqual([]);
  });

  it('accepts a fetched block only with a valid certificate', () => {
    const core = makeCore(me, orderers);
    const block = nextBlock();
    const hash = blockHash(block.header);
    const signatures = orderers.slice(0, 3).map((signer) => ({
      signer,
      signature: fakeCrypto(signer).sign(
        SigningDomain.commitVote,
        commitVoteBytes({ height: 1, blockHash: hash, view: 0 }),
      ),
    }));
    const certificate: CommitCertificate = {
      version: PROTOCOL_VERSION,
      height: 1,
      blockHash: hash,
      view: 0,
      signatures,
    };
    core.step({
      type: 'committed-block',
      block,
      certificate: { ...certificate, signatures: signatures.slice(0, 2) },
    });
    expect(core.metrics().rejected['invalid-certificate']).toBe(1);
    const ready = core.step({ type: 'committed-block', block, certificate });
    expect(ready.commit).toHaveLength(1);
    expect(core.height).toBe(1);
  });

  it('fetches once a quorum proves a stable checkpoint above its head and nothing arrives', () => {
    const core = makeCore(me, orderers);
    const hash = blockHash(nextBlock().header);
    for (const from of [leader, other, orderers[3]!]) {
      const body: Unsigned<Checkpoint> = {
        type: 'checkpoint',
        version: PROTOCOL_VERSION,
        view: 0,
        height: 2,
        from,
        blockHash: hash,
      };
      core.step({ type: 'decoded-message', from, message: signMessage<Checkpoint>(body, fakeCrypto(from)) });
    }
    const fetches = [];
    for (let i = 1; i <= 5; i++) {
      const { fetch } = core.step({ type: 'tick', nowMs: genesis.header.timestampMs + i * TICK_MS });
      if (fetch !== null) fetches.push(fetch);
    }
    expect(fetches).toEqual([{ fromHeight: 1, peers: [leader, other, orderers[3]!] }]);
  });

  it('refuses a duplicate request and one already final', () => {
    const core = makeCore(me, orderers);
    core.step({ type: 'request', envelope: envelopes[0]! });
    core.step({ type: 'request', envelope: envelopes[0]! });
    expect(core.metrics().rejected['duplicate-request']).toBe(1);
  });
});

describe('ConsensusCore, reconfiguration epochs', () => {
  const configEnvelope = (): Envelope => genesis.transactions[0]!;

  it('orders a config transaction alone and ends the epoch when it commits', () => {
    const cluster = new Cluster(names(4));
    // Requests held by a follower (relayed on its next tick), the config update sent to the leader.
    cluster.step('orderer1' as NodeName, { type: 'request', envelope: envelopes[0]! });
    cluster.step('orderer1' as NodeName, { type: 'request', envelope: envelopes[1]! });
    cluster.step('orderer0' as NodeName, { type: 'request', envelope: configEnvelope() });
    cluster.tick(20);
    for (const name of cluster.orderers) {
      const commits = cluster.commits.get(name)!;
      expect(commits.map((c) => c.block.transactions.map((e) => e.payload.type))).toEqual([['config']]);
      const core = cluster.core(name);
      expect(core.ended).toBe(true);
      // An ended core takes no more events: they are the next epoch's core's.
      expect(core.step({ type: 'request', envelope: envelopes[4]! })).toEqual({
        persist: [],
        send: [],
        commit: [],
        fetch: null,
      });
    }
    // What was waiting is handed over, not lost.
    expect(
      cluster
        .core('orderer1' as NodeName)
        .pendingRequests()
        .map((e) => e.payload.txId),
    ).toEqual([envelopes[0]!.payload.txId, envelopes[1]!.payload.txId]);
  });

  it('proposes nothing above its own config block while it is in flight', () => {
    const orderers = names(4);
    const leader = makeCore(orderers[0]!, orderers);
    const first = leader.step({ type: 'request', envelope: configEnvelope() });
    expect(first.send.map((s) => s.message.type)).toEqual(['pre-prepare', 'prepare']);
    const second = leader.step({ type: 'request', envelope: envelopes[0]! });
    const third = leader.step({ type: 'request', envelope: envelopes[1]! });
    // A full batch waits: the next epoch's leader proposes it.
    expect([...second.send, ...third.send].map((s) => s.message.type)).toEqual([]);
    expect(leader.metrics().poolTxs).toBe(3);
  });

  it('refuses a block that holds a config transaction with others', () => {
    const orderers = names(4);
    const follower = makeCore(orderers[1]!, orderers);
    const block = buildBlock({
      height: 1,
      prevHash: blockHash(genesis.header),
      transactions: [envelopes[0]!, configEnvelope()],
      timestampMs: genesis.header.timestampMs,
      proposer: orderers[0]!,
    });
    const ready = follower.step({
      type: 'decoded-message',
      from: orderers[0]!,
      message: prePrepare(orderers[0]!, 0, block),
    });
    expect(follower.metrics().rejected['invalid-proposal']).toBe(1);
    expect(ready.send.map((s) => s.message.type)).not.toContain('prepare');
  });

  it('does not prepare a block proposed above a config block in flight', () => {
    const orderers = names(4);
    const follower = makeCore(orderers[1]!, orderers);
    const config = buildBlock({
      height: 1,
      prevHash: blockHash(genesis.header),
      transactions: [configEnvelope()],
      timestampMs: genesis.header.timestampMs,
      proposer: orderers[0]!,
    });
    const above = buildBlock({
      height: 2,
      prevHash: blockHash(config.header),
      transactions: [envelopes[0]!],
      timestampMs: genesis.header.timestampMs,
      proposer: orderers[0]!,
    });
    const first = follower.step({
      type: 'decoded-message',
      from: orderers[0]!,
      message: prePrepare(orderers[0]!, 0, config),
    });
    expect(first.persist).toEqual([
      { kind: 'prepare', view: 0, height: 1, blockHash: blockHash(config.header) },
    ]);
    const second = follower.step({
      type: 'decoded-message',
      from: orderers[0]!,
      message: prePrepare(orderers[0]!, 0, above),
    });
    expect(second.persist).toEqual([]);
    expect(second.send).toEqual([]);
  });

  it('starts the next epoch at view 0 whatever views an earlier epoch persisted, and ignores its stale view changes', () => {
    const orderers = names(4);
    const me = orderers[1]!;
    const config = buildBlock({
      height: 1,
      prevHash: blockHash(genesis.header),
      transactions: [configEnvelope()],
      timestampMs: genesis.header.timestampMs,
      proposer: orderers[0]!,
    });
    const hash = blockHash(config.header);
    const certificate: CommitCertificate = {
      version: PROTOCOL_VERSION,
      height: 1,
      blockHash: hash,
      view: 0,
      signatures: orderers.slice(0, 3).map((signer) => ({
        signer,
        signature: fakeCrypto(signer).sign(
          SigningDomain.commitVote,
          commitVoteBytes({ height: 1, blockHash: hash, view: 0 }),
        ),
      })),
    };
    const core = new ConsensusCore(
      {
        self: me,
        orderers,
        params: PARAMS,
        tickMs: TICK_MS,
        epochStart: 1,
        crypto: fakeCrypto(me),
        validateBlock: () => null,
        validateEnvelope: () => null,
      },
      {
        head: { block: config, certificate },
        // View 5 of the previous epoch (genesis' epoch 0) means nothing here.
        records: [{ kind: 'view', view: 5, entered: true, epoch: 0 }],
        recentTxIds: [],
      },
    );
    expect(core.metrics()).toMatchObject({ view: 0, status: 'normal', height: 1 });
    // A SUSPECT from an orderer still in the previous epoch (its head below this epoch's start).
    core.step({ type: 'decoded-message', from: orderers[2]!, message: suspect(orderers[2]!, 1) });
    expect(core.metrics().rejected['stale-epoch']).toBe(1);
  });
});

describe('consensus messages', () => {
  const from = 'orderer1' as NodeName;

  it('round-trips through encode and decode', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1_000_000 }), fc.nat({ max: 1_000_000 }), (view, height) => {
        const message = prepare(from, view, height, blockHash(genesis.header));
        expect(decodeConsensusMessage(encodeConsensusMessage(message))).toEqual(message);
      }),
      { numRuns: 50 },
    );
  });

  it('names the bad field when decoding fails', () => {
    const message = {
      ...prepare(from, 0, 1, blockHash(genesis.header)),
      blockHash: 'nope',
    } as unknown as ConsensusMessage;
    expect(() => decodeConsensusMessage(encodeConsensusMessage(message))).toThrow(ProtocolError);
    try {
      decodeConsensusMessage(encodeConsensusMessage(message));
    } catch (error) {
      expect((error as ProtocolError).field).toBe('consensusMessage.blockHash');
    }
  });

  it('refuses an unknown field (it would be unsigned)', () => {
    const message = { ...prepare(from, 0, 1, blockHash(genesis.header)), extra: 1 };
    expect(() => decodeConsensusMessage(Buffer.from(JSON.stringify(message)))).toThrow(ProtocolError);
  });
});
