import { EventEmitter } from 'node:events';
import { checkCommitCertificate } from '../consensus/index.js';
import type { ChainNode, PeerStatus } from '../node/index.js';
import { DELIVER_BLOCKS_MAX } from '../node/index.js';
import {
  checkBlockIntegrity,
  ValidationCode,
  type Block,
  type CommitCertificate,
  type NetworkConfig,
} from '../protocol/index.js';
import type { PeerIdentity } from '../transport/index.js';
import { prefetchValidationContext } from './prefetch.js';
import type { WorldStateCache } from './state-cache.js';
import { validateBlock } from './validate.js';

/** No block for this long on an open request: ask another orderer. */
export const DELIVERY_STALL_MS = 5_000;

export interface TransactionOutcome {
  readonly txId: string;
  readonly code: number;
  readonly height: number;
  readonly txIndex: number;
}

export interface CommittedBlockEvent {
  readonly block: Block;
  readonly codes: readonly number[];
}

/**
 * The committer: follows the orderers' final blocks, checks each commit certificate against the
 * orderers of the configuration in force, validates every transaction (validate.ts), and commits
 * block, codes and state in one database transaction. Emits `block` and `tx:<txId>` events for
 * the gateway and subscribers.
 */
export class Committer extends EventEmitter {
  private source: string | undefined;
  private requestedUpTo = 0;
  private stallTimer: NodeJS.Timeout | undefined;
  /** Blocks arrive as messages; this chain of promises commits them one at a time, in order. */
  private work: Promise<void> = Promise.resolve();
  private stopped = false;
  blocksRejected = 0;

  constructor(
    private readonly node: ChainNode,
    private readonly cache: WorldStateCache,
  ) {
    super();
  }

  onPeerStatus(from: PeerIdentity, status: PeerStatus): void {
    if (from.role !== 'orderer' || this.stopped) return;
    if (status.height > this.node.chainHead.height && this.source === undefined) this.follow(from.name);
  }

  onBlock(from: PeerIdentity, block: Block, certificate: CommitCertificate | null): void {
    if (from.name !== this.source || this.stopped) return;
    this.work = this.work
      .then(() => this.accept(from.name, block, certificate))
      .catch((e: unknown) => {
        // A failed commit wrote nothing (one SQL transaction); fetch the block again, maybe elsewhere.
        this.node.logger.error(
          { peer: from.name, height: block.header.height, err: e },
          'block commit failed',
        );
        this.switchSource('commit failed');
      });
  }

  /**
   * Resolves once this peer has committed `height` (at once if it has), or after `timeoutMs`
   * regardless: the caller then proceeds on older state, which validation will judge.
   */
  waitForHeight(height: number, timeoutMs: number): Promise<void> {
    return this.waitUntil(() => this.node.chainHead.height >= height, timeoutMs);
  }

  /** Resolves once `reached` holds after a commit (at once if it holds now), or after `timeoutMs` regardless. */
  waitUntil(reached: () => boolean, timeoutMs: number): Promise<void> {
    if (reached()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.off('block', check);
        resolve();
      };
      const check = (): void => {
        if (reached()) done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.on('block', check);
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.stallTimer);
  }

  private follow(orderer: string): void {
    this.source = orderer;
    const from = this.node.chainHead.height + 1;
    this.requestedUpTo = from + DELIVER_BLOCKS_MAX - 1;
    this.node.requestBlocks(orderer, from, DELIVER_BLOCKS_MAX);
    this.armStallTimer();
  }

