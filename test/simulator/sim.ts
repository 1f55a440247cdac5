import {
  ConsensusCore,
  encodeConsensusMessage,
  type ConsensusCrypto,
  type ConsensusEvent,
  type ConsensusMessage,
  type FinalBlock,
  type PersistRecord,
  type Ready,
} from '../../node/consensus/index.js';
import {
  blockHash,
  buildBlock,
  canonicalBytes,
  commitVoteBytes,
  configTxId,
  quorumSize,
  faultTolerance,
  sha256Hex,
  SigningDomain,
  votingOrderers,
  type Block,
  type CommitCertificate,
  type ConfigPayload,
  type ConsensusParams,
  type Envelope,
  type Hash,
  type Identity,
  type NetworkConfig,
  type NodeName,
  type SignatureHex,
  type TxId,
} from '../../node/protocol/index.js';
import { fakeCrypto, fakeSignature } from './fake-crypto.js';
import { Prng } from './prng.js';

export type ByzantineMode = 'silent' | 'equivocate' | 'garbage';

/**
 * Reconfiguration: config transactions change the voting membership while the chaos lasts
 * (one change at a time, each naming the whole next voting set), and every node derives the
 * membership from the config blocks of its own chain, as the orderer process does.
 */
export interface ReconfigOptions {
  /** Orderers outside the genesis membership that a change may add (they start as followers). */
  readonly spares: number;
  /** Configuration changes submitted during the chaos, each once the previous one is final. */
  readonly changes: number;
  /** Probability that one more change is submitted just after healing (its epoch change must be live). */
  readonly afterGst: number;
  /** A config envelope naming `members` as the next voting set (fakeConfigEnvelope). */
  readonly configEnvelope: (members: readonly NodeName[], sequence: number) => Envelope;
}

export interface SimOptions {
  readonly seed: number;
  /** Genesis voting orderers. */
  readonly n: number;
  /** Byzantine orderers (at most f); they run the real core but tamper with what they send. */
  readonly byzantine: number;
  /** Ticks of chaos (drops, delays, duplicates, partitions, crashes) before the network heals. */
  readonly chaosTicks: number;
  /** After healing, every new transaction must be final everywhere within this many ticks. */
  readonly livenessTicks: number;
  readonly txsBeforeGst: number;
  readonly txsAfterGst: number;
  readonly envelopes: readonly Envelope[];
  readonly genesis: Block;
  /** Real keys for a compatibility run; the fake by default. */
  readonly crypto?: (name: NodeName) => ConsensusCrypto;
  /** Encode and decode every message (exercises the wire format; slower). */
  readonly wire?: boolean;
  readonly params?: Partial<ConsensusParams>;
  /** Membership changes (absent: the genesis membership orders everything, as before). */
  readonly reconfig?: ReconfigOptions;
}

export interface SimResult {
  readonly ticks: number;
  readonly heights: readonly number[];
  readonly finalTxs: number;
  readonly viewChanges: number;
  readonly messages: number;
  readonly chains: readonly (readonly FinalBlock[])[];
  readonly byzantine: readonly NodeName[];
  /** Config blocks final (reconfiguration mode). */
  readonly reconfigurations: number;
  /** Voting sets in force, in order (genesis first). */
  readonly memberships: readonly (readonly NodeName[])[];
  /** Epoch changes performed by cores (a core handing over to the next epoch's core). */
  readonly epochHandovers: number;
  /** Requests in the pools of orderers that left the voting set (dropped there, re-sent by the simulated gateway). */
  readonly droppedOnRemoval: number;
}

const TICK_MS = 10;
const FETCH_BLOCKS_MAX = 8;
/** A follower (non-voting orderer) asks another node for the blocks it lacks this often. */
const FOLLOW_TICKS = 10;
/** Consensus messages a node keeps to replay into its next epoch's core (the orderer keeps 512). */
const RECENT_MESSAGES_MAX = 256;
/** A client re-sends a config transaction that is not final after this many ticks (it may have been lost with a crashed pool). */
const CONFIG_RESEND_TICKS = 60;
const SIM_PARAMS: ConsensusParams = {
  batchTxMax: 3,
  batchBytesMax: 64 * 1024,
  batchTimeoutMs: 20,
  viewTimeoutMs: 150,
  checkpointInterval: 5,
  window: 3,
};

/** One epoch of a node's chain: the voting set in force above `start` (the config block's height). */
interface Epoch {
  readonly start: number;
  readonly members: readonly NodeName[];
}

