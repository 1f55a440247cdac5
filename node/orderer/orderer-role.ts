import {
  ConsensusCore,
  encodeConsensusMessage,
  RECENT_FINAL_TXIDS_MAX,
  type ConsensusEvent,
  type ConsensusMetrics,
  type PersistRecord,
  type Ready,
  type RestoreState,
} from '../consensus/index.js';
import { checkCommitCertificate } from '../consensus/index.js';
import { configAfter } from '../config/index.js';
import type { ChainNode } from '../node/index.js';
import { Channel, DELIVER_BLOCKS_MAX } from '../node/index.js';
import {
  blockHash,
  canonicalBytes,
  envelopeDigest,
  ValidationCode,
  votingOrderers,
  type Block,
  type CommitCertificate,
  type Envelope,
  type Hash,
  type NodeName,
} from '../protocol/index.js';
import { blockProblem, envelopeProblem } from './admission.js';
import type { ByzantineBehaviour } from './byzantine.js';

/** One consensus tick: view and batch timeouts are counted in these. */
export const TICK_MS = 10;
/** Events folded into one step batch; persisting once for many keeps fsyncs off the hot path. */
export const EVENTS_PER_BATCH_MAX = 1_024;
/** How long an admission verdict is reused for the same envelope bytes (certificates may expire). */
export const ADMISSION_REUSE_MS = 60_000;
/** Admission verdicts remembered: 100k leaves of 64 hex characters is about 15 MiB. */
export const ADMITTED_ENTRIES_MAX = 100_000;
/** Backoff of a failed database write: first wait, and the longest. */
const STORE_RETRY_FIRST_MS = 100;
const STORE_RETRY_MAX_MS = 5_000;

/** A store failure that retrying cannot cure. */
class FatalStoreError extends Error {
  override readonly name = 'FatalStoreError';
}

/** Prune persisted votes of final heights every this many blocks. */
const PRUNE_EVERY_BLOCKS = 64;
/** Consensus messages kept to replay into the next epoch's core (some may be for its first heights). */
const EPOCH_REPLAY_MESSAGES_MAX = 512;
/** How often a learner asks for blocks it lacks, and how long it waits for an answer before asking another orderer. */
const FOLLOW_INTERVAL_MS = 100;
const FOLLOW_ANSWER_MS = 2_000;

/**
 * What this orderer is in the configuration in force: a voting member (runs the consensus
 * core), a learner (follows the chain until promoted), or not a member at all (never added, or
 * removed: it orders nothing and the others refuse its links).
 */
export type OrdererMembership = 'voting' | 'learner' | 'not-member';

/**
 * The orderer process around the pure consensus core: it turns transport messages, client
 * submissions, fetched blocks and clock ticks into events, and each Ready into I/O in the one
 * safe order — persist the votes (durably), then send, then commit final blocks, then fetch.
 * Events that arrive while a Ready is being handled are stepped together afterwards, so a
 * single fsync covers many votes.
 */
export class OrdererRole {
  private readonly queue: ConsensusEvent[] = [];
  private draining = false;
  private ticker: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastPruned: number;
  /** Final blocks being written to the store, one after another. */
  private committing: Promise<void> = Promise.resolve();
  /** The orderer we asked for missing blocks, whose answers are fed to the core. */
  private fetchingFrom: string | undefined;
  /** Whether `fetchingFrom` sent a block since we asked it. */
  private fetchAnswered = true;
  /** Orderers that answered a fetch with nothing: asked again only once every other one failed too. */
  private readonly fetchUnhelpful = new Set<string>();
  /** View and status last logged, so transitions are logged once each. */
  private logged: { view: number; status: ConsensusMetrics['status'] } | undefined;
  /** Test-only: lies about what the core sends (byzantine.ts; undefined in any real network). */
  private byzantine: ByzantineBehaviour | undefined;

