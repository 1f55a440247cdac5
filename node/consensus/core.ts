import {
  buildBlock,
  commitVoteBytes,
  PROTOCOL_VERSION,
  ProtocolError,
  quorumSize,
  faultTolerance,
  SigningDomain,
  type Block,
  type BlockHeader,
  type CommitCertificate,
  type Envelope,
  type Hash,
  type NodeName,
  type TxId,
} from '../protocol/index.js';
import { assembleCommitCertificate } from './commit-certificate.js';
import { CheckpointTracker } from './checkpoint.js';
import {
  ACCEPT_WINDOWS,
  CENSORSHIP_TIMEOUTS,
  CLOCK_SKEW_MS_MAX,
  CONSENSUS_MESSAGE_BYTES_MAX,
  FETCH_RETRY_TICKS,
  FETCH_STALL_TICKS,
  FORWARD_ENVELOPES_MAX,
  FORWARD_ON_VIEW_CHANGE_MAX,
  RELAY_BATCHES_PER_TICK_MAX,
  SUSPICION_TIMEOUTS,
  IDLE_PROBE_TIMEOUTS,
  FUTURE_VIEWS_MAX,
  POOL_TXS_MAX,
  RECENT_HASHES_MAX,
  VIEW_BACKOFF_EXPONENT_MAX,
} from './limits.js';
import { Slot } from './log.js';
import {
  decodeConsensusMessage,
  hashOf,
  signMessage,
  verifyMessage,
  viewChangeBody,
  type Checkpoint,
  type Commit,
  type ConsensusMessage,
  type Forward,
  type Suspect,
  type NewView,
  type PrePrepare,
  type Prepare,
  type Unsigned,
  type ViewChange,
} from './messages.js';
import { checkBlockShape, envelopeFacts, isConfigBlock, RequestPool } from './pool.js';
import {
  REJECT_REASONS,
  type ConsensusEvent,
  type ConsensusMetrics,
  type ConsensusOptions,
  type PersistRecord,
  type Ready,
  type RejectReason,
  type ViewChangeReason,
  type SuspectReason,
  type RestoreState,
} from './types.js';
import {
  checkCertificate,
  checkViewChangeBlocks,
  checkViewChangeBody,
  selectedBlocks,
  selectReproposals,
  type Selection,
  type VerifyContext,
} from './view-change.js';

/** Crash on a broken invariant: limping on with a corrupt view of the chain is worse. */
function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`consensus invariant broken: ${message}`);
}

type Status = 'normal' | 'view-change';

/**
 * The BFT ordering core: PBFT's three phases with quorums over hash-chained blocks, a window
 * of heights in flight, view changes with prepared proofs, checkpoints and catch-up. A pure
 * state machine in the etcd/raft style: `step(event)` returns a Ready (persist, send, commit,
 * fetch) and performs no I/O. See docs/CONSENSUS.md for the protocol and its safety argument.
 */
export class ConsensusCore {
  private readonly self: NodeName;
  private readonly orderers: readonly NodeName[];
  private readonly others: readonly NodeName[];
  private readonly quorum: number;
  private readonly f: number;
  private readonly options: ConsensusOptions;
  private readonly verifyContext: VerifyContext;
  private readonly batchTimeoutTicks: number;
  private readonly viewTimeoutTicks: number;
  private readonly window: number;
  private readonly epochStart: number;
  /** Set when this epoch's last block (a config block) commits: the core takes no more events. */
  private epochEnded = false;
  /** Heights above the head we keep messages for. */
  private readonly acceptHeights: number;

  private tick = 0;
  private nowMs = 0;
  private view = 0;
  private status: Status = 'normal';
  private head: Block;
  private headHash: Hash;
  private headCert: CommitCertificate | null;
  private readonly slots = new Map<number, Slot>();
  private readonly pool: RequestPool;
  private readonly checkpoints: CheckpointTracker;
  private readonly recentHashes = new Map<number, Hash>();
  /** VIEW-CHANGEs by target view, then sender. */
  private readonly viewChanges = new Map<number, Map<NodeName, ViewChange>>();
  private myViewChange: ViewChange | undefined;
  /** The NEW-VIEW that started the current view (relayed to replicas stuck in an older view). */
  private newView: NewView | undefined;
  private newViewSentFor = -1;
  /** Re-proposals of the current view start above this height; the leader must hold it first. */
  private newViewBase = 0;
  private readonly answeredStale = new Map<NodeName, number>();
  private viewStartTick = 0;
  private lastProgressTick = 0;
  /** The last tick with nothing to order: an idle spell is no leader's fault, so the progress timer starts after it. */
  private lastIdleTick = 0;
  private nextIdleProbeTick = 0;
  /**
   * The last tick at which we were catching up, and making progress at it: the requests we hold
   * may be in final blocks we have not fetched yet, which is no censorship by the leader.
   */
  private lastBehindTick = 0;
  private failedViews = 0;
  private viewChangeResendTick = 0;
  private escalateTick: number | undefined;
  /** Highest height proven final by anyone (commit quorum, checkpoint, head certificate). */
  private knownFinalHeight = 0;
  private readonly senderHeights = new Map<NodeName, number>();
  /** Highest view of each orderer's signed normal-case votes above ours: how a node that missed a NEW-VIEW learns of it. */
  private readonly senderViews = new Map<NodeName, number>();
  private nextFetchTick = 0;
  /** Set when a timer expires: perhaps we are the one behind, so ask peers for blocks above our head. */
  private probe = false;

  private lastViewChange: ConsensusMetrics['lastViewChange'] = null;
  /** Our latest SUSPECT (the view we asked for, when, why), and each other orderer's latest. */
  private mySuspicion: { view: number; tick: number; reason: SuspectReason } | undefined;
  private readonly suspicions = new Map<NodeName, { view: number; tick: number }>();
  private counters = {
    viewChanges: 0,
    committedBlocks: 0,
    committedTxs: 0,
    fetches: 0,
  };
  private readonly rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<
    RejectReason,
    number
  >;

  // Per step: the Ready being built and the node's own messages awaiting local delivery.
  private ready: Ready = emptyReady();
  private readonly inbox: ConsensusMessage[] = [];
  /** Requests received directly since the last tick, relayed to the others on the next one. */
  private readonly relay: Envelope[] = [];