interface SimNode {
  readonly index: number;
  readonly name: NodeName;
  readonly crypto: ConsensusCrypto;
  readonly byzantine: ByzantineMode | null;
  /** Crashed (restarts later); an up node without a core is a follower (not a voting member). */
  down: boolean;
  core: ConsensusCore | null;
  records: PersistRecord[];
  /** chain[h] is the block at height h; chain[0] is genesis (no certificate). */
  readonly chain: { block: Block; certificate: CommitCertificate | null }[];
  /** The epochs of this node's chain, oldest first (derived from its config blocks). */
  readonly epochs: Epoch[];
  /** Messages this node received, for a Byzantine node to replay. */
  readonly seen: ConsensusMessage[];
  /** Recently received consensus messages, replayed into the next epoch's core (reconfiguration only). */
  readonly recent: Extract<ConsensusEvent, { type: 'message' | 'decoded-message' }>[];
  nextFollowTick: number;
}

type Delivery =
  | {
      readonly kind: 'message';
      readonly from: number;
      readonly to: number;
      readonly message: ConsensusMessage;
    }
  | { readonly kind: 'bytes'; readonly from: number; readonly to: number; readonly bytes: Uint8Array }
  | { readonly kind: 'blocks'; readonly to: number; readonly finals: readonly FinalBlock[] };

export class SimulationFailure extends Error {
  override readonly name = 'SimulationFailure';
}

/** The voting set a config transaction names, or undefined for any other transaction. */
export function configMembers(envelope: Envelope): NodeName[] | undefined {
  if (envelope.payload.type !== 'config') return undefined;
  return votingOrderers(envelope.payload.config.orderers).map((o) => o.name);
}

/**
 * A config envelope that passes the core's checks (schema shape, txId implied by its content)
 * naming `members` as the voting orderers, each entry copied from the template's first
 * orderer with its name changed. Signatures are fake: the simulator's validators accept all.
 */
export function fakeConfigEnvelope(
  template: NetworkConfig,
  creator: Identity,
  members: readonly NodeName[],
  sequence: number,
): Envelope {
  const entry = template.orderers[0];
  if (entry === undefined) throw new RangeError('the template names no orderer');
  const config: NetworkConfig = {
    ...template,
    sequence,
    orderers: members.map((name, i) => ({ ...entry, name, port: 7050 + i, apiPort: 8050 + i })),
  };
  const txId = configTxId(creator, config);
  const approvalSignature = fakeSignature(creator.org, SigningDomain.envelope, canonicalBytes(config));
  const payload: ConfigPayload = {
    version: 1,
    type: 'config',
    txId,
    creator,
    config,
    approvals: [{ signer: creator, signature: approvalSignature }],
  };
  return {
    payload,
    signature: fakeSignature(creator.org, SigningDomain.envelope, canonicalBytes(payload)),
  };
}

export class Simulation {
  private readonly rng: Prng;
  private readonly nodes: SimNode[];
  /** Every orderer of the pool: the genesis members first, then the spares. */
  private readonly names: NodeName[];
  private readonly genesisMembers: readonly NodeName[];
  private readonly params: ConsensusParams;
  private readonly queue = new Map<number, Delivery[]>();
  private tick = 0;
  private gst: boolean = false;
  private partition: number[] | null = null;
  private readonly finalHashes: Hash[] = [];
  /** finalMembers[h]: the voting set in force for height h + 1 once h is final (network-wide). */
  private readonly finalMembers: string[] = [];
  private readonly finalTxHeight = new Map<TxId, number>();
  private messages = 0;
  private nextTx = 0;
  // Reconfiguration state.
  private readonly memberships: (readonly NodeName[])[];
  private pendingConfig: { envelope: Envelope; sentTick: number } | undefined;
  private configsSubmitted = 0;
  private epochHandovers = 0;
  private droppedOnRemoval = 0;
  /** Requests a removed orderer dropped, re-delivered on the next tick to a voting orderer. */
  private orphans: Envelope[] = [];

  constructor(private readonly options: SimOptions) {
    this.rng = new Prng(options.seed);
    this.params = { ...SIM_PARAMS, ...options.params };
    const pool = options.n + (options.reconfig?.spares ?? 0);
    this.names = Array.from({ length: pool }, (_, i) => `orderer${i}` as NodeName);
    this.genesisMembers = this.names.slice(0, options.n);
    this.memberships = [this.genesisMembers];
    const f = faultTolerance(options.n);
    if (options.byzantine > f) throw new RangeError(`${options.byzantine} Byzantine orderers > f = ${f}`);
    // Byzantine orderers among the whole pool (a spare may be one, if a change ever adds it).
    const byzantine = new Set(this.rng.shuffle([...this.names.keys()]).slice(0, options.byzantine));
    const modes: ByzantineMode[] = ['silent', 'equivocate', 'garbage'];
    this.nodes = this.names.map((name, index) => ({
      index,
      name,
      crypto: (options.crypto ?? fakeCrypto)(name),
      byzantine: byzantine.has(index) ? this.rng.pick(modes) : null,
      down: false,
      core: null,
      records: [],
      chain: [{ block: options.genesis, certificate: null }],
      epochs: [{ start: 0, members: this.genesisMembers }],
      seen: [],
      recent: [],
      nextFollowTick: 0,
    }));
    this.finalHashes[0] = blockHash(options.genesis.header);
    this.finalMembers[0] = this.genesisMembers.join(',');
    for (const node of this.nodes) this.start(node);
  }