  /** The consensus core of the current epoch; undefined while this orderer does not vote. */
  private core: ConsensusCore | undefined;
  private membershipNow: OrdererMembership = 'not-member';
  /** Recent consensus messages, replayed into the next epoch's core when an epoch ends. */
  private readonly recentMessages: { from: NodeName; bytes: Buffer }[] = [];
  /** A learner's outstanding block request: whom, when it last heard, and the last height asked for. */
  private following: { from: string; atMs: number; through: number } | undefined;
  private lastFollowMs = 0;
  /** Merkle leaf of each recently admitted envelope -> when (ms), oldest first; see admit(). */
  private readonly admitted = new Map<string, number>();
  private admittedUnder = -1;

  private constructor(
    readonly node: ChainNode,
    private readonly tickMs: number,
  ) {
    this.lastPruned = node.chainHead.height;
  }

  /**
   * Starts the core of the epoch that began at the newest config block (node.epochStart), if
   * this orderer votes in it; otherwise follows the chain as a learner or stays idle.
   */
  private startEpoch(restore: RestoreState, epochStartHash: Hash): ConsensusCore | undefined {
    const node = this.node;
    const config = node.config;
    const self = config.orderers.find((o) => o.name === node.name);
    const membership: OrdererMembership =
      self === undefined ? 'not-member' : self.learner === true ? 'learner' : 'voting';
    if (membership !== this.membershipNow || this.core !== undefined) {
      node.logger.info(
        {
          membership,
          epochStart: node.epochStart,
          sequence: config.sequence,
          votingOrderers: votingOrderers(config.orderers).length,
        },
        membership === 'voting'
          ? 'ordering in this configuration'
          : membership === 'learner'
            ? 'following the chain as a learner (not voting)'
            : 'not an orderer of this configuration: ordering nothing',
      );
    }
    this.membershipNow = membership;
    this.logged = undefined;
    this.core =
      membership !== 'voting'
        ? undefined
        : new ConsensusCore(
            {
              self: node.name,
              orderers: votingOrderers(config.orderers).map((o) => o.name),
              epochStart: node.epochStart,
              epochStartHash,
              params: config.consensus,
              tickMs: this.tickMs,
              crypto: {
                sign: (domain, bytes) => node.key.sign(domain, bytes),
                // The core verifies against the membership it was started with.
                verify: (signer, domain, bytes, signature) => {
                  const member = config.orderers.find((o) => o.name === signer);
                  return member !== undefined && node.keys.get(member.cert).verify(domain, bytes, signature);
                },
              },
              validateEnvelope: (envelope) => this.admit(envelope),
              validateBlock: (block, prev) =>
                blockProblem(block, prev, (envelope) => this.admit(envelope), Date.now()),
            },
            restore,
          );
    return this.core;
  }