  private armStallTimer(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => {
      this.switchSource(`no block from ${this.source ?? '-'} for ${DELIVERY_STALL_MS} ms`);
    }, DELIVERY_STALL_MS);
    this.stallTimer.unref();
  }

  /** Follows the orderer that reports the highest chain, other than the one that failed us. */
  private switchSource(reason: string): void {
    const failed = this.source;
    this.source = undefined;
    const candidates = [...this.node.peerStatuses()]
      .filter(([name]) => name !== failed && this.node.config.orderers.some((o) => o.name === name))
      .sort((a, b) => b[1].height - a[1].height);
    const next = candidates[0]?.[0] ?? failed;
    this.node.logger.warn({ failed, next, reason }, 'switching block source');
    if (next !== undefined) this.follow(next);
  }

  private async accept(from: string, block: Block, certificate: CommitCertificate | null): Promise<void> {
    const head = this.node.chainHead;
    const height = block.header.height;
    if (height <= head.height) return; // already have it (a resent batch)
    const problem = this.problemWith(block, certificate, head);
    if (problem !== null) {
      this.blocksRejected += 1;
      this.node.logger.warn({ peer: from, height, problem }, 'block refused');
      this.switchSource(problem);
      return;
    }
    const ctx = await prefetchValidationContext(this.node.store, block, {
      config: this.node.config,
      members: this.node.members,
      keys: this.node.keys,
    });
    const { codes, config, configProblems } = validateBlock(block, ctx);
    for (const [txIndex, problems] of configProblems) {
      this.node.logger.warn({ height, txIndex, problems }, 'a config update was refused (BAD_CONFIG_UPDATE)');
    }
    const committed = await this.commit(block, codes, certificate as CommitCertificate, config);
    this.updateCache(block, committed);
    this.armStallTimer();
    this.emit('block', { block, codes: committed } satisfies CommittedBlockEvent);
    block.transactions.forEach((e, txIndex) => {
      this.emit(`tx:${e.payload.txId}`, {
        txId: e.payload.txId,
        code: committed[txIndex] ?? -1,
        height,
        txIndex,
      } satisfies TransactionOutcome);
    });
    if (height >= this.requestedUpTo) this.follow(from);
  }

  /**
   * Commits the block; if the database's answer was lost after it committed (the store then
   * holds this very block), takes the stored block as committed instead of failing for good
   * (every later attempt would be refused as a second block at that height).
   */
  private async commit(
    block: Block,
    codes: readonly number[],
    certificate: CommitCertificate,
    config: NetworkConfig,
  ): Promise<readonly number[]> {
    try {
      await this.node.commitBlock(block, codes, certificate, config);
      return codes;
    } catch (e) {
      const stored = await this.node.store.head();
      if (stored === null || stored.height < block.header.height) throw e;
      const adopted = await this.node.adoptStoredBlock(block, certificate, () => config);
      this.node.logger.warn(
        { height: block.header.height, err: e },
        'a commit whose answer was lost had succeeded: block taken as stored',
      );
      return adopted;
    }
  }

  private problemWith(
    block: Block,
    certificate: CommitCertificate | null,
    head: { height: number; hash: string },
  ): string | null {
    if (block.header.height !== head.height + 1)
      return `block ${block.header.height} does not follow head ${head.height}`;
    if (block.header.prevHash !== head.hash) return `block ${block.header.height} does not link to our head`;
    if (certificate === null) return `block ${block.header.height} has no commit certificate`;
    try {
      checkBlockIntegrity(block);
    } catch (e) {
      return (e as Error).message;
    }
    const certProblem = checkCommitCertificate(
      certificate,
      block.header,
      this.node.config.orderers,
      this.node.keys,
    );
    return certProblem === null ? null : `commit certificate of block ${block.header.height}: ${certProblem}`;
  }

  private updateCache(block: Block, codes: readonly number[]): void {
    block.transactions.forEach((e, txIndex) => {
      if (codes[txIndex] !== ValidationCode.VALID || e.payload.type !== 'invoke') return;
      for (const w of e.payload.response.rwset.writes) {
        this.cache.applyWrite(w.ns, w.key, w.value === null ? null : Buffer.from(w.value, 'base64'), {
          height: block.header.height,
          txIndex,
        });
      }
    });
  }
}