  private fail(message: string): never {
    const { seed, n, byzantine, reconfig } = this.options;
    throw new SimulationFailure(
      `seed ${seed} (n=${n}, byzantine=${byzantine}${reconfig === undefined ? '' : `, reconfig, pool=${this.names.length}`}) at tick ${this.tick}: ${message}`,
    );
  }

  private get reconfiguring(): boolean {
    return this.options.reconfig !== undefined;
  }

  /** The epoch in force for the block at `height` on this node's chain. */
  private epochAt(node: SimNode, height: number): Epoch {
    for (let i = node.epochs.length - 1; i >= 0; i--) {
      const epoch = node.epochs[i];
      if (epoch !== undefined && (epoch.start < height || epoch.start === 0)) return epoch;
    }
    this.fail(`${node.name} has no epoch for height ${height}`);
  }

  /** The epoch of this node's head: the membership that orders the next block. */
  private currentEpoch(node: SimNode): Epoch {
    const epoch = node.epochs[node.epochs.length - 1];
    if (epoch === undefined) this.fail(`${node.name} has no epoch`);
    return epoch;
  }

  /** (Re)starts a node from its chain and persisted records: a core if it votes in its head's epoch, else a follower. */
  private start(node: SimNode): void {
    node.down = false;
    const last = node.chain[node.chain.length - 1];
    if (last === undefined) this.fail('empty chain');
    const height = last.block.header.height;
    node.records = node.records.filter((r) => r.kind === 'view' || r.height > height);
    this.startCore(node, node.records);
  }

  private startCore(node: SimNode, records: readonly PersistRecord[]): void {
    const last = node.chain[node.chain.length - 1];
    if (last === undefined) this.fail('empty chain');
    const epoch = this.currentEpoch(node);
    if (!epoch.members.includes(node.name)) {
      node.core = null;
      return;
    }
    const recentTxIds = node.chain.flatMap((b) => b.block.transactions.map((e) => e.payload.txId));
    node.core = new ConsensusCore(
      {
        self: node.name,
        orderers: epoch.members,
        params: this.params,
        tickMs: TICK_MS,
        epochStart: epoch.start,
        epochStartHash: blockHash(this.blockAt(node, epoch.start).header),
        crypto: node.crypto,
        validateBlock: () => null,
        validateEnvelope: () => null,
      },
      { head: last, records, recentTxIds: recentTxIds.slice(1) },
    );
  }

  /** The block at `height` of a node's chain (the chain starts at genesis, height 0). */
  private blockAt(node: SimNode, height: number): Block {
    const entry = node.chain[height];
    if (entry === undefined) this.fail(`${node.name} has no block ${height}`);
    return entry.block;
  }

  private honest(): SimNode[] {
    return this.nodes.filter((n) => n.byzantine === null);
  }

  private nowMs(): number {
    return this.options.genesis.header.timestampMs + this.tick * TICK_MS;
  }

