import {
  ConsensusCore,
  encodeConsensusMessage,
  type ConsensusCrypto,
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
  quorumSize,
  faultTolerance,
  sha256Hex,
  SigningDomain,
  type Block,
  type CommitCertificate,
  type ConsensusParams,
  type Envelope,
  type Hash,
  type NodeName,
  type SignatureHex,
  type TxId,
} from '../../node/protocol/index.js';
import { fakeCrypto } from './fake-crypto.js';
import { Prng } from './prng.js';

export type ByzantineMode = 'silent' | 'equivocate' | 'garbage';

export interface SimOptions {
  readonly seed: number;
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
}

export interface SimResult {
  readonly ticks: number;
  readonly heights: readonly number[];
  readonly finalTxs: number;
  readonly viewChanges: number;
  readonly messages: number;
  readonly chains: readonly (readonly FinalBlock[])[];
  readonly byzantine: readonly NodeName[];
}

const TICK_MS = 10;
const FETCH_BLOCKS_MAX = 8;
const SIM_PARAMS: ConsensusParams = {
  batchTxMax: 3,
  batchBytesMax: 64 * 1024,
  batchTimeoutMs: 20,
  viewTimeoutMs: 150,
  checkpointInterval: 5,
  window: 3,
};

interface SimNode {
  readonly index: number;
  readonly name: NodeName;
  readonly crypto: ConsensusCrypto;
  readonly byzantine: ByzantineMode | null;
  core: ConsensusCore | null;
  records: PersistRecord[];
  /** chain[h] is the block at height h; chain[0] is genesis (no certificate). */
  readonly chain: { block: Block; certificate: CommitCertificate | null }[];
  /** Messages this node received, for a Byzantine node to replay. */
  readonly seen: ConsensusMessage[];
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

export class Simulation {
  private readonly rng: Prng;
  private readonly nodes: SimNode[];
  private readonly names: NodeName[];
  private readonly params: ConsensusParams;
  private readonly quorum: number;
  private readonly queue = new Map<number, Delivery[]>();
  private tick = 0;
  private gst: boolean = false;
  private partition: number[] | null = null;
  private readonly finalHashes: Hash[] = [];
  private readonly finalTxHeight = new Map<TxId, number>();
  private messages = 0;
  private nextTx = 0;

  constructor(private readonly options: SimOptions) {
    this.rng = new Prng(options.seed);
    this.params = { ...SIM_PARAMS, ...options.params };
    this.names = Array.from({ length: options.n }, (_, i) => `orderer${i}` as NodeName);
    this.quorum = quorumSize(options.n);
    const f = faultTolerance(options.n);
    if (options.byzantine > f) throw new RangeError(`${options.byzantine} Byzantine orderers > f = ${f}`);
    const byzantine = new Set(this.rng.shuffle([...this.names.keys()]).slice(0, options.byzantine));
    const modes: ByzantineMode[] = ['silent', 'equivocate', 'garbage'];
    this.nodes = this.names.map((name, index) => ({
      index,
      name,
      crypto: (options.crypto ?? fakeCrypto)(name),
      byzantine: byzantine.has(index) ? this.rng.pick(modes) : null,
      core: null,
      records: [],
      chain: [{ block: options.genesis, certificate: null }],
      seen: [],
    }));
    this.finalHashes[0] = blockHash(options.genesis.header);
    for (const node of this.nodes) this.start(node);
  }

  private fail(message: string): never {
    throw new SimulationFailure(
      `seed ${this.options.seed} (n=${this.options.n}, byzantine=${this.options.byzantine}) at tick ${this.tick}: ${message}`,
    );
  }

  private start(node: SimNode): void {
    const last = node.chain[node.chain.length - 1];
    if (last === undefined) this.fail('empty chain');
    const height = last.block.header.height;
    const recentTxIds = node.chain.flatMap((b) => b.block.transactions.map((e) => e.payload.txId));
    node.records = node.records.filter((r) => r.kind === 'view' || r.height > height);
    node.core = new ConsensusCore(
      {
        self: node.name,
        orderers: this.names,
        params: this.params,
        tickMs: TICK_MS,
        epochStart: 0,
        crypto: node.crypto,
        validateBlock: () => null,
        validateEnvelope: () => null,
      },
      { head: last, records: node.records, recentTxIds: recentTxIds.slice(1) },
    );
  }

  private honest(): SimNode[] {
    return this.nodes.filter((n) => n.byzantine === null);
  }