  static async attach(
    node: ChainNode,
    options: { tickMs?: number; byzantine?: ByzantineBehaviour } = {},
  ): Promise<OrdererRole> {
    if (node.role !== 'orderer') throw new Error(`${node.name} is a ${node.role}, not an orderer`);
    const tickMs = options.tickMs ?? TICK_MS;
    const head = await node.store.getBlock(node.chainHead.height);
    if (head === null) throw new Error(`block ${node.chainHead.height} vanished`);
    const records = (await node.store.consensusRecords(head.block.header.height)).map(
      (bytes) => JSON.parse(bytes.toString('utf8')) as PersistRecord,
    );
    const recentTxIds = await node.store.recentTxIds(RECENT_FINAL_TXIDS_MAX);
    const epochStart = await node.store.getBlock(node.epochStart);
    if (epochStart === null) throw new Error(`block ${node.epochStart} (the epoch's start) vanished`);
    const role = new OrdererRole(node, tickMs);
    role.startEpoch(
      {
        head: { block: head.block, certificate: head.commitCertificate },
        records,
        recentTxIds,
      },
      epochStart.hash,
    );
    role.byzantine = options.byzantine;
    // The core's clock starts at 0 until its first tick: a PRE-PREPARE handled before that looked
    // "too far in the future" and cost the leader its view (seen after restarts). Tick first.
    role.enqueue({ type: 'tick', nowMs: Date.now() });
    node.addHandlers({
      onConsensus: (from, body) => {
        if (from.role !== 'orderer') return;
        role.recentMessages.push({ from: from.name, bytes: body });
        if (role.recentMessages.length > EPOCH_REPLAY_MESSAGES_MAX) role.recentMessages.shift();
        role.enqueue({ type: 'message', from: from.name, bytes: body });
      },
      onRequest: (_from, message) => {
        if (message.type === 'submit') role.enqueue({ type: 'request', envelope: message.envelope });
      },
      onBlock: (from, block, certificate) => {
        if (role.core === undefined) {
          if (certificate !== null && from.name === role.following?.from) role.follow(block, certificate);
          return;
        }
        if (from.name === role.fetchingFrom && certificate !== null) {
          role.fetchAnswered = true;
          role.fetchUnhelpful.delete(from.name);
          role.enqueue({ type: 'committed-block', block, certificate });
        }
      },
    });
    role.ticker = setInterval(() => {
      role.enqueue({ type: 'tick', nowMs: Date.now() });
    }, tickMs);
    node.logger.info(
      { orderers: node.config.orderers.length, tickMs, restoredRecords: records.length },
      'orderer consensus started',
    );
    return role;
  }

  /** The core's metrics; undefined while this orderer does not vote (see membership). */
  metrics(): ConsensusMetrics | undefined {
    return this.core?.metrics();
  }