  run(): SimResult {
    const { chaosTicks, livenessTicks, txsBeforeGst, txsAfterGst } = this.options;
    const postGstTxs: TxId[] = [];
    const submitEvery = Math.max(1, Math.floor(chaosTicks / Math.max(1, txsBeforeGst)));
    for (this.tick = 1; ; this.tick++) {
      this.deliver();
      for (const node of this.nodes) {
        if (node.down) continue;
        if (node.core !== null) this.step(node, { type: 'tick', nowMs: this.nowMs() });
        else this.followTick(node);
      }
      if (this.reconfiguring) this.reconfigure(postGstTxs);
      if (!this.gst) {
        if (this.tick % submitEvery === 0) this.submit(this.rng.pick(this.nodes), this.rng.chance(0.1));
        this.chaos();
        if (this.tick >= chaosTicks) this.heal(postGstTxs);
        continue;
      }
      const sinceGst = this.tick - chaosTicks;
      if (sinceGst <= txsAfterGst) {
        // Clients reach orderers that take requests (after healing, every one in the genesis-only mode).
        const takers = this.honest().filter((n) => n.core !== null);
        const target = this.rng.pick(takers.length > 0 ? takers : this.honest());
        const txId = this.submit(target, false);
        if (txId !== undefined) postGstTxs.push(txId);
      }
      if (sinceGst > txsAfterGst && this.allFinal(postGstTxs)) break;
      if (sinceGst > livenessTicks) {
        const missing = postGstTxs.filter((t) => !this.finalTxHeight.has(t)).length;
        this.fail(
          `liveness: ${missing} of ${postGstTxs.length} transactions not final everywhere ${livenessTicks} ticks after healing; ` +
            `heights ${this.nodes.map((n) => n.chain.length - 1).join(',')}; ` +
            `byzantine ${this.nodes
              .filter((n) => n.byzantine !== null)
              .map((n) => `${n.name}:${n.byzantine ?? ''}`)
              .join(',')}; ` +
            (this.reconfiguring
              ? `memberships ${this.memberships.map((m) => `[${m.join(',')}]`).join(' ')}; ` +
                `epochs ${this.nodes.map((n) => `${n.name}@${this.currentEpoch(n).start}${n.core === null ? '(follower)' : ''}`).join(',')}; `
              : '') +
            `metrics ${JSON.stringify(this.nodes.map((n) => n.core?.metrics()))}`,
        );
      }
    }
    const honest = this.honest();
    return {
      ticks: this.tick,
      heights: this.nodes.map((n) => n.chain.length - 1),
      finalTxs: this.finalTxHeight.size,
      viewChanges: Math.max(...honest.map((n) => n.core?.metrics().viewChanges ?? 0)),
      messages: this.messages,
      chains: this.nodes.map((n) => n.chain.slice(1) as FinalBlock[]),
      byzantine: this.nodes.filter((n) => n.byzantine !== null).map((n) => n.name),
      reconfigurations: this.memberships.length - 1,
      memberships: this.memberships,
      epochHandovers: this.epochHandovers,
      droppedOnRemoval: this.droppedOnRemoval,
    };
  }

  /** Every post-GST transaction final on every honest node, and all honest nodes at one height. */
  private allFinal(txIds: readonly TxId[]): boolean {
    const honest = this.honest();
    const height = honest[0]?.chain.length ?? 0;
    if (!honest.every((n) => n.chain.length === height)) return false;
    if (this.pendingConfig !== undefined) return false;
    return txIds.every((t) => {
      const h = this.finalTxHeight.get(t);
      return h !== undefined && h < height;
    });
  }

  private submit(node: SimNode, duplicate: boolean): TxId | undefined {
    const { envelopes } = this.options;
    const envelope =
      duplicate && this.nextTx > 0 ? envelopes[this.rng.int(this.nextTx)] : envelopes[this.nextTx++];
    if (envelope === undefined) this.fail('the simulation ran out of envelopes');
    // A crashed orderer, or one that does not vote (it runs no core), takes no request.
    if (node.core === null) return undefined;
    this.step(node, { type: 'request', envelope });
    return envelope.payload.txId;
  }

  // ---------------------------------------------------------------- reconfiguration

  /**
   * Submits the next configuration change (one at a time: the next once the previous is final)
   * and re-sends a pending one that is not final yet, as a client would.
   */
  private reconfigure(postGstTxs: TxId[]): void {
    const reconfig = this.options.reconfig;
    if (reconfig === undefined) return;
    if (this.orphans.length > 0) {
      const orphans = this.orphans;
      this.orphans = [];
      // Like the post-GST submissions: to an honest one (a Byzantine orderer may sit on them).
      const takers = this.honest().filter((n) => !n.down && n.core !== null);
      for (const envelope of orphans)
        if (takers.length > 0) this.step(this.rng.pick(takers), { type: 'request', envelope });
    }
    const pending = this.pendingConfig;
    if (pending !== undefined) {
      if (this.finalTxHeight.has(pending.envelope.payload.txId)) {
        this.pendingConfig = undefined;
      } else if (this.tick - pending.sentTick >= CONFIG_RESEND_TICKS) {
        this.sendConfig(pending.envelope);
        pending.sentTick = this.tick;
        // Resent after healing: the change must now complete like any other transaction.
        if (this.gst && !postGstTxs.includes(pending.envelope.payload.txId))
          postGstTxs.push(pending.envelope.payload.txId);
      }
      return;
    }
    if (this.gst || this.configsSubmitted >= reconfig.changes || !this.rng.chance(0.05)) return;
    this.submitConfig();
  }