  run(): SimResult {
    const { chaosTicks, livenessTicks, txsBeforeGst, txsAfterGst } = this.options;
    const postGstTxs: TxId[] = [];
    const submitEvery = Math.max(1, Math.floor(chaosTicks / Math.max(1, txsBeforeGst)));
    for (this.tick = 1; ; this.tick++) {
      this.deliver();
      for (const node of this.nodes) {
        if (node.core !== null)
          this.step(node, {
            type: 'tick',
            nowMs: this.options.genesis.header.timestampMs + this.tick * TICK_MS,
          });
      }
      if (!this.gst) {
        if (this.tick % submitEvery === 0) this.submit(this.rng.pick(this.nodes), this.rng.chance(0.1));
        this.chaos();
        if (this.tick >= chaosTicks) this.heal();
        continue;
      }
      const sinceGst = this.tick - chaosTicks;
      if (sinceGst <= txsAfterGst) {
        const target = this.rng.pick(this.honest());
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
    };
  }

  /** Every post-GST transaction final on every honest node, and all honest nodes at one height. */
  private allFinal(txIds: readonly TxId[]): boolean {
    const honest = this.honest();
    const height = honest[0]?.chain.length ?? 0;
    if (!honest.every((n) => n.chain.length === height)) return false;
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
    if (node.core === null) return undefined;
    this.step(node, { type: 'request', envelope });
    return envelope.payload.txId;
  }

  private chaos(): void {
    const { rng } = this;
    const f = faultTolerance(this.options.n);
    if (rng.chance(0.02)) {
      const live = this.honest().filter((n) => n.core !== null);
      const crashed = this.honest().length - live.length;
      if (live.length > 0 && crashed < Math.max(1, f)) this.crash(rng.pick(live));
    }
    for (const node of this.nodes) if (node.core === null && rng.chance(0.05)) this.start(node);
    if (this.partition === null && rng.chance(0.01)) {
      this.partition = this.nodes.map(() => rng.int(2));
    } else if (this.partition !== null && rng.chance(0.05)) {
      this.partition = null;
    }
  }

  private crash(node: SimNode): void {
    node.core = null;
    // Whatever was in flight to it is lost with its sockets.
    for (const items of this.queue.values()) {
      for (let i = items.length - 1; i >= 0; i--) if (items[i]?.to === node.index) items.splice(i, 1);
    }
  }

  private heal(): void {
    this.gst = true;
    this.partition = null;
    for (const node of this.nodes) if (node.core === null) this.start(node);
  }

  private enqueue(delay: number, item: Delivery): void {
    const at = this.tick + delay;
    const items = this.queue.get(at);
    if (items === undefined) this.queue.set(at, [item]);
    else items.push(item);
  }

  private deliver(): void {
    const items = this.queue.get(this.tick);
    if (items === undefined) return;
    this.queue.delete(this.tick);
    for (const item of this.rng.shuffle(items)) {
      const node = this.nodes[item.to];
      if (node === undefined || node.core === null) continue;
      switch (item.kind) {
        case 'message':
          if (node.byzantine !== null && node.seen.length < 200) node.seen.push(item.message);
          this.step(node, {
            type: 'decoded-message',
            from: this.names[item.from] as NodeName,
            message: item.message,
          });
          break;
        case 'bytes':
          this.step(node, { type: 'message', from: this.names[item.from] as NodeName, bytes: item.bytes });
          break;
        case 'blocks':
          for (const final of item.finals) {
            // A step may crash the node (crash between persist and send).
            if (isDown(node)) break;
            this.step(node, { type: 'committed-block', block: final.block, certificate: final.certificate });
          }
          break;
        default: {
          const unreachable: never = item;
          throw new Error(`unknown delivery ${JSON.stringify(unreachable)}`);
        }
      }
    }
  }

  private step(node: SimNode, event: Parameters<ConsensusCore['step']>[0]): void {
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
    // 4. fetch.
    if (ready.fetch !== null) this.serveFetch(node, ready.fetch.fromHeight, ready.fetch.peers);
  }

  private send(from: SimNode, to: number, message: ConsensusMessage): void {
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
    node.chain.push({ block, certificate });
    if (node.byzantine !== null) return;
    // Safety: one block per height, network-wide.
    const known = this.finalHashes[height];
    if (known !== undefined && known !== hash)
      this.fail(`SAFETY: two different blocks final at height ${height}`);
    this.finalHashes[height] = hash;
    this.checkCertificate(node, certificate, hash, height);
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

  private checkCertificate(node: SimNode, cert: CommitCertificate, hash: Hash, height: number): void {
    if (cert.height !== height || cert.blockHash !== hash)
      this.fail(`${node.name}: certificate for another block`);
    const bytes = commitVoteBytes({ height, blockHash: hash, view: cert.view });
    const signers = new Set(cert.signatures.map((s) => s.signer));
    if (signers.size !== cert.signatures.length || signers.size < this.quorum)
      this.fail(`${node.name}: certificate without quorum`);
    for (const { signer, signature } of cert.signatures) {
      const signerNode = this.nodes.find((n) => n.name === signer);
      if (
        signerNode === undefined ||
        !signerNode.crypto.verify(signer, SigningDomain.commitVote, bytes, signature)
      ) {
        this.fail(`${node.name}: certificate signature of ${signer} does not verify`);
      }
    }
  }

  private serveFetch(node: SimNode, fromHeight: number, peers: readonly NodeName[]): void {
    const live = peers
      .map((p) => this.nodes[this.names.indexOf(p)])
      .filter((p): p is SimNode => p?.core != null);
    if (live.length === 0) return;
    const peer = this.rng.pick(live);
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

/** The bytes a consensus signature covers (as the core computes them). */
function signingBytesOf(message: object): Buffer {
  const rest: Record<string, unknown> = { ...message };
  delete rest.signature;
  if (rest.type === 'view-change') delete rest.blocks;
  return canonicalBytes(rest);
}

function isDown(node: SimNode): boolean {
  return node.core === null;
}
