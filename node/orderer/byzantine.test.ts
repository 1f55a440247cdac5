import { beforeAll, describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { fakeCrypto } from '../../test/simulator/fake-crypto.js';
import { makeTestNetwork, sampleTrade, tradeEnvelope } from '../../test/support/chain-fixture.js';
import {
  ConsensusCore,
  type ConsensusCrypto,
  type ConsensusMessage,
  type Outbound,
  type FinalBlock,
  type Ready,
  type RejectReason,
} from '../consensus/index.js';
import { signMessage, verifyMessage, type Unsigned } from '../consensus/messages.js';
import { SigningKey } from '../crypto/index.js';
import type { ChainStore, StoredBlock } from '../ledger/index.js';
import { DeliveryServer } from '../node/delivery.js';
import {
  blockHash,
  buildBlock,
  commitVoteBytes,
  PROTOCOL_VERSION,
  SigningDomain,
  type Block,
  type ConsensusParams,
  type Envelope,
  type Hash,
  type NodeName,
} from '../protocol/index.js';
import {
  BYZANTINE_MODES,
  ByzantineBehaviour,
  ByzantineConfigError,
  byzantineModeFromEnv,
  enableByzantine,
  flipLastHexDigit,
  split,
  type ByzantineMode,
} from './byzantine.js';

const ORDERERS = ['orderer0', 'orderer1', 'orderer2', 'orderer3'] as NodeName[];
const SELF = ORDERERS[0]!;
const OTHERS = ORDERERS.slice(1);

let genesis: Block;
let envelopes: Envelope[];
/** Real ECDSA keys, so "validly signed" means what it means in production. */
const keys = new Map(ORDERERS.map((name) => [name, SigningKey.generate()]));
const ecdsa: ConsensusCrypto = {
  sign: (domain, bytes) => keys.get(SELF)!.sign(domain, bytes),
  verify: (signer, domain, bytes, signature) =>
    keys.get(signer)?.verifyingKey.verify(domain, bytes, signature) ?? false,
};

beforeAll(async () => {
  const net = await makeTestNetwork({ orderers: 4 });
  genesis = net.genesis;
  envelopes = Array.from({ length: 40 }, (_, i) => tradeEnvelope(net, sampleTrade(i)));
});

function block(height: number, transactions = envelopes.slice(0, 2)): Block {
  return buildBlock({
    height,
    prevHash: blockHash(genesis.header),
    transactions,
    timestampMs: genesis.header.timestampMs,
    proposer: SELF,
  });
}

function signed<M extends ConsensusMessage>(body: Unsigned<M>): M {
  return signMessage<M>(body, ecdsa);
}

const common = (height: number, view = 0) =>
  ({ version: PROTOCOL_VERSION, view, height, from: SELF }) as const;

function prePrepare(height: number, view = 0): Outbound {
  return {
    to: OTHERS,
    message: signed({ type: 'pre-prepare', ...common(height, view), block: block(height) }),
  };
}

function prepare(height: number, hash: Hash, view = 0): Outbound {
  return { to: OTHERS, message: signed({ type: 'prepare', ...common(height, view), blockHash: hash }) };
}

function commit(height: number, hash: Hash, view = 0): Outbound {
  const vote = ecdsa.sign(SigningDomain.commitVote, commitVoteBytes({ height, blockHash: hash, view }));
  return { to: OTHERS, message: signed({ type: 'commit', ...common(height, view), blockHash: hash, vote }) };
}

function behaviour(mode: ByzantineMode): ByzantineBehaviour {
  return new ByzantineBehaviour(mode, SELF, ecdsa);
}

/** Which message each recipient receives, in order. */
function received(outs: readonly Outbound[]): Map<NodeName, ConsensusMessage[]> {
  const by = new Map<NodeName, ConsensusMessage[]>();
  for (const { to, message } of outs) for (const name of to) by.set(name, [...(by.get(name) ?? []), message]);
  return by;
}

function voteValid(message: ConsensusMessage): boolean {
  if (message.type !== 'commit') throw new Error('not a commit');
  const bytes = commitVoteBytes({ height: message.height, blockHash: message.blockHash, view: message.view });
  return ecdsa.verify(message.from, SigningDomain.commitVote, bytes, message.vote);
}

describe('byzantineModeFromEnv: the lock', () => {
  const on = { CHAINNODE_BYZANTINE: 'silent', CHAINNODE_TEST_ONLY_BYZANTINE: 'i-understand' };

  it('is off unless asked, including with the acknowledgement alone', () => {
    expect(byzantineModeFromEnv({}, { fromSources: true })).toBeUndefined();
    expect(byzantineModeFromEnv({ CHAINNODE_BYZANTINE: '' }, { fromSources: true })).toBeUndefined();
    expect(
      byzantineModeFromEnv({ CHAINNODE_TEST_ONLY_BYZANTINE: 'i-understand' }, { fromSources: true }),
    ).toBeUndefined();
  });

  it('takes every known mode with the double opt-in, from the sources', () => {
    for (const mode of BYZANTINE_MODES)
      expect(byzantineModeFromEnv({ ...on, CHAINNODE_BYZANTINE: mode }, { fromSources: true })).toBe(mode);
  });

  it('refuses an unknown mode, naming the known ones', () => {
    expect(() => byzantineModeFromEnv({ ...on, CHAINNODE_BYZANTINE: 'evil' }, { fromSources: true })).toThrow(
      /"evil" is not a Byzantine mode \(one of equivocate, conflicting-votes, bad-signatures, replay, silent, withhold-blocks\)/,
    );
  });

  it('refuses a mode without the exact acknowledgement', () => {
    for (const ack of [undefined, '', 'yes', 'I-UNDERSTAND']) {
      expect(() =>
        byzantineModeFromEnv(
          { CHAINNODE_BYZANTINE: 'silent', CHAINNODE_TEST_ONLY_BYZANTINE: ack },
          { fromSources: true },
        ),
      ).toThrow(/refusing to start without CHAINNODE_TEST_ONLY_BYZANTINE=i-understand/);
    }
  });

  it('refuses NODE_ENV=production and the compiled build even with the double opt-in', () => {
    expect(() => byzantineModeFromEnv({ ...on, NODE_ENV: 'production' }, { fromSources: true })).toThrow(
      /NODE_ENV=production/,
    );
    expect(() => byzantineModeFromEnv(on, { fromSources: false })).toThrow(/compiled build/);
    expect(() => byzantineModeFromEnv(on, { fromSources: false })).toThrow(ByzantineConfigError);
  });

  it('runs from the sources here (tests do), so the default allows it', () => {
    expect(byzantineModeFromEnv(on)).toBe('silent');
  });
});

describe('split and flipLastHexDigit', () => {
  it('tells the lie to the last half of a rotation, with a witness among the rest', () => {
    const s = split(OTHERS, 0);
    expect(s).toEqual({ keep: ['orderer1', 'orderer2'], turn: ['orderer3'], witness: 'orderer1' });
    // Over consecutive heights every recipient is lied to and every one witnesses.
    const turned = new Set([0, 1, 2].flatMap((h) => split(OTHERS, h).turn));
    const witnesses = new Set([0, 1, 2].map((h) => split(OTHERS, h).witness));
    expect([...turned].sort()).toEqual(OTHERS);
    expect([...witnesses].sort()).toEqual(OTHERS);
    expect(split(['orderer1'] as NodeName[], 5)).toEqual({
      keep: ['orderer1'],
      turn: [],
      witness: undefined,
    });
  });

  it('changes a signature but keeps it 128 lowercase hex characters', () => {
    const { message } = prePrepare(1);
    const flipped = flipLastHexDigit(message.signature);
    expect(flipped).toMatch(/^[0-9a-f]{128}$/);
    expect(flipped).not.toBe(message.signature);
    expect(flipLastHexDigit(flipped)).toBe(message.signature);
  });
});

describe('ByzantineBehaviour transformations', () => {
  it('equivocate: a second validly signed block at the same height to half of the others, votes to match', () => {
    const b = behaviour('equivocate');
    const original = prePrepare(3);
    const by = received(b.transform([original]));
    const { keep, turn, witness } = split(OTHERS, 3);
    for (const name of keep) expect(by.get(name)![0]).toBe(original.message);
    const forged = by.get(turn[0]!)![0]!;
    expect(by.get(witness!)).toEqual([original.message, forged]);
    if (forged.type !== 'pre-prepare' || original.message.type !== 'pre-prepare') throw new Error('type');
    expect(verifyMessage(forged, ecdsa)).toBe(true);
    expect(forged.height).toBe(3);
    expect(forged.block.header.prevHash).toBe(original.message.block.header.prevHash);
    expect(forged.block.header.proposer).toBe(SELF);
    const [honestHash, forgedHash] = [original.message.block.header, forged.block.header].map(blockHash);
    expect(forgedHash).not.toBe(honestHash);
    expect(b.counters.equivocations).toBe(1);

    // Its PREPARE and COMMIT at that height follow the block each recipient was told.
    const votes = received(b.transform([prepare(3, honestHash!), commit(3, honestHash!)]));
    for (const name of OTHERS) {
      const want = turn.includes(name) ? forgedHash : honestHash;
      const [p, c] = votes.get(name)!;
      expect(p).toMatchObject({ type: 'prepare', blockHash: want });
      expect(c).toMatchObject({ type: 'commit', blockHash: want });
      expect(verifyMessage(p!, ecdsa) && verifyMessage(c!, ecdsa) && voteValid(c!)).toBe(true);
    }
    // Another height, nothing forged there: votes pass unchanged.
    const other = prepare(4, honestHash!);
    expect(b.transform([other])).toEqual([other]);
  });

  it('equivocate leaves messages it did not originate, and non-leader traffic, alone', () => {
    const b = behaviour('equivocate');
    const relayed: Outbound = {
      to: ['orderer2' as NodeName],
      message: { ...prePrepare(2).message, from: 'orderer1' as NodeName },
    };
    expect(b.transform([relayed])).toEqual([relayed]);
    const vote = prepare(2, 'ab'.repeat(32) as Hash);
    expect(b.transform([vote])).toEqual([vote]);
  });

  it('conflicting-votes: PREPARE/COMMIT for another hash to some, both versions to a witness', () => {
    const b = behaviour('conflicting-votes');
    const hash = blockHash(block(5).header);
    for (const out of [prepare(5, hash), commit(5, hash)]) {
      const by = received(b.transform([out]));
      const { turn, witness } = split(OTHERS, 5);
      for (const name of OTHERS) {
        const got = by.get(name)!;
        const lies = got.filter((m) => 'blockHash' in m && m.blockHash !== hash);
        expect(lies).toHaveLength(turn.includes(name) || name === witness ? 1 : 0);
        expect(got.length).toBe(name === witness ? 2 : 1);
        for (const m of got) {
          expect(verifyMessage(m, ecdsa)).toBe(true);
          if (m.type === 'commit') expect(voteValid(m)).toBe(true);
        }
      }
    }
    expect(b.counters.conflictingVotes).toBe(2);
    const proposal = prePrepare(5);
    expect(b.transform([proposal])).toEqual([proposal]);
  });

  it('bad-signatures: nothing it sends verifies; COMMITs alternate a bad message signature and a bad vote', () => {
    const b = behaviour('bad-signatures');
    const hash = blockHash(block(1).header);
    const outs = b.transform([prePrepare(1), prepare(1, hash), commit(1, hash), commit(2, hash)]);
    expect(outs.map((o) => o.to)).toEqual([OTHERS, OTHERS, OTHERS, OTHERS]);
    const [pp, p, c1, c2] = outs.map((o) => o.message);
    expect(verifyMessage(pp!, ecdsa)).toBe(false);
    expect(verifyMessage(p!, ecdsa)).toBe(false);
    expect([verifyMessage(c1!, ecdsa), voteValid(c1!)]).toEqual([false, true]);
    expect([verifyMessage(c2!, ecdsa), voteValid(c2!)]).toEqual([true, false]);
    expect(b.counters.corruptedSignatures).toBe(4);
  });

  it('replay: once it has history, every send also carries old messages of earlier heights', () => {
    const b = behaviour('replay');
    const sent: Outbound[] = [];
    for (let h = 1; h <= 40; h++) {
      const out = prepare(h, blockHash(block(h).header));
      sent.push(out);
      const outs = b.transform([out]);
      expect(outs[0]).toBe(out);
      const replays = outs.slice(1);
      // Nothing is old before 32 messages went out; after that, two old ones per send.
      expect(replays).toHaveLength(h <= 33 ? 0 : 2);
      for (const r of replays) {
        expect(sent).toContain(r);
        expect(r.message.height).toBeLessThan(h - 30);
      }
    }
    expect(b.transform([])).toEqual([]);
    expect(b.counters.replayed).toBe(14);
  });

  it('silent sends nothing; withhold-blocks sends everything and serves no blocks', () => {
    const out = prePrepare(1);
    const silent = behaviour('silent');
    expect(silent.transform([out, out])).toEqual([]);
    expect(silent.counters.silenced).toBe(2);
    expect(silent.servesBlocks('peer0-org1')).toBe(true);
    const withhold = behaviour('withhold-blocks');
    expect(withhold.transform([out])).toEqual([out]);
    expect(withhold.servesBlocks('peer0-org1')).toBe(false);
    expect(withhold.counters.withheldDeliveries).toBe(1);
  });
});

describe('enableByzantine', () => {
  const logger = pino({ level: 'silent' });

  it('refuses a peer', () => {
    const store = {} as unknown as ChainStore;
    expect(() =>
      enableByzantine(
        { name: 'peer0-org1' as NodeName, role: 'peer', store, key: keys.get(SELF)! },
        'silent',
        logger,
      ),
    ).toThrow(/for orderers; peer0-org1 is a peer/);
  });

  it('withhold-blocks closes that node’s block delivery, and only that node’s', async () => {
    const stored = { block: genesis, commitCertificate: null } as unknown as StoredBlock;
    const serve = (store: ChainStore): Buffer[] => {
      const sent: Buffer[] = [];
      const server = new DeliveryServer(store, (_to, body) => (sent.push(body), 'queued'), logger);
      server.request('peer0-org1', 0, 1);
      return sent;
    };
    const mk = (): ChainStore => ({ getBlock: () => Promise.resolve(stored) }) as unknown as ChainStore;
    const byzantineStore = mk();
    const honestStore = mk();
    enableByzantine(
      { name: SELF, role: 'orderer', store: byzantineStore, key: keys.get(SELF)! },
      'withhold-blocks',
      logger,
    );
    const fromByzantine = serve(byzantineStore);
    const fromHonest = serve(honestStore);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(fromByzantine).toEqual([]);
    expect(fromHonest).toHaveLength(1);
  });
});

// ------------------------------------------------------------------ against the real core

const PARAMS: ConsensusParams = {
  batchTxMax: 2,
  batchBytesMax: 64 * 1024,
  batchTimeoutMs: 10,
  viewTimeoutMs: 100,
  checkpointInterval: 4,
  window: 3,
};
const TICK_MS = 10;

/**
 * Four real cores on a lossless in-memory network, orderer0 (the leader of view 0) Byzantine:
 * everything it sends passes through the behaviour, exactly as in OrdererRole.handle.
 */
class Cluster {
  readonly cores = new Map<NodeName, ConsensusCore>();
  readonly chains = new Map<NodeName, Hash[]>();
  /** Final blocks with certificates each orderer committed, served to those that fetch. */
  readonly finals = new Map<NodeName, FinalBlock[]>();
  readonly byzantine: ByzantineBehaviour;
  now: number;

  constructor(mode: ByzantineMode) {
    this.now = genesis.header.timestampMs;
    this.byzantine = new ByzantineBehaviour(mode, SELF, fakeCrypto(SELF));
    for (const name of ORDERERS) {
      const core = new ConsensusCore(
        {
          self: name,
          orderers: ORDERERS,
          params: PARAMS,
          tickMs: TICK_MS,
          epochStart: 0,
          crypto: fakeCrypto(name),
          validateBlock: () => null,
          validateEnvelope: () => null,
        },
        { head: { block: genesis, certificate: null }, records: [], recentTxIds: [] },
      );
      this.cores.set(name, core);
      this.chains.set(name, []);
      this.finals.set(name, []);
    }
  }

  step(name: NodeName, event: Parameters<ConsensusCore['step']>[0]): void {
    const queue: [NodeName, Ready][] = [[name, this.cores.get(name)!.step(event)]];
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      const [from, ready] = item;
      this.chains.get(from)!.push(...ready.commit.map((c) => blockHash(c.block.header)));
      this.finals.get(from)!.push(...ready.commit);
      if (ready.fetch !== null) {
        // As OrdererRole: ask the orderer with the longest chain (the Byzantine one serves none).
        const source = ready.fetch.peers
          .filter((p) => p !== from && p !== SELF)
          .sort((a, b) => this.finals.get(b)!.length - this.finals.get(a)!.length)[0];
        for (const final of source === undefined
          ? []
          : this.finals.get(source)!.slice(ready.fetch.fromHeight - 1, ready.fetch.fromHeight - 1 + 64)) {
          queue.push([from, this.cores.get(from)!.step({ type: 'committed-block', ...final })]);
        }
      }
      const send = from === SELF ? this.byzantine.transform(ready.send) : ready.send;
      for (const { to, message } of send) {
        for (const peer of to) {
          if (peer === from) continue;
          queue.push([peer, this.cores.get(peer)!.step({ type: 'decoded-message', from, message })]);
        }
      }
    }
  }

  tick(count: number): void {
    for (let i = 0; i < count; i++) {
      this.now += TICK_MS;
      for (const name of ORDERERS) this.step(name, { type: 'tick', nowMs: this.now });
    }
  }

  honest(): NodeName[] {
    return OTHERS;
  }

  rejected(reason: RejectReason): number {
    return this.honest().reduce((sum, n) => sum + this.cores.get(n)!.metrics().rejected[reason], 0);
  }
}