  /** Builds the next voting set from the latest final one and submits it; undefined if no change is allowed. */
  private submitConfig(): TxId | undefined {
    const reconfig = this.options.reconfig;
    if (reconfig === undefined) return undefined;
    const current = this.memberships[this.memberships.length - 1] ?? this.genesisMembers;
    const byzantine = new Set(this.nodes.filter((n) => n.byzantine !== null).map((n) => n.name));
    const minimum = byzantine.size > 0 ? 4 : 1;
    const candidates: NodeName[][] = [];
    for (const name of this.names) {
      const next = current.includes(name) ? current.filter((m) => m !== name) : [...current, name];
      if (next.length < minimum) continue;
      // Keep f's bound: at most f Byzantine orderers in every voting set.
      if (next.filter((m) => byzantine.has(m)).length > faultTolerance(next.length)) continue;
      candidates.push(next);
    }
    if (candidates.length === 0) return undefined;
    const members = this.rng.pick(candidates);
    this.configsSubmitted++;
    const envelope = reconfig.configEnvelope(members, this.configsSubmitted);
    if (configMembers(envelope)?.join(',') !== members.join(','))
      this.fail('the config envelope does not name the members it was built for');
    this.pendingConfig = { envelope, sentTick: this.tick };
    this.sendConfig(envelope);
    return envelope.payload.txId;
  }

  /** A gateway sends a config transaction to every orderer that takes requests. */
  private sendConfig(envelope: Envelope): void {
    for (const node of this.nodes) {
      if (!node.down && node.core !== null) this.step(node, { type: 'request', envelope });
    }
  }

  /**
   * A node's epoch ended (its core committed a config block): start the next epoch's core as
   * the orderer does (pending requests handed over, recent messages replayed), or follow the
   * chain if the new configuration does not make it a voting member.
   */
  private nextEpoch(node: SimNode, ended: ConsensusCore): void {
    const epoch = this.currentEpoch(node);
    const head = node.chain[node.chain.length - 1];
    if (head?.block.header.height !== epoch.start)
      this.fail(`${node.name}'s core ended at ${ended.height}, its last config block is at ${epoch.start}`);
    if (ended.height !== epoch.start)
      this.fail(
        `${node.name}'s core ended at height ${ended.height}, not at its config block ${epoch.start}`,
      );
    this.startCore(node, []);
    const core = node.core;
    if (core === null) {
      // No longer a voting member: its pool goes (as in the orderer). Gateways send every
      // transaction to every orderer, so the voting members got these too; the simulator, which
      // submits each to one orderer, hands them to the gateway's other copies here.
      const dropped = ended.pendingRequests();
      this.droppedOnRemoval += dropped.length;
      this.orphans.push(...dropped);
      node.nextFollowTick = this.tick + 1;
      return;
    }
    this.epochHandovers++;
    const replay: ConsensusEvent[] = [
      { type: 'tick', nowMs: this.nowMs() },
      ...ended.pendingRequests().map((envelope): ConsensusEvent => ({ type: 'request', envelope })),
      ...node.recent,
    ];
    for (const event of replay) {
      // A step may crash the node or end this epoch too.
      if (node.core !== core) return;
      this.step(node, event);
    }
  }

  /** A follower asks a random node that is ahead of it (and reachable) for the blocks it lacks. */
  private followTick(node: SimNode): void {
    if (this.tick < node.nextFollowTick) return;
    node.nextFollowTick = this.tick + FOLLOW_TICKS;
    const height = node.chain.length;
    const ahead = this.nodes.filter(
      (p) =>
        p !== node &&
        !p.down &&
        p.chain.length > height &&
        (this.partition === null || this.partition[p.index] === this.partition[node.index]),
    );
    if (ahead.length === 0) return;
    this.serveFrom(this.rng.pick(ahead), node, height);
  }

  /**
   * A follower checks a fetched block as the orderer's follow() does: it extends the head, and
   * a quorum of the membership in force at its height signed it.
   */
  private followBlock(node: SimNode, final: FinalBlock): boolean {
    const { block, certificate } = final;
    const height = block.header.height;
    if (height !== node.chain.length) return false;
    const prev = node.chain[height - 1];
    if (prev === undefined || block.header.prevHash !== blockHash(prev.block.header)) return false;
    const { members } = this.epochAt(node, height);
    if (certificateProblem(certificate, block, members, node.crypto) !== null) return false;
    this.apply(node, final);
    if (this.currentEpoch(node).members.includes(node.name)) {
      // Promoted: a voting member of the configuration this (config) block starts.
      this.startCore(node, []);
      if (node.core !== null) this.step(node, { type: 'tick', nowMs: this.nowMs() });
    }
    return true;
  }

  // ---------------------------------------------------------------- chaos

  private chaos(): void {
    const { rng } = this;
    const f = faultTolerance(this.options.n);
    if (rng.chance(0.02)) {
      const live = this.honest().filter((n) => !n.down);
      const crashed = this.honest().length - live.length;
      if (live.length > 0 && crashed < Math.max(1, f)) this.crash(rng.pick(live));
    }
    for (const node of this.nodes) if (node.down && rng.chance(0.05)) this.start(node);
    if (this.partition === null && rng.chance(0.01)) {
      this.partition = this.nodes.map(() => rng.int(2));
    } else if (this.partition !== null && rng.chance(0.05)) {
      this.partition = null;
    }
  }