  constructor(options: ConsensusOptions, restore: RestoreState) {
    const { self, orderers, params, tickMs } = options;
    if (!orderers.includes(self)) throw new RangeError(`${self} is not an orderer of the configuration`);
    if (new Set(orderers).size !== orderers.length) throw new RangeError('orderer names must be distinct');
    if (!(tickMs > 0)) throw new RangeError(`tickMs must be positive, got ${tickMs}`);
    if (params.window * params.batchBytesMax > CONSENSUS_MESSAGE_BYTES_MAX / 2) {
      throw new RangeError(
        `window x batchBytesMax = ${params.window * params.batchBytesMax} bytes: a VIEW-CHANGE would exceed ${CONSENSUS_MESSAGE_BYTES_MAX / 2}`,
      );
    }
    this.options = options;
    this.self = self;
    this.orderers = orderers;
    this.others = orderers.filter((o) => o !== self);
    this.quorum = quorumSize(orderers.length);
    this.f = faultTolerance(orderers.length);
    this.verifyContext = {
      orderers,
      quorum: this.quorum,
      crypto: options.crypto,
      epochStart: {
        height: options.epochStart,
        hash:
          options.epochStartHash ??
          (restore.head.block.header.height === options.epochStart
            ? hashOf(restore.head.block.header)
            : undefined),
      },
    };
    this.batchTimeoutTicks = Math.max(1, Math.ceil(params.batchTimeoutMs / tickMs));
    this.viewTimeoutTicks = Math.max(2, Math.ceil(params.viewTimeoutMs / tickMs));
    this.window = params.window;
    this.acceptHeights = params.window * ACCEPT_WINDOWS;
    this.epochStart = options.epochStart;

    const { head } = restore;
    assert(head.certificate !== null || head.block.header.height === 0, 'only genesis has no certificate');
    assert(head.block.header.height >= options.epochStart, 'the head is in this epoch');
    this.head = head.block;
    this.headHash = hashOf(head.block.header);
    this.headCert = head.certificate;
    this.knownFinalHeight = this.head.header.height;
    this.recentHashes.set(this.head.header.height, this.headHash);
    this.pool = new RequestPool(restore.recentTxIds);
    this.checkpoints = new CheckpointTracker(this.head.header.height);
    this.restoreRecords(restore.records);
  }

  private restoreRecords(records: readonly PersistRecord[]): void {
    const headHeight = this.head.header.height;
    for (const record of records) {
      switch (record.kind) {
        case 'view':
          // Views of an earlier epoch mean nothing in this one.
          if ((record.epoch ?? 0) !== this.epochStart) break;
          if (record.view > this.view || (record.view === this.view && record.entered)) {
            this.view = record.view;
            this.status = record.entered || record.view === 0 ? 'normal' : 'view-change';
          }
          break;
        case 'prepare':
          if (record.height > headHeight)
            this.slot(record.height).myPrepares.set(record.view, record.blockHash);
          break;
        case 'prepared': {
          if (record.height <= headHeight) break;
          const slot = this.slot(record.height);
          const hash = hashOf(record.block.header);
          slot.myCommits.set(record.view, hash);
          if (slot.prepared === undefined || slot.prepared.view < record.view) {
            slot.prepared = { view: record.view, block: record.block, hash, votes: record.votes };
            slot.addBlock(hash, record.block);
          }
          break;
        }
        default: {
          const unreachable: never = record;
          throw new Error(`unknown persist record ${JSON.stringify(unreachable)}`);
        }
      }
    }
    // A restarted node in a view change re-announces it on its first tick.
    this.viewChangeResendTick = 0;
  }

  // ---------------------------------------------------------------- public surface

  step(event: ConsensusEvent): Ready {
    this.ready = emptyReady();
    if (this.epochEnded) return this.ready;
    switch (event.type) {
      case 'tick':
        this.tick++;
        this.nowMs = event.nowMs;
        this.onTick();
        break;
      case 'request':
        this.onRequest(event.envelope);
        break;
      case 'message': {
        let message: ConsensusMessage;
        try {
          message = decodeConsensusMessage(event.bytes);
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
          this.reject('malformed');
          break;
        }
        this.onMessage(event.from, message);
        break;
      }
      case 'decoded-message':
        this.onMessage(event.from, event.message);
        break;
      case 'committed-block':
        this.onCommittedBlock(event.block, event.certificate);
        break;
      default: {
        const unreachable: never = event;
        throw new Error(`unknown event ${JSON.stringify(unreachable)}`);
      }
    }
    this.settle();
    if (!this.ended) this.maybeFetch();
    return this.ready;
  }

  metrics(): ConsensusMetrics {
    return {
      view: this.view,
      status: this.status,
      leader: this.leaderOf(this.view),
      height: this.head.header.height,
      stableCheckpoint: this.checkpoints.stable,
      lastViewChange: this.lastViewChange,
      ...this.counters,
      poolTxs: this.pool.size,
      rejected: { ...this.rejected },
    };
  }

  get height(): number {
    return this.head.header.height;
  }

  /**
   * True once this epoch's config block committed: the core ignores every further event, and
   * the orderer starts the next epoch's core (or stops ordering, if no longer a voting member).
   */
  get ended(): boolean {
    return this.epochEnded;
  }

  /** Requests waiting to be ordered, oldest first (to hand to the next epoch's core). */
  pendingRequests(): Envelope[] {
    return this.pool.pending();
  }

  get currentView(): number {
    return this.view;
  }

  leaderOf(view: number): NodeName {
    const leader = this.orderers[view % this.orderers.length];
    assert(leader !== undefined, 'the orderer list is not empty');
    return leader;
  }

  // ---------------------------------------------------------------- plumbing

  /**
   * The (f+1)-th highest of the values orderers claimed (views, heights): at least one honest
   * orderer claimed this much or more, so f faulty ones cannot push it up. Undefined with fewer
   * than f+1 claims.
   */
  private vouchedFor(claims: Iterable<number>): number | undefined {
    return [...claims].sort((a, b) => b - a)[this.f];
  }

  private reject(reason: RejectReason): void {
    this.rejected[reason]++;
  }

  private slot(height: number): Slot {
    let slot = this.slots.get(height);
    if (slot === undefined) {
      assert(height > this.head.header.height, `slot ${height} at or below the head`);
      slot = new Slot(height);
      this.slots.set(height, slot);
    }
    return slot;
  }

  private persist(record: PersistRecord): void {
    this.ready.persist.push(record);
  }