describe.each<[ByzantineMode, (c: Cluster) => void]>([
  [
    'equivocate',
    (c) => {
      expect(c.byzantine.counters.equivocations).toBeGreaterThan(0);
      expect(c.rejected('equivocation')).toBeGreaterThan(0);
      expect(c.honest().some((n) => c.cores.get(n)!.metrics().view > 0)).toBe(true);
    },
  ],
  [
    'conflicting-votes',
    (c) => {
      expect(c.rejected('equivocation')).toBeGreaterThan(0);
    },
  ],
  [
    'bad-signatures',
    (c) => {
      expect(c.rejected('bad-signature')).toBeGreaterThan(0);
      expect(c.cores.get('orderer1' as NodeName)!.metrics().lastViewChange?.reason).toBe('progress-timeout');
    },
  ],
  [
    'replay',
    (c) => {
      expect(c.rejected('stale-height') + c.rejected('duplicate')).toBeGreaterThan(0);
    },
  ],
  [
    'silent',
    (c) => {
      expect(c.cores.get('orderer1' as NodeName)!.metrics().lastViewChange?.reason).toBe('progress-timeout');
    },
  ],
  ['withhold-blocks', () => undefined],
])('a %s leader among four real cores', (mode, misbehaviourCounted) => {
  it('cannot fork the honest orderers or stop them, and is noticed', () => {
    const cluster = new Cluster(mode);
    cluster.tick(1);
    for (let i = 0; i < envelopes.length; i++) {
      cluster.step(ORDERERS[1 + (i % 3)]!, { type: 'request', envelope: envelopes[i]! });
      cluster.tick(3);
    }
    cluster.tick(200);
    const chains = cluster.honest().map((n) => cluster.chains.get(n)!);
    const longest = Math.max(...chains.map((c) => c.length));
    // Safety: every honest chain is a prefix of the longest. Liveness: every transaction final.
    for (const chain of chains)
      expect(chain).toEqual(chains.find((c) => c.length === longest)!.slice(0, chain.length));
    for (const n of cluster.honest())
      expect(cluster.cores.get(n)!.metrics().committedTxs).toBe(envelopes.length);
    misbehaviourCounted(cluster);
  });
});