  private crash(node: SimNode): void {
    node.core = null;
    node.down = true;
    node.recent.length = 0;
    // Whatever was in flight to it is lost with its sockets.
    for (const items of this.queue.values()) {
      for (let i = items.length - 1; i >= 0; i--) if (items[i]?.to === node.index) items.splice(i, 1);
    }
  }

  private heal(postGstTxs: TxId[]): void {
    this.gst = true;
    this.partition = null;
    for (const node of this.nodes) if (node.down) this.start(node);
    const reconfig = this.options.reconfig;
    if (reconfig === undefined || this.pendingConfig !== undefined || reconfig.afterGst <= 0) return;
    // One more change after healing: its epoch change must complete like any transaction.
    const txId = this.rng.chance(reconfig.afterGst) ? this.submitConfig() : undefined;
    if (txId !== undefined) postGstTxs.push(txId);
  }

  private enqueue(delay: number, item: Delivery): void {
    const at = this.tick + delay;
    const items = this.queue.get(at);
    if (items === undefined) this.queue.set(at, [item]);
    else items.push(item);
  }

  private remember(node: SimNode, event: SimNode['recent'][number]): void {
    if (!this.reconfiguring) return;
    node.recent.push(event);
    if (node.recent.length > RECENT_MESSAGES_MAX) node.recent.shift();
  }

  private deliver(): void {
    const items = this.queue.get(this.tick);
    if (items === undefined) return;
    this.queue.delete(this.tick);
    for (const item of this.rng.shuffle(items)) {
      const node = this.nodes[item.to];
      if (node === undefined || node.down) continue;
      switch (item.kind) {
        case 'message': {
          const event = {
            type: 'decoded-message' as const,
            from: this.names[item.from] as NodeName,
            message: item.message,
          };
          this.remember(node, event);
          // A follower runs no core: it only keeps the message for the core it may start.
          if (node.core === null) break;
          if (node.byzantine !== null && node.seen.length < 200) node.seen.push(item.message);
          this.step(node, event);
          break;
        }
        case 'bytes': {
          const event = {
            type: 'message' as const,
            from: this.names[item.from] as NodeName,
            bytes: item.bytes,
          };
          this.remember(node, event);
          if (node.core !== null) this.step(node, event);
          break;
        }
        case 'blocks':
          for (const final of item.finals) {
            // A step may crash the node (crash between persist and send).
            if (isDown(node)) break;
            if (node.core !== null)
              this.step(node, {
                type: 'committed-block',
                block: final.block,
                certificate: final.certificate,
              });
            else if (!this.followBlock(node, final)) break;
          }
          break;
        default: {
          const unreachable: never = item;
          throw new Error(`unknown delivery ${JSON.stringify(unreachable)}`);
        }
      }
    }
  }

  private step(node: SimNode, event: ConsensusEvent): void {
    const core = node.core;
    if (core === null) return;
    let ready: Ready;
    try {
      ready = core.step(event);
    } catch (error) {
      this.fail(`${node.name} crashed on ${event.type}: ${(error as Error).stack ?? String(error)}`);
    }
    if (process.env.SIM_TRACE !== undefined && node.index === Number(process.env.SIM_TRACE)) {
      const m = core.metrics();
      const key = `${m.view}/${m.status}/${m.height}`;
      if (key !== (node as unknown as { lastKey?: string }).lastKey) {
        console.log(
          `t=${this.tick} ${node.name} ${key} slots=${JSON.stringify([...(core as unknown as { slots: Map<number, { proposal?: { view: number }; acceptedView: number; prepared?: { view: number } }> }).slots.entries()].map(([h, s]) => [h, s.proposal?.view, s.acceptedView, s.prepared?.view]))}`,
        );
        (node as unknown as { lastKey?: string }).lastKey = key;
      }
    }
    // 1. persist: durable before anything is sent.
    node.records.push(...ready.persist);
    if (!this.gst && ready.persist.length > 0 && this.rng.chance(0.01)) {
      // A crash after persisting, before sending or applying: the restart must not vote twice.
      this.crash(node);
      return;
    }
    // 2. send.
    for (const out of ready.send) {
      for (const to of out.to) this.send(node, this.names.indexOf(to), out.message);
    }
    // 3. apply.
    for (const final of ready.commit) this.apply(node, final);
    if (core.ended) {
      // The epoch's config block is final: nothing more comes from this core.
      if (ready.fetch !== null) this.fail(`${node.name}: an ended core asked to fetch`);
      if (node.core === core) this.nextEpoch(node, core);
      return;
    }
    // 4. fetch.
    if (ready.fetch !== null) this.serveFetch(node, ready.fetch.fromHeight, ready.fetch.peers);
  }