  /** Signs and sends to the other orderers; `loopback` also delivers it to this node (its own vote). */
  private broadcast<M extends ConsensusMessage>(body: Unsigned<M>, loopback: boolean): M {
    const message = signMessage<M>(body, this.options.crypto);
    if (this.others.length > 0) this.ready.send.push({ to: this.others, message });
    if (loopback) this.inbox.push(message);
    return message;
  }

  private sendTo(to: NodeName, message: ConsensusMessage): void {
    this.ready.send.push({ to: [to], message });
  }

  /** Delivers our own messages and lets the leader propose until nothing changes. */
  private settle(): void {
    // Each round proposes one block, and a block holds at least one pool transaction.
    for (let rounds = 0; ; rounds++) {
      assert(rounds <= POOL_TXS_MAX, 'the leader proposes no more blocks than it holds transactions');
      for (let message = this.inbox.shift(); message !== undefined; message = this.inbox.shift()) {
        if (this.epochEnded) break;
        this.handle(this.self, message);
      }
      if (this.epochEnded) {
        this.inbox.length = 0;
        return;
      }
      if (!this.proposeNext()) return;
    }
  }

  private changingView(): boolean {
    return this.status === 'view-change';
  }

  private viewTimeout(): number {
    return this.viewTimeoutTicks * 2 ** Math.min(this.failedViews, VIEW_BACKOFF_EXPONENT_MAX);
  }

  private common(height: number): {
    version: typeof PROTOCOL_VERSION;
    view: number;
    height: number;
    from: NodeName;
  } {
    return { version: PROTOCOL_VERSION, view: this.view, height, from: this.self };
  }

  // ---------------------------------------------------------------- inputs

  private onMessage(from: NodeName, message: ConsensusMessage): void {
    if (message.from !== from || from === this.self) {
      this.reject('from-mismatch');
      return;
    }
    if (!this.orderers.includes(from)) {
      this.reject('not-member');
      return;
    }
    if (!verifyMessage(message, this.options.crypto)) {
      this.reject('bad-signature');
      return;
    }
    // Views restart in every epoch: a view change, NEW-VIEW or SUSPECT from an orderer still in
    // an earlier epoch (its head below this epoch's config block) speaks of other views. It
    // catches up by fetching, as our votes above its head tell it to.
    if (
      (message.type === 'view-change' || message.type === 'new-view' || message.type === 'suspect') &&
      message.height < this.epochStart
    ) {
      this.reject('stale-epoch');
      return;
    }
    if (
      message.type !== 'view-change' &&
      message.type !== 'new-view' &&
      message.type !== 'forward' &&
      message.type !== 'suspect'
    ) {
      this.senderHeights.set(from, Math.max(this.senderHeights.get(from) ?? 0, message.height));
    }
    if (
      (message.type === 'pre-prepare' || message.type === 'prepare' || message.type === 'commit') &&
      message.view > this.view &&
      // Votes at or below the epoch's config block were cast in an earlier epoch's views.
      message.height > this.epochStart
    ) {
      this.senderViews.set(from, Math.max(this.senderViews.get(from) ?? 0, message.view));
      this.maybeCatchUpView();
    }
    this.handle(from, message);
  }