  get membership(): OrdererMembership {
    return this.membershipNow;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.ticker);
  }

  private admit(envelope: Envelope): string | null {
    // A follower checks every transaction of a proposed block that it admitted moments ago as a
    // request: the same bytes (same Merkle leaf, computed for the block anyway) under the same
    // configuration need no second signature check.
    const config = this.node.config;
    if (this.admittedUnder !== config.sequence) {
      this.admitted.clear();
      this.admittedUnder = config.sequence;
    }
    const leaf = envelopeDigest(envelope).hash;
    const now = Date.now();
    const at = this.admitted.get(leaf);
    if (at !== undefined && now - at < ADMISSION_REUSE_MS) return null;
    const problem = envelopeProblem(envelope, config, this.node.members, this.node.keys, new Date(now));
    if (problem !== null) {
      this.node.logger.debug({ txId: envelope.payload.txId, problem }, 'transaction refused');
      return problem;
    }
    this.admitted.set(leaf, now);
    if (this.admitted.size > ADMITTED_ENTRIES_MAX) {
      const oldest = this.admitted.keys().next();
      if (oldest.done !== true) this.admitted.delete(oldest.value);
    }
    return null;
  }

  private enqueue(event: ConsensusEvent): void {
    if (this.stopped) return;
    if (this.core === undefined) {
      // Not voting: only the clock matters (a learner asks for the blocks it lacks).
      if (event.type === 'tick') this.followTick();
      return;
    }
    this.queue.push(event);
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const core = this.core;
        if (core === undefined) {
          this.queue.length = 0;
          break;
        }
        const events = this.queue.splice(0, EVENTS_PER_BATCH_MAX);
        const readies: Ready[] = [];
        for (const [i, event] of events.entries()) {
          readies.push(core.step(event));
          if (core.ended) {
            // The rest belongs to the next epoch's core.
            this.queue.unshift(...events.slice(i + 1));
            break;
          }
        }
        this.logViewTransition();
        await this.handle(merge(readies));
        if (core.ended) await this.nextEpoch(core);
      }
    } catch (e) {
      // A failed persist or commit leaves us unable to keep our promises: stop voting at once.
      this.node.logger.fatal({ err: e }, 'orderer failed to persist or commit; stopping consensus');
      this.stop();
    } finally {
      this.draining = false;
    }
  }

  /**
   * Runs a database write until it succeeds (backing off up to STORE_RETRY_MAX_MS), so a
   * database restart or a dropped connection pauses this orderer instead of ending its
   * consensus for good. A FatalStoreError is not retried.
   */
  private async retrying(what: string, write: () => Promise<void>): Promise<void> {
    for (let attempt = 1, delay = STORE_RETRY_FIRST_MS; ; attempt++) {
      try {
        await write();
        if (attempt > 1) this.node.logger.warn({ what, attempt }, 'database write succeeded again');
        return;
      } catch (e) {
        if (e instanceof FatalStoreError || this.stopped) throw e;
        this.node.logger.error(
          { err: e, what, attempt, retryInMs: delay },
          'database write failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, STORE_RETRY_MAX_MS);
      }
    }
  }

  /**
   * The epoch's config block is final: once it is stored (the node then holds the new
   * configuration), start the next epoch's core from it, hand it the requests still waiting and
   * the consensus messages that may already be for its first heights.
   */
  private async nextEpoch(ended: ConsensusCore): Promise<void> {
    await this.committing;
    if (this.stopped) return;
    const head = await this.node.store.getBlock(this.node.chainHead.height);
    if (head === null || head.commitCertificate === null) {
      throw new FatalStoreError(`the config block ${this.node.chainHead.height} is not stored`);
    }
    const recentTxIds = await this.node.store.recentTxIds(RECENT_FINAL_TXIDS_MAX);
    this.startEpoch(
      {
        head: { block: head.block, certificate: head.commitCertificate },
        records: [],
        recentTxIds,
      },
      head.hash,
    );
    if (this.core === undefined) return;
    this.queue.unshift(...this.epochStartEvents(ended.pendingRequests()));
  }

  /** What a new epoch's core hears first: the clock, the requests still waiting, recent messages. */
  private epochStartEvents(pending: readonly Envelope[]): ConsensusEvent[] {
    return [
      { type: 'tick', nowMs: Date.now() },
      ...pending.map((envelope): ConsensusEvent => ({ type: 'request', envelope })),
      ...this.recentMessages.map((m): ConsensusEvent => ({ type: 'message', from: m.from, bytes: m.bytes })),
    ];
  }

  /** A learner (or a non-member) asks the most advanced orderer for the blocks it lacks. */
  private followTick(): void {
    const now = Date.now();
    // A node not (yet) in the configuration of its head follows too: it is joining, and what it
    // reaches will name it (a removed one finds nobody willing to talk to it).
    if (now - this.lastFollowMs < FOLLOW_INTERVAL_MS) return;
    if (this.following !== undefined && now - this.following.atMs < FOLLOW_ANSWER_MS) return;
    this.lastFollowMs = now;
    const height = this.node.chainHead.height;
    const candidates = this.node
      .connectedPeers()
      .filter((p) => p.role === 'orderer')
      .map((p) => p.name as string);
    const statuses = this.node.peerStatuses();
    // Someone who did not answer last time goes to the back of the line.
    const previous = this.following?.from;
    const best = candidates
      .filter((name) => (statuses.get(name)?.height ?? 0) > height)
      .sort(
        (a, b) =>
          Number(a === previous) - Number(b === previous) ||
          (statuses.get(b)?.height ?? 0) - (statuses.get(a)?.height ?? 0),
      )[0];
    this.following = undefined;
    if (best === undefined) return;
    const sourceHeight = statuses.get(best)?.height ?? height + 1;
    this.following = { from: best, atMs: now, through: Math.min(height + DELIVER_BLOCKS_MAX, sourceHeight) };
    this.node.requestBlocks(best, height + 1, DELIVER_BLOCKS_MAX);
  }

  /**
   * A learner checks a delivered block like a peer does (it extends the head, and a quorum of
   * the configuration in force signed it) and stores it; a config block may promote it.
   */
  private follow(block: Block, certificate: CommitCertificate): void {
    this.committing = this.committing.then(async () => {
      if (this.core !== undefined || this.stopped) return;
      const head = this.node.chainHead;
      if (block.header.height !== head.height + 1) return;
      if (this.following !== undefined) this.following.atMs = Date.now();
      const problem =
        block.header.prevHash !== head.hash
          ? `block ${block.header.height} does not link to our head`
          : checkCommitCertificate(certificate, block.header, this.node.config.orderers, this.node.keys);
      if (problem !== null) {
        this.node.logger.warn({ from: this.following?.from, problem }, 'refused a delivered block');
        this.following = undefined;
        return;
      }
      await this.storeFinal(block, certificate);
      if (this.following !== undefined && block.header.height >= this.following.through) {
        // The batch is complete: ask for the next one now rather than after the answer timeout.
        this.following = undefined;
        this.lastFollowMs = 0;
      }
      if (this.node.epochStart === block.header.height) {
        const core = this.startEpoch(
          {
            head: { block, certificate },
            records: [],
            recentTxIds: await this.node.store.recentTxIds(RECENT_FINAL_TXIDS_MAX),
          },
          blockHash(block.header),
        );
        if (core !== undefined) {
          // Promoted: the others may already be voting on the epoch's first heights.
          this.following = undefined;
          for (const event of this.epochStartEvents([])) this.enqueue(event);
        }
      }
    });
    this.committing = this.committing.catch((e: unknown) => {
      this.node.logger.fatal({ err: e }, 'orderer failed to store a final block; stopping');
      this.stop();
    });
  }

  private logViewTransition(): void {
    if (this.core === undefined) return;
    const { view, status, height, leader, lastViewChange } = this.core.metrics();
    if (this.logged?.view === view && this.logged.status === status) return;
    if (this.logged !== undefined) {
      if (status === 'view-change')
        this.node.logger.warn({ view, height, reason: lastViewChange?.reason }, 'view change started');
      else this.node.logger.info({ view, height, leader }, 'entered view');
    }
    this.logged = { view, status };
  }

  private async handle(ready: Ready): Promise<void> {
    if (ready.persist.length > 0) {
      const records = ready.persist.map((r) => ({
        height: 'height' in r ? r.height : null,
        bytes: canonicalBytes(r),
      }));
      // Nothing is sent before its votes are stored: during a database outage this orderer
      // stops voting and resumes when the database is back (a record stored twice is harmless:
      // restoring keeps the highest).
      await this.retrying('persist votes', () => this.node.store.appendConsensusRecords(records));
    }
    if (this.stopped) return;
    for (const { to, message } of this.byzantine?.transform(ready.send) ?? ready.send) {
      const bytes = encodeConsensusMessage(message);
      for (const peer of to) if (peer !== this.node.name) this.node.send(peer, Channel.consensus, bytes);
    }
    // Final blocks are final whether or not they are stored yet: writing them is queued (in
    // order) so consensus keeps voting meanwhile. Votes, above, are the only thing sending waits for.
    for (const { block, certificate } of ready.commit) {
      this.committing = this.committing.then(async () => {
        await this.storeFinal(block, certificate);
        const head = this.node.chainHead.height;
        if (head - this.lastPruned >= PRUNE_EVERY_BLOCKS) {
          await this.node.store.pruneConsensusRecords(head);
          this.lastPruned = head;
        }
      });
    }
    this.committing = this.committing.catch((e: unknown) => {
      this.node.logger.fatal({ err: e }, 'orderer failed to store a final block; stopping consensus');
      this.stop();
    });
    if (ready.fetch !== null) this.fetch(ready.fetch.fromHeight, ready.fetch.peers);
  }

  /** Stores a final block (retrying database failures), applying the configuration it carries. */
  private async storeFinal(block: Block, certificate: CommitCertificate): Promise<void> {
    const height = block.header.height;
    let failedBefore = false;
    await this.retrying(`store block ${height}`, async () => {
      const update = configAfter(this.node.config, block);
      // A replayed config transaction is stored as DUPLICATE_TXID and, as on peers, not applied.
      const configIndex = block.transactions.findIndex((e) => e.payload.type === 'config');
      const nextConfig = (codes: readonly number[]) =>
        update !== null && codes[configIndex] === ValidationCode.VALID ? update.config : undefined;
      // A commit whose answer was lost (the connection dropped after COMMIT) may have happened:
      // then the store holds this very block, and the node takes it as committed.
      if (failedBefore) {
        const stored = await this.node.store.head();
        if (stored !== null && stored.height >= height) {
          try {
            await this.node.adoptStoredBlock(block, certificate, nextConfig);
          } catch (e) {
            throw new FatalStoreError(
              `block ${height} is stored but is not the block this orderer committed`,
              {
                cause: e,
              },
            );
          }
          this.node.logger.warn(
            { height },
            'a commit whose answer was lost had succeeded: block taken as stored',
          );
          return;
        }
      }
      failedBefore = true;
      if (update !== null && update.problems.length > 0) {
        // Orderers order only config updates that pass these checks, so this means a faulty
        // quorum or diverging code: record it as peers would, and keep the configuration.
        this.node.logger.error(
          { height, problems: update.problems },
          'a final block holds an invalid config update',
        );
      }
      const codes = await this.orderingCodes(block, update);
      await this.node.commitBlock(block, codes, certificate, nextConfig(codes));
    });
  }

  /**
   * An orderer's codes for its own copy: DUPLICATE_TXID for a replay (so the chain stays
   * storable), BAD_CONFIG_UPDATE for a config update that does not apply, and VALID for what it
   * admitted. Peers compute the authoritative codes, with endorsements and read sets, which
   * orderers do not check (as in Fabric).
   */
  private async orderingCodes(
    block: Block,
    update: ReturnType<typeof configAfter>,
  ): Promise<ValidationCode[]> {
    const known = await this.node.store.knownTxIds(block.transactions.map((e) => e.payload.txId));
    const seen = new Set<string>();
    return block.transactions.map((e) => {
      const txId = e.payload.txId;
      const duplicate = known.has(txId) || seen.has(txId);
      seen.add(txId);
      if (duplicate) return ValidationCode.DUPLICATE_TXID;
      if (e.payload.type === 'config' && update !== null && update.problems.length > 0)
        return ValidationCode.BAD_CONFIG_UPDATE;
      return ValidationCode.VALID;
    });
  }

  private fetch(fromHeight: number, peers: readonly NodeName[]): void {
    const statuses = this.node.peerStatuses();
    // The core asks again while still behind: whoever we asked last and who sent nothing (down,
    // slow, or withholding blocks on purpose) is skipped until every other orderer failed too.
    if (this.fetchingFrom !== undefined && !this.fetchAnswered) this.fetchUnhelpful.add(this.fetchingFrom);
    const others = peers.filter((p) => p !== this.node.name);
    if (others.every((p) => this.fetchUnhelpful.has(p))) this.fetchUnhelpful.clear();
    const best = others
      .filter((p) => !this.fetchUnhelpful.has(p))
      .sort((a, b) => (statuses.get(b)?.height ?? 0) - (statuses.get(a)?.height ?? 0))[0];
    if (best === undefined) return;
    this.fetchingFrom = best;
    this.fetchAnswered = false;
    const result = this.node.requestBlocks(best, fromHeight, DELIVER_BLOCKS_MAX);
    this.node.logger.debug({ from: best, fromHeight, result }, 'fetching final blocks');
  }
}

function merge(readies: readonly Ready[]): Ready {
  return {
    persist: readies.flatMap((r) => r.persist),
    send: readies.flatMap((r) => r.send),
    commit: readies.flatMap((r) => r.commit),
    fetch: readies.reduce<Ready['fetch']>((last, r) => r.fetch ?? last, null),
  };
}