  private send(from: SimNode, to: number, message: ConsensusMessage): void {
    if (to < 0) this.fail(`${from.name} sends to an unknown orderer`);
    if (from.byzantine !== null) {
      for (const tampered of this.tamper(from, message)) this.transmit(from.index, to, tampered);
      return;
    }
    this.transmit(from.index, to, message);
  }

  private transmit(from: number, to: number, message: ConsensusMessage): void {
    const { rng } = this;
    this.messages++;
    if (!this.gst) {
      if (this.partition !== null && this.partition[from] !== this.partition[to]) return;
      if (rng.chance(0.08)) return;
    }
    const copies = !this.gst && rng.chance(0.05) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = this.gst ? rng.range(1, 2) : rng.range(1, 6);
      if (this.options.wire === true)
        this.enqueue(delay, { kind: 'bytes', from, to, bytes: encodeConsensusMessage(message) });
      else this.enqueue(delay, { kind: 'message', from, to, message });
    }
  }

  /** What a Byzantine orderer sends instead of `message`. */
  private tamper(node: SimNode, message: ConsensusMessage): ConsensusMessage[] {
    const { rng } = this;
    const sign = <M extends ConsensusMessage>(m: M): M => {
      const body: Partial<M> = { ...m };
      delete body.signature;
      return {
        ...body,
        signature: node.crypto.sign(SigningDomain.consensus, signingBytesOf(body)),
      } as unknown as M;
    };
    switch (node.byzantine) {
      case null:
        return [message];
      case 'silent':
        return rng.chance(0.8) ? [] : [message];
      case 'equivocate': {
        if (message.type === 'pre-prepare' && rng.chance(0.5)) {
          const { block } = message;
          const transactions =
            block.transactions.length > 1 ? block.transactions.slice(1) : block.transactions;
          const other = buildBlock({
            height: block.header.height,
            prevHash: block.header.prevHash,
            transactions,
            timestampMs: block.header.timestampMs + 1,
            proposer: block.header.proposer,
          });
          const hash = blockHash(other.header);
          const prePrepare = sign({ ...message, block: other });
          const prepare = sign<ConsensusMessage>({
            type: 'prepare',
            version: message.version,
            view: message.view,
            height: message.height,
            from: node.name,
            blockHash: hash,
            signature: '' as SignatureHex,
          });
          return [prePrepare, prepare, this.commitFor(node, message.view, message.height, hash)];
        }
        if ((message.type === 'prepare' || message.type === 'commit') && rng.chance(0.5)) {
          const hash = sha256Hex(`conflict-${rng.nextU32()}`);
          if (message.type === 'commit') return [this.commitFor(node, message.view, message.height, hash)];
          return [sign({ ...message, blockHash: hash })];
        }
        return [message];
      }
      case 'garbage': {
        const roll = rng.int(6);
        if (roll === 0)
          return [
            {
              ...message,
              signature: (message.signature.startsWith('0') ? '1' : '0') + message.signature.slice(1),
            } as ConsensusMessage,
          ];
        if (roll === 1 && node.seen.length > 0) {
          const old = rng.pick(node.seen);
          return [message, old, sign({ ...old, from: node.name })];
        }
        if (roll === 2 && message.type !== 'view-change' && message.type !== 'new-view') {
          return [sign({ ...message, height: message.height + rng.range(1, 50) })];
        }
        if (roll === 3) return [sign({ ...message, view: message.view + rng.range(1, 3) })];
        return [message];
      }
      default: {
        const unreachable: never = node.byzantine;
        throw new Error(`unknown mode ${String(unreachable)}`);
      }
    }
  }

  private commitFor(node: SimNode, view: number, height: number, hash: Hash): ConsensusMessage {
    const vote = node.crypto.sign(
      SigningDomain.commitVote,
      commitVoteBytes({ height, blockHash: hash, view }),
    );
    const body = {
      type: 'commit' as const,
      version: 1 as const,
      view,
      height,
      from: node.name,
      blockHash: hash,
      vote,
    };
    return { ...body, signature: node.crypto.sign(SigningDomain.consensus, signingBytesOf(body)) };
  }

  private apply(node: SimNode, final: FinalBlock): void {
    const { block, certificate } = final;
    const height = block.header.height;
    const hash = blockHash(block.header);
    const prev = node.chain[node.chain.length - 1];
    if (height !== node.chain.length)
      this.fail(`${node.name} committed height ${height} on a chain of ${node.chain.length}`);
    if (prev === undefined || block.header.prevHash !== blockHash(prev.block.header)) {
      this.fail(`${node.name} committed block ${height} that does not extend its chain`);
    }
    // The membership that ordered this block (before a config block in it takes effect).
    const { members } = this.epochAt(node, height);
    node.chain.push({ block, certificate });
    const configs = block.transactions.map(configMembers).filter((m) => m !== undefined);
    if (configs.length > 0) {
      if (block.transactions.length !== 1)
        this.fail(
          `${node.name} committed config block ${height} with ${block.transactions.length} transactions`,
        );
      const next = configs[0];
      if (next !== undefined) node.epochs.push({ start: height, members: next });
    }
    if (node.byzantine !== null) return;
    // Safety: one block per height, network-wide.
    const known = this.finalHashes[height];
    if (known !== undefined && known !== hash)
      this.fail(`SAFETY: two different blocks final at height ${height}`);
    this.finalHashes[height] = hash;
    // Safety: every node that commits h has the same voting set for h + 1.
    const after = this.currentEpoch(node).members.join(',');
    const knownAfter = this.finalMembers[height];
    if (knownAfter !== undefined && knownAfter !== after)
      this.fail(
        `SAFETY: ${node.name} has membership [${after}] after height ${height}, another node [${knownAfter}]`,
      );
    if (knownAfter === undefined) {
      this.finalMembers[height] = after;
      if (configs.length > 0) this.memberships.push(this.currentEpoch(node).members);
    }
    const problem = certificateProblem(certificate, block, members, node.crypto);
    if (problem !== null) this.fail(`${node.name}: block ${height}: ${problem}`);
    if (this.reconfiguring && !members.includes(block.header.proposer))
      this.fail(
        `${node.name}: block ${height} proposed by ${block.header.proposer}, not a member of [${members.join(',')}]`,
      );
    // Each transaction final at most once.
    for (const envelope of block.transactions) {
      const txId = envelope.payload.txId;
      const at = this.finalTxHeight.get(txId);
      if (at !== undefined && at !== height)
        this.fail(`transaction ${txId} final at heights ${at} and ${height}`);
      this.finalTxHeight.set(txId, height);
    }
    if (node.records.length > 200)
      node.records = node.records.filter((r) => r.kind === 'view' || r.height > height);
  }

  private serveFetch(node: SimNode, fromHeight: number, peers: readonly NodeName[]): void {
    const live = peers
      .map((p) => this.nodes[this.names.indexOf(p)])
      .filter((p): p is SimNode => p !== undefined && !p.down);
    if (live.length === 0) return;
    this.serveFrom(this.rng.pick(live), node, fromHeight);
  }

  /** `peer` answers a fetch with up to FETCH_BLOCKS_MAX final blocks from `fromHeight`. */
  private serveFrom(peer: SimNode, node: SimNode, fromHeight: number): void {
    const finals: FinalBlock[] = [];
    for (const entry of peer.chain.slice(fromHeight, fromHeight + FETCH_BLOCKS_MAX)) {
      if (entry.certificate === null) continue;
      let certificate = entry.certificate;
      // A lying peer serves certificates short of a quorum; the core must refuse them.
      if (peer.byzantine === 'garbage')
        certificate = { ...certificate, signatures: certificate.signatures.slice(1) };
      finals.push({ block: entry.block, certificate });
    }
    if (finals.length > 0) this.enqueue(this.rng.range(1, 3), { kind: 'blocks', to: node.index, finals });
  }
}