  /** `from` is authenticated and the signature checked (or the message is our own). */
  private handle(from: NodeName, message: ConsensusMessage): void {
    switch (message.type) {
      case 'pre-prepare': {
        this.onPrePrepare(message);
        return;
      }
      case 'prepare': {
        this.onPrepare(message);
        return;
      }
      case 'commit': {
        this.onCommit(message);
        return;
      }
      case 'checkpoint': {
        this.onCheckpoint(message);
        return;
      }
      case 'view-change': {
        this.onViewChange(from, message);
        return;
      }
      case 'new-view': {
        this.onNewView(from, message);
        return;
      }
      case 'forward': {
        this.onForward(message);
        return;
      }
      case 'suspect': {
        this.onSuspect(from, message);
        return;
      }
      default: {
        const unreachable: never = message;
        throw new Error(`unknown message ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /** Height filter shared by the per-height messages; true if the message may be used. */
  private inWindow(height: number): boolean {
    if (height <= this.head.header.height) {
      this.reject('stale-height');
      return false;
    }
    if (height > this.head.header.height + this.acceptHeights) {
      this.reject('future-height');
      return false;
    }
    return true;
  }

  private onTick(): void {
    if (this.relay.length > 0 && this.others.length > 0) this.flushRelay();
    this.relay.length = 0;
    if (this.status === 'view-change') {
      if (this.tick >= this.viewChangeResendTick) {
        // Retransmit: VIEW-CHANGEs lost before the network healed must not stall the change forever.
        if (this.myViewChange?.view === this.view) {
          if (this.others.length > 0) this.ready.send.push({ to: this.others, message: this.myViewChange });
        } else {
          this.announceViewChange();
        }
        this.probe = true;
        this.viewChangeResendTick = this.tick + this.viewTimeoutTicks;
      }
      if (this.escalateTick !== undefined && this.tick >= this.escalateTick)
        this.startViewChange(this.view + 1, 'new-view-timeout');
      return;
    }
    const timeout = this.viewTimeout();
    const leader = this.leaderOf(this.view);
    // Quiet for a while: ask the others whether blocks became final that we never heard of (a
    // node that missed the last COMMITs of a now idle network has nothing else to tell it).
    if (this.tick - this.lastProgressTick >= timeout && this.tick >= this.nextIdleProbeTick) {
      this.probe = true;
      this.nextIdleProbeTick = this.tick + IDLE_PROBE_TIMEOUTS * timeout;
    }
    const progressing = this.tick - this.lastProgressTick < timeout;
    if (progressing && this.catchUpTarget() > this.head.header.height) this.lastBehindTick = this.tick;
    if (!this.hasWork()) this.lastIdleTick = this.tick;
    else if (!progressing && this.tick - this.lastIdleTick >= timeout) {
      this.suspect('progress-timeout');
      return;
    }
    const oldest = this.pool.oldest();
    if (oldest === undefined) return;
    const waited = this.tick - Math.max(oldest.arrivalTick, this.viewStartTick, this.lastBehindTick);
    // Censorship resistance (PBFT's request timer), without blaming the leader for a long queue:
    // under overload every request waits, and an honest leader serves oldest first. It is
    // skipping ours when it ordered one that arrived here a timeout later (or one we never held);
    // a leader that orders nothing at all is caught by the progress timer above.
    const skipped = this.pool.newestOrderedArrivalTick - oldest.arrivalTick >= timeout;
    if (waited >= CENSORSHIP_TIMEOUTS * timeout && skipped) {
      this.suspect('request-timeout');
      return;
    }
    const stalled = this.tick - this.lastProgressTick >= timeout / 2;
    if (waited >= timeout / 2 && leader !== this.self && (skipped || stalled)) {
      // First make sure the leader has it: the client may have reached only us, and relays get lost.
      this.forwardPool(leader, this.tick - Math.floor(timeout / 2), FORWARD_ENVELOPES_MAX);
    }
  }

  /**
   * Pending requests or proposals of this view. (A prepared block of an older view needs no
   * timer of its own: its transactions are still in the pool until final.)
   */
  private hasWork(): boolean {
    if (this.pool.size > 0) return true;
    for (const slot of this.slots.values()) if (slot.proposal?.view === this.view) return true;
    return false;
  }

  private forwardPool(to: NodeName, beforeTick: number, max: number): void {
    const envelopes = this.pool.takeForForwarding(this.view, beforeTick, max);
    for (let i = 0; i < envelopes.length; i += FORWARD_ENVELOPES_MAX) {
      const body: Unsigned<Forward> = {
        type: 'forward',
        ...this.common(this.head.header.height),
        envelopes: envelopes.slice(i, i + FORWARD_ENVELOPES_MAX),
      };
      this.sendTo(to, signMessage<Forward>(body, this.options.crypto));
    }
  }

  private onRequest(envelope: Envelope): void {
    // Gateways send every transaction to every orderer, and orderers relay what they receive:
    // a copy of a transaction we hold (or ordered) is dropped before its signature is checked.
    if (this.pool.knows(envelope.payload.txId)) {
      this.reject('duplicate-request');
      return;
    }
    if (this.options.validateEnvelope(envelope) !== null) {
      this.reject('invalid-request');
      return;
    }
    const result = this.pool.add(envelope, this.tick);
    if (result === 'full') {
      this.reject('pool-full');
      return;
    }
    // Relay to every orderer, so each watches the leader order it (censorship resistance); one
    // signed FORWARD per tick carries all of them.
    if (this.relay.length < FORWARD_ENVELOPES_MAX * RELAY_BATCHES_PER_TICK_MAX) this.relay.push(envelope);
  }

  private onForward(message: Forward): void {
    for (const envelope of message.envelopes) {
      if (this.pool.knows(envelope.payload.txId)) {
        this.reject('duplicate-request');
        continue;
      }
      if (this.options.validateEnvelope(envelope) !== null) {
        this.reject('invalid-request');
        continue;
      }
      const result = this.pool.add(envelope, this.tick);
      if (result === 'full') this.reject('pool-full');
    }
  }

  /** Sends the requests received directly since the last tick to every other orderer. */
  private flushRelay(): void {
    for (let i = 0; i < this.relay.length; i += FORWARD_ENVELOPES_MAX) {
      const body: Unsigned<Forward> = {
        type: 'forward',
        ...this.common(this.head.header.height),
        envelopes: this.relay.slice(i, i + FORWARD_ENVELOPES_MAX),
      };
      this.broadcast<Forward>(body, false);
    }
    this.relay.length = 0;
  }

  // ---------------------------------------------------------------- normal case

  private onPrePrepare(message: PrePrepare): void {
    const { height, block } = message;
    if (block.header.height !== height) {
      this.reject('malformed');
      return;
    }
    if (!this.inWindow(height)) return;
    if (message.from !== this.leaderOf(message.view)) {
      this.reject('not-leader');
      return;
    }
    const hash = hashOf(block.header);
    const slot = this.slot(height);
    if (message.view !== this.view || this.status !== 'normal') {
      // Not ours to vote on, but a quorum of COMMITs in that view may still make this body final.
      if (
        message.view <= this.view + FUTURE_VIEWS_MAX &&
        checkBlockShape(block, this.options.params) === null
      ) {
        slot.addBlock(hash, block);
        // It may have overtaken the NEW-VIEW of its view: replayed when we enter that view.
        if (message.view >= this.view && !slot.pendingPrePrepares.has(message.view)) {
          slot.pendingPrePrepares.set(message.view, message);
        }
        this.tryFinal(height);
      }
      this.reject(message.view < this.view ? 'stale-view' : 'future-view');
      return;
    }
    if (slot.proposal !== undefined) {
      if (slot.proposal.hash === hash) {
        this.reject('duplicate');
        return;
      }
      // Two blocks for one (view, height) signed by the leader: it equivocates.
      this.reject('equivocation');
      this.suspect('equivocation');
      return;
    }
    const problem =
      block.header.proposer !== message.from
        ? `proposer ${block.header.proposer} is not the sender ${message.from}`
        : checkBlockShape(block, this.options.params);
    if (problem !== null || !slot.addBlock(hash, block)) {
      this.refuseProposal();
      return;
    }
    slot.proposal = { view: this.view, hash, fresh: true };
    this.tryAccept(height);
  }

  private refuseProposal(): void {
    this.reject('invalid-proposal');
    this.suspect('invalid-proposal');
  }

  /** The block a proposal at `height` must extend, if we know it in this view. */
  private parentOf(height: number): BlockHeader | undefined {
    if (height - 1 === this.head.header.height) return this.head.header;
    const parent = this.slots.get(height - 1);
    if (parent?.proposal === undefined || parent.acceptedView !== this.view) return undefined;
    return parent.blocks.get(parent.proposal.hash)?.header;
  }

  /**
   * Sends PREPARE for the current view's proposals in height order: a height is accepted only
   * after its parent was accepted in this view (or is our committed head), so the blocks we
   * vote for in one view always form one chain.
   */
  private tryAccept(from: number): void {
    for (let height = Math.max(from, this.head.header.height + 1); this.status === 'normal'; height++) {
      const slot = this.slots.get(height);
      const proposal = slot?.proposal;
      if (slot === undefined || proposal?.view !== this.view) return;
      if (slot.acceptedView === this.view) continue;
      const parent = this.parentOf(height);
      if (parent === undefined) return;
      // Nothing is ordered above this epoch's config block by this membership: the next
      // epoch's members order it. (Not blamed on the leader: it may be the next epoch's.)
      if (height - 1 > this.head.header.height && this.configBlockBelow(height)) return;
      const block = slot.blocks.get(proposal.hash);
      assert(block !== undefined, 'a proposal keeps its block');
      if (block.header.prevHash !== hashOf(parent)) {
        // A fresh proposal that does not extend the chain is the leader's fault; a re-proposal
        // above a head we have not reached waits for catch-up.
        if (proposal.fresh) this.refuseProposal();
        return;
      }
      if (proposal.fresh && this.proposalProblem(height, block, parent) !== null) {
        this.refuseProposal();
        return;
      }
      const mine = slot.myPrepares.get(this.view);
      if (mine !== undefined && mine !== proposal.hash) {
        // Restored promise: before a restart we prepared another block here in this view.
        this.reject('vote-conflict');
        return;
      }
      if (mine === undefined) {
        slot.myPrepares.set(this.view, proposal.hash);
        this.persist({ kind: 'prepare', view: this.view, height, blockHash: proposal.hash });
      }
      slot.acceptedView = this.view;
      this.broadcast<Prepare>({ type: 'prepare', ...this.common(height), blockHash: proposal.hash }, true);
    }
  }

  /** Whether the proposal accepted at `height - 1` in this view is a config block. */
  private configBlockBelow(height: number): boolean {
    const parent = this.slots.get(height - 1);
    const block = parent?.proposal === undefined ? undefined : parent.blocks.get(parent.proposal.hash);
    return block !== undefined && isConfigBlock(block);
  }

  private proposalProblem(height: number, block: Block, parent: BlockHeader): string | null {
    const { timestampMs } = block.header;
    if (timestampMs < parent.timestampMs) return 'timestamp goes backwards';
    if (timestampMs > this.nowMs + CLOCK_SKEW_MS_MAX) return 'timestamp too far in the future';
    const inFlight = this.inFlightTxIds(height);
    for (const envelope of block.transactions) {
      const { txId } = envelopeFacts(envelope);
      if (this.pool.isFinal(txId) || inFlight.has(txId)) return `transaction ${txId} is already ordered`;
    }
    return this.options.validateBlock(block, parent);
  }

  /** txIds of the blocks accepted in this view between the head and `below`. */
  private inFlightTxIds(below: number): Set<TxId> {
    const txIds = new Set<TxId>();
    for (let height = this.head.header.height + 1; height < below; height++) {
      const slot = this.slots.get(height);
      if (slot?.proposal === undefined || slot.acceptedView !== this.view) break;
      const block = slot.blocks.get(slot.proposal.hash);
      for (const envelope of block?.transactions ?? []) txIds.add(envelopeFacts(envelope).txId);
    }
    return txIds;
  }

  private onPrepare(message: Prepare): void {
    if (!this.inWindow(message.height)) return;
    if (message.view < this.view) {
      this.reject('stale-view');
      return;
    }
    if (message.view > this.view + FUTURE_VIEWS_MAX) {
      this.reject('future-view');
      return;
    }
    const added = this.slot(message.height).addPrepare(
      message.view,
      message.from,
      message.blockHash,
      message.signature,
    );
    if (added !== 'added') {
      this.reject(added);
      return;
    }
    if (message.view === this.view) this.tryPrepared(message.height);
  }

  /**
   * A height is prepared (and we send COMMIT) once we accepted its proposal, a quorum
   * PREPAREd it, and its parent is prepared in this view or is our head: a prepared block's
   * ancestors are prepared in the same view, which the view-change argument needs.
   */
  private tryPrepared(from: number): void {
    for (let height = Math.max(from, this.head.header.height + 1); this.status === 'normal'; height++) {
      const slot = this.slots.get(height);
      const proposal = slot?.proposal;
      if (slot === undefined || proposal?.view !== this.view || slot.acceptedView !== this.view) return;
      if (slot.prepared?.view === this.view) continue;
      const votes = slot.prepareVotes(this.view, proposal.hash, this.orderers);
      if (votes.length < this.quorum) return;
      const block = slot.blocks.get(proposal.hash);
      assert(block !== undefined, 'a proposal keeps its block');
      const parentPrepared =
        height - 1 === this.head.header.height
          ? block.header.prevHash === this.headHash
          : this.slots.get(height - 1)?.prepared?.view === this.view &&
            this.slots.get(height - 1)?.prepared?.hash === block.header.prevHash;
      if (!parentPrepared) return;
      const quorumVotes = votes.slice(0, this.quorum);
      slot.prepared = { view: this.view, block, hash: proposal.hash, votes: quorumVotes };
      this.persist({ kind: 'prepared', view: this.view, height, block, votes: quorumVotes });
      const mine = slot.myCommits.get(this.view);
      if (mine !== undefined && mine !== proposal.hash) {
        this.reject('vote-conflict');
        return;
      }
      slot.myCommits.set(this.view, proposal.hash);
      const vote = this.options.crypto.sign(
        SigningDomain.commitVote,
        commitVoteBytes({ height, blockHash: proposal.hash, view: this.view }),
      );
      this.broadcast<Commit>(
        { type: 'commit', ...this.common(height), blockHash: proposal.hash, vote },
        true,
      );
    }
  }

  private onCommit(message: Commit): void {
    const { height, view, blockHash, vote, from } = message;
    if (!this.inWindow(height)) return;
    // A quorum of COMMITs is final in whatever view it formed, so older views count too.
    if (view > this.view + FUTURE_VIEWS_MAX) {
      this.reject('future-view');
      return;
    }
    if (from !== this.self) {
      const bytes = commitVoteBytes({ height, blockHash, view });
      if (!this.options.crypto.verify(from, SigningDomain.commitVote, bytes, vote)) {
        this.reject('bad-signature');
        return;
      }
    }
    const added = this.slot(height).addCommit(view, from, blockHash, vote);
    if (added !== 'added') {
      this.reject(added);
      return;
    }
    this.tryFinal(height);
  }

  private tryFinal(height: number): void {
    const slot = this.slots.get(height);
    if (slot === undefined || slot.final !== undefined) return;
    const quorum = slot.commitQuorum(this.quorum, this.orderers);
    if (quorum === undefined) return;
    this.knownFinalHeight = Math.max(this.knownFinalHeight, height);
    const block = slot.blocks.get(quorum.hash);
    if (block === undefined) return; // the body arrives with a pre-prepare, a NEW-VIEW or a fetch
    slot.final = {
      block,
      certificate: assembleCommitCertificate(block.header, quorum.view, quorum.signatures),
    };
    this.drainFinals();
  }

  /** Commits final heights in order; then the window has moved and lower parents are known. */
  private drainFinals(): void {
    const start = this.head.header.height + 1;
    for (
      let slot = this.slots.get(start);
      slot?.final !== undefined && !this.epochEnded;
      slot = this.slots.get(this.head.header.height + 1)
    ) {
      this.commitBlock(slot.final.block, slot.final.certificate);
    }
    if (this.head.header.height >= start && !this.epochEnded) {
      this.tryAccept(this.head.header.height + 1);
      this.tryPrepared(this.head.header.height + 1);
    }
  }

  private commitBlock(block: Block, certificate: CommitCertificate): void {
    const { height } = block.header;
    assert(height === this.head.header.height + 1, `final block ${height} is not the next height`);
    assert(block.header.prevHash === this.headHash, `final block ${height} does not extend the head`);
    this.ready.commit.push({ block, certificate });
    this.head = block;
    this.headHash = hashOf(block.header);
    this.headCert = certificate;
    this.slots.delete(height);
    this.pool.markFinal(
      block.transactions.map((e) => envelopeFacts(e).txId),
      this.tick,
    );
    this.recentHashes.set(height, this.headHash);
    this.recentHashes.delete(height - RECENT_HASHES_MAX);
    this.knownFinalHeight = Math.max(this.knownFinalHeight, height);
    this.lastProgressTick = this.tick;
    this.failedViews = 0;
    this.counters.committedBlocks++;
    this.counters.committedTxs += block.transactions.length;
    if (isConfigBlock(block)) {
      this.epochEnded = true;
      return;
    }
    if (height % this.options.params.checkpointInterval === 0) {
      this.broadcast<Checkpoint>(
        { type: 'checkpoint', ...this.common(height), blockHash: this.headHash },
        true,
      );
    }
  }

  private onCheckpoint(message: Checkpoint): void {
    if (message.height % this.options.params.checkpointInterval !== 0 || message.height === 0) {
      this.reject('malformed');
      return;
    }
    const stable = this.checkpoints.add(message.height, message.from, message.blockHash, this.quorum);
    if (stable === 'ignored') {
      this.reject('duplicate');
      return;
    }
    if (stable === null) return;
    if (stable.height > this.head.header.height) {
      this.knownFinalHeight = Math.max(this.knownFinalHeight, stable.height);
      return;
    }
    const mine = this.recentHashes.get(stable.height);
    if (mine !== undefined && mine !== stable.hash) this.reject('checkpoint-mismatch');
    // Garbage: the logs below the head went at commit; only the evidence tables remain to trim.
    for (const height of this.recentHashes.keys()) {
      if (height < stable.height - this.acceptHeights) this.recentHashes.delete(height);
    }
  }

  private onCommittedBlock(block: Block, certificate: CommitCertificate): void {
    const { height } = block.header;
    if (height <= this.head.header.height) {
      this.reject('stale-height');
      return;
    }
    if (height !== this.head.header.height + 1) {
      this.reject('future-height');
      return;
    }
    const problem =
      certificate.height !== height || certificate.blockHash !== hashOf(block.header)
        ? 'certificate is for another block'
        : block.header.prevHash !== this.headHash
          ? 'block does not extend the head'
          : (checkCertificate(certificate, this.verifyContext) ??
            checkBlockShape(block, this.options.params));
    if (problem !== null) {
      this.reject('invalid-certificate');
      return;
    }
    this.commitBlock(block, certificate);
    this.drainFinals();
  }

  /** The leader cuts and proposes one block if the window and the pool allow; true if it did. */
  private proposeNext(): boolean {
    if (this.status !== 'normal' || this.leaderOf(this.view) !== this.self) return false;
    if (this.head.header.height < this.newViewBase) return false;
    let tip = this.head.header;
    for (let height = tip.height + 1; ; height++) {
      const slot = this.slots.get(height);
      if (slot?.proposal?.view !== this.view || slot.acceptedView !== this.view) break;
      const block = slot.blocks.get(slot.proposal.hash);
      assert(block !== undefined, 'a proposal keeps its block');
      tip = block.header;
    }
    const height = tip.height + 1;
    if (height > this.head.header.height + this.window) return false;
    // A config block in flight ends the epoch: the next members propose what follows it.
    if (tip.height > this.head.header.height && this.configBlockBelow(height)) return false;
    const next = this.slots.get(height);
    if (next?.proposal?.view === this.view || next?.myPrepares.has(this.view) === true) return false;
    const batch = this.pool.cutBatch(this.inFlightTxIds(height), this.options.params);
    if (batch.envelopes.length === 0) return false;
    if (!batch.full && this.tick - batch.oldestArrivalTick < this.batchTimeoutTicks) return false;
    const block = buildBlock({
      height,
      prevHash: hashOf(tip),
      transactions: batch.envelopes,
      timestampMs: Math.max(this.nowMs, tip.timestampMs),
      proposer: this.self,
    });
    if (this.proposalProblem(height, block, tip) !== null) {
      // Our own validator refuses the batch (validateEnvelope let through what validateBlock
      // rejects): drop it rather than propose what every honest replica would refuse.
      this.pool.drop(batch.envelopes.map((e) => envelopeFacts(e).txId));
      this.rejected['invalid-request'] += batch.envelopes.length;
      return true;
    }
    this.broadcast<PrePrepare>({ type: 'pre-prepare', ...this.common(height), block }, true);
    return true;
  }

  // ---------------------------------------------------------------- view change

  /**
   * This node's timer expired or it caught the leader misbehaving: it says so (SUSPECT), and the
   * view changes once f+1 orderers suspect (one of them is honest). Alone, it keeps voting in
   * its view: a node cut off from the others, or one whose clock or state misled it, would
   * otherwise sit alone in a higher view, unable to come back (PBFT forbids acting in a lower
   * view after a VIEW-CHANGE), a spare orderer silently lost. Repeated once per timeout while
   * the cause lasts, which also retransmits it.
   */
  private suspect(reason: SuspectReason): void {
    const view = this.view + 1;
    if (
      this.leaderOf(this.view) === this.self &&
      (reason === 'invalid-proposal' || reason === 'equivocation')
    ) {
      // A leader that refuses its own proposal abdicates at once (it would propose it again);
      // the others' timers bring them to the next view. (A leader whose timer expired was
      // perhaps only cut off: it suspects like anyone else.)
      this.startViewChange(view, reason);
      return;
    }
    if (this.mySuspicion?.view === view && this.tick - this.mySuspicion.tick < this.viewTimeout()) return;
    this.mySuspicion = { view, tick: this.tick, reason };
    // Maybe the leader is fine and we are the ones behind: ask the others for what is final.
    this.probe = true;
    if (this.others.length > 0) {
      const body: Unsigned<Suspect> = { type: 'suspect', ...this.common(this.head.header.height), view };
      this.ready.send.push({ to: this.others, message: signMessage<Suspect>(body, this.options.crypto) });
    }
    this.maybeFollowSuspicions();
  }

  private onSuspect(from: NodeName, message: Suspect): void {
    if (message.view <= this.view) {
      this.reject('stale-view');
      return;
    }
    if (message.view > this.view + FUTURE_VIEWS_MAX) {
      this.reject('future-view');
      return;
    }
    this.suspicions.set(from, { view: message.view, tick: this.tick });
    this.maybeFollowSuspicions();
  }

  /** f+1 orderers (this one included) suspecting the leader of our view within a few timeouts: change. */
  private maybeFollowSuspicions(): void {
    // Suspicions are repeated once per (backed-off) timeout: they stay fresh as long.
    const fresh = SUSPICION_TIMEOUTS * this.viewTimeout();
    const views: number[] = [];
    for (const [sender, s] of this.suspicions) {
      if (s.view <= this.view || this.tick - s.tick > fresh) this.suspicions.delete(sender);
      else views.push(s.view);
    }
    const mine = this.mySuspicion;
    if (mine !== undefined && mine.view > this.view && this.tick - mine.tick <= fresh) views.push(mine.view);
    // A node still changing to its view (no NEW-VIEW yet) would gladly go one further: it counts
    // as suspecting that view's leader too.
    else if (this.status === 'view-change') views.push(this.view + 1);
    const target = this.vouchedFor(views);
    if (target === undefined || target <= this.view) return;
    this.startViewChange(target, mine !== undefined && mine.view >= target ? mine.reason : 'joined');
  }

  private startViewChange(view: number, reason: ViewChangeReason): void {
    assert(view > this.view, `view change to ${view} from ${this.view}`);
    this.lastViewChange = { view, reason };
    this.mySuspicion = undefined;
    this.view = view;
    this.status = 'view-change';
    this.failedViews++;
    this.counters.viewChanges++;
    this.newView = undefined;
    this.escalateTick = undefined;
    this.lastProgressTick = this.tick;
    this.persist({ kind: 'view', view, entered: false, epoch: this.epochStart });
    this.probe = true;
    this.resetViewState();
    this.announceViewChange();
    this.viewChangeResendTick = this.tick + this.viewTimeoutTicks;
  }

  /** Proposals and acceptances are per view; prepared proofs and blocks carry over. */
  private resetViewState(): void {
    for (const slot of this.slots.values()) {
      slot.proposal = undefined;
      slot.acceptedView = -1;
      slot.prunePrepares(this.view);
    }
    for (const view of this.viewChanges.keys()) if (view < this.view) this.viewChanges.delete(view);
  }

  private announceViewChange(): void {
    const prepared = [...this.slots.values()]
      .filter((slot) => slot.prepared !== undefined)
      .sort((a, b) => a.height - b.height)
      .map((slot) => {
        const cert = slot.prepared;
        assert(cert !== undefined, 'filtered on prepared');
        return cert;
      });
    const body: Unsigned<ViewChange> = {
      type: 'view-change',
      ...this.common(this.head.header.height),
      head: this.headCert,
      prepared: prepared.map((p) => ({ view: p.view, header: p.block.header, votes: [...p.votes] })),
      blocks: prepared.map((p) => p.block),
    };
    this.myViewChange = this.broadcast<ViewChange>(body, true);
  }

  private onViewChange(from: NodeName, message: ViewChange): void {
    if (message.view < this.view || (message.view === this.view && this.status === 'normal')) {
      this.reject('stale-view');
      // The sender is behind: our NEW-VIEW (signed by its leader) brings it into this view. At
      // most once per timeout per sender, so a lost answer is repeated on its retransmission
      // but a flood of stale VIEW-CHANGEs costs one NEW-VIEW per timeout.
      const answered = this.answeredStale.get(from);
      const due = answered === undefined || this.tick - answered >= this.viewTimeoutTicks;
      if (this.newView !== undefined && from !== this.self && due) {
        this.answeredStale.set(from, this.tick);
        this.sendTo(from, this.newView);
      }
      return;
    }
    if (message.view > this.view + FUTURE_VIEWS_MAX) {
      this.reject('future-view');
      return;
    }
    if (from !== this.self) {
      const problem = checkViewChangeBlocks(message) ?? checkViewChangeBody(message, this.verifyContext);
      if (problem !== null) {
        this.reject('invalid-view-change');
        return;
      }
    }
    let byView = this.viewChanges.get(message.view);
    if (byView === undefined) {
      byView = new Map();
      this.viewChanges.set(message.view, byView);
    }
    if (byView.has(from) && from !== this.self) {
      this.reject('duplicate');
      return;
    }
    byView.set(from, message);
    if (message.head !== null) this.knownFinalHeight = Math.max(this.knownFinalHeight, message.head.height);
    this.maybeJoinViewChange();
    this.afterViewChangeVote();
  }

  /** PBFT's liveness rule: f+1 orderers asking for views above ours include an honest one; follow them. */
  private maybeJoinViewChange(): void {
    const highest = new Map<NodeName, number>();
    for (const [view, byView] of this.viewChanges) {
      if (view <= this.view) continue;
      for (const sender of byView.keys()) highest.set(sender, Math.max(highest.get(sender) ?? 0, view));
    }
    const target = this.vouchedFor(highest.values());
    if (target !== undefined && target > this.view) this.startViewChange(target, 'joined');
  }

  /**
   * A node that missed a NEW-VIEW (it was down, partitioned or restarted) sees the others vote
   * in a view above its own and would otherwise stay behind for as long as the leader of that
   * view is healthy. f+1 orderers voting in higher views include an honest one, so that view
   * was really entered: ask for it. The VIEW-CHANGE we send is answered with the NEW-VIEW.
   */
  private maybeCatchUpView(): void {
    for (const [sender, view] of this.senderViews) if (view <= this.view) this.senderViews.delete(sender);
    const target = this.vouchedFor(this.senderViews.values());
    if (target !== undefined && target > this.view) this.startViewChange(target, 'behind');
  }

  private afterViewChangeVote(): void {
    if (this.status !== 'view-change') return;
    const votes = this.viewChanges.get(this.view);
    if (votes === undefined || votes.size < this.quorum) return;
    // Only with a quorum behind the change does its timer run: a lone replica never escalates.
    this.escalateTick ??= this.tick + this.viewTimeout();
    if (this.leaderOf(this.view) === this.self && this.newViewSentFor !== this.view) this.sendNewView(votes);
  }

  private sendNewView(votes: ReadonlyMap<NodeName, ViewChange>): void {
    const chosen: ViewChange[] = [];
    for (const name of this.orderers) {
      const vc = votes.get(name);
      if (vc !== undefined && chosen.length < this.quorum) chosen.push(vc);
    }
    const selection = selectReproposals(chosen);
    const blocks = selectedBlocks(selection, chosen);
    assert(blocks !== undefined, 'checked VIEW-CHANGEs carry the bodies of their proofs');
    this.newViewSentFor = this.view;
    const body: Unsigned<NewView> = {
      type: 'new-view',
      ...this.common(selection.baseHeight),
      viewChanges: chosen.map(viewChangeBody),
      blocks,
    };
    this.broadcast<NewView>(body, true);
  }

  private onNewView(from: NodeName, message: NewView): void {
    if (message.view < this.view || (message.view === this.view && this.status === 'normal')) {
      this.reject('stale-view');
      return;
    }
    if (message.view > this.view + FUTURE_VIEWS_MAX) {
      this.reject('future-view');
      return;
    }
    if (message.from !== this.leaderOf(message.view)) {
      this.reject('not-leader');
      return;
    }
    const selection = selectReproposals(message.viewChanges);
    if (from !== this.self) {
      const problem = this.newViewProblem(message, selection);
      if (problem !== null) {
        this.reject('invalid-new-view');
        return;
      }
    }
    this.enterView(message, selection);
  }

  private newViewProblem(message: NewView, selection: Selection): string | null {
    const senders = new Set<NodeName>();
    for (const vc of message.viewChanges) {
      if (vc.view !== message.view) return `VIEW-CHANGE for view ${vc.view}`;
      if (senders.has(vc.from)) return `two VIEW-CHANGEs from ${vc.from}`;
      senders.add(vc.from);
      const problem = checkViewChangeBody(vc, this.verifyContext);
      if (problem !== null) return problem;
    }
    if (senders.size < this.quorum) return `${senders.size} VIEW-CHANGEs, a quorum is ${this.quorum}`;
    if (message.height !== selection.baseHeight)
      return `base ${message.height}, selection says ${selection.baseHeight}`;
    if (message.blocks.length !== selection.chain.length) return 're-proposals differ from the selection';
    for (const [i, entry] of selection.chain.entries()) {
      const block = message.blocks[i];
      if (block === undefined || hashOf(block.header) !== entry.hash)
        return `re-proposal ${entry.height} differs`;
      if (checkBlockShape(block, this.options.params) !== null)
        return `re-proposal ${entry.height} is malformed`;
      const mine = this.recentHashes.get(entry.height);
      if (mine !== undefined && mine !== entry.hash)
        return `re-proposal ${entry.height} contradicts our chain`;
    }
    return null;
  }

  private enterView(message: NewView, selection: Selection): void {
    if (message.view > this.view) {
      this.view = message.view;
      this.resetViewState();
    }
    this.status = 'normal';
    this.persist({ kind: 'view', view: this.view, entered: true, epoch: this.epochStart });
    this.newView = message;
    this.newViewBase = selection.baseHeight;
    this.viewStartTick = this.tick;
    this.lastProgressTick = this.tick;
    this.escalateTick = undefined;
    this.knownFinalHeight = Math.max(this.knownFinalHeight, selection.finalHeight);
    for (const view of this.viewChanges.keys()) if (view <= this.view) this.viewChanges.delete(view);
    const headHeight = this.head.header.height;
    for (const [i, entry] of selection.chain.entries()) {
      const block = message.blocks[i];
      assert(block !== undefined, 'a checked NEW-VIEW has a block per re-proposal');
      if (entry.height <= headHeight || entry.height > headHeight + this.acceptHeights) continue;
      const slot = this.slot(entry.height);
      if (!slot.addBlock(entry.hash, block)) continue;
      slot.proposal = { view: this.view, hash: entry.hash, fresh: false };
    }
    const leader = this.leaderOf(this.view);
    if (leader !== this.self) this.forwardPool(leader, this.tick, FORWARD_ON_VIEW_CHANGE_MAX);
    const waiting = [...this.slots.values()]
      .map((slot) => slot.pendingPrePrepares.get(this.view))
      .filter((m): m is PrePrepare => m !== undefined)
      .sort((a, b) => a.height - b.height);
    for (const slot of this.slots.values()) slot.pendingPrePrepares.delete(this.view);
    for (const prePrepare of waiting) this.onPrePrepare(prePrepare);
    // A replayed PRE-PREPARE may have been invalid and started the next view change.
    if (this.changingView()) return;
    this.tryAccept(headHeight + 1);
    this.tryPrepared(headHeight + 1);
  }

  // ---------------------------------------------------------------- catch-up

  /** The height we know to be final somewhere: above our head, we are behind and must fetch. */
  private catchUpTarget(): number {
    // f+1 senders at heights beyond anything we hold include an honest one, whose head is at
    // most acceptHeights below the heights it votes on.
    const ahead = this.vouchedFor(this.senderHeights.values());
    const evidence = ahead === undefined ? 0 : ahead - this.acceptHeights;
    return Math.max(this.knownFinalHeight, evidence, this.checkpoints.stable);
  }

  private maybeFetch(): void {
    const head = this.head.header.height;
    const target = this.catchUpTarget();
    if ((target <= head && !this.probe) || this.tick < this.nextFetchTick) return;
    const stalled = this.tick - this.lastProgressTick >= FETCH_STALL_TICKS || target > head + this.window;
    if (!stalled && !this.probe) return;
    this.probe = false;
    this.nextFetchTick = this.tick + FETCH_RETRY_TICKS;
    this.counters.fetches++;
    this.ready.fetch = { fromHeight: head + 1, peers: this.others };
  }
}

function emptyReady(): Ready {
  return { persist: [], send: [], commit: [], fetch: null };
}