/** Why `cert` does not prove `block` final under the voting set `members`, or null. */
function certificateProblem(
  cert: CommitCertificate,
  block: Block,
  members: readonly NodeName[],
  crypto: ConsensusCrypto,
): string | null {
  const height = block.header.height;
  const hash = blockHash(block.header);
  if (cert.height !== height || cert.blockHash !== hash) return 'certificate for another block';
  const bytes = commitVoteBytes({ height, blockHash: hash, view: cert.view });
  const signers = new Set(cert.signatures.map((s) => s.signer));
  if (signers.size !== cert.signatures.length) return 'certificate with a signer twice';
  if (signers.size < quorumSize(members.length))
    return `certificate with ${signers.size} signers, a quorum of [${members.join(',')}] is ${quorumSize(members.length)}`;
  for (const { signer, signature } of cert.signatures) {
    if (!members.includes(signer))
      return `certificate signed by ${signer}, not a member of [${members.join(',')}]`;
    if (!crypto.verify(signer, SigningDomain.commitVote, bytes, signature))
      return `certificate signature of ${signer} does not verify`;
  }
  return null;
}

/** The bytes a consensus signature covers (as the core computes them). */
function signingBytesOf(message: object): Buffer {
  const rest: Record<string, unknown> = { ...message };
  delete rest.signature;
  if (rest.type === 'view-change') delete rest.blocks;
  return canonicalBytes(rest);
}

function isDown(node: SimNode): boolean {
  return node.down;
}
