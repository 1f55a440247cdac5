import type { Logger } from 'pino';
import type { ChainStore } from '../ledger/index.js';
import type { Block, CommitCertificate } from '../protocol/index.js';
import type { SendResult } from '../transport/index.js';
import { DELIVER_BLOCKS_MAX, encodeBlock } from './messages.js';

interface Subscription {
  /** The next height this subscriber is owed. */
  nextHeight: number;
  /** Blocks still owed under its latest request. */
  remaining: number;
  /** Serialises this subscriber's reads and sends, so blocks go out in height order. */
  work: Promise<void>;
}

/**
 * Test-only (node/orderer/byzantine.ts, `withhold-blocks`, locked behind a double opt-in): the
 * node whose store has a gate here answers no request the gate refuses. Per store, so other
 * nodes in the same process are unaffected; empty unless a test made an orderer Byzantine.
 */
export const blockServingGates = new WeakMap<ChainStore, (peer: string) => boolean>();

/** Subscribers one node serves at once: every other member, with room to spare. */
export const SUBSCRIBERS_MAX = 2_048;
/**
 * Encoded bytes of the latest final blocks kept in memory: followers ask for what was just
 * committed, and reading it back (two queries, then decoding and re-encoding every envelope)
 * cost more CPU than anything else in serving it. 64 MiB bounds it whatever the block size.
 */
export const RECENT_BLOCK_BYTES_MAX = 64 * 1024 * 1024;

/**
 * Serves final blocks with their commit certificates to other members: a request names the
 * first height and how many blocks; what exists is sent at once and the rest as it becomes
 * final (a long poll). The subscriber asks again after each batch, which is the flow control:
 * no subscriber can make this node queue more than DELIVER_BLOCKS_MAX blocks for it.
 */
export class DeliveryServer {
  private readonly subscriptions = new Map<string, Subscription>();
  /** Height -> encoded block message, oldest first (Map keeps insertion order). */
  private readonly recent = new Map<number, Buffer>();
  private recentBytes = 0;

  constructor(
    private readonly store: ChainStore,
    private readonly send: (to: string, body: Buffer) => SendResult,
    private readonly logger: Logger,
  ) {}

  request(from: string, fromHeight: number, count: number): void {
    if (!this.subscriptions.has(from) && this.subscriptions.size >= SUBSCRIBERS_MAX) {
      this.logger.warn({ peer: from }, 'delivery refused: too many subscribers');
      return;
    }
    const previous = this.subscriptions.get(from)?.work ?? Promise.resolve();
    const sub: Subscription = {
      nextHeight: fromHeight,
      remaining: Math.min(count, DELIVER_BLOCKS_MAX),
      work: previous,
    };
    this.subscriptions.set(from, sub);
    this.schedule(from, sub);
  }

  /** A new block became final: keep its encoding and feed every subscriber waiting for it. */
  committed(block: Block, certificate: CommitCertificate | null): void {
    const bytes = encodeBlock(block, certificate);
    this.recent.set(block.header.height, bytes);
    this.recentBytes += bytes.length;
    for (const [height, old] of this.recent) {
      if (this.recentBytes <= RECENT_BLOCK_BYTES_MAX || this.recent.size === 1) break;
      this.recent.delete(height);
      this.recentBytes -= old.length;
    }
    for (const [peer, sub] of this.subscriptions) this.schedule(peer, sub);
  }

  /** The encoded block message at `height`, from memory if recent; null if not final yet. */
  private async encodedBlock(height: number): Promise<Buffer | null> {
    const cached = this.recent.get(height);
    if (cached !== undefined) return cached;
    const stored = await this.store.getBlock(height);
    return stored === null ? null : encodeBlock(stored.block, stored.commitCertificate);
  }

  forget(peer: string): void {
    this.subscriptions.delete(peer);
  }

  private schedule(peer: string, sub: Subscription): void {
    sub.work = sub.work
      .then(() => this.serve(peer, sub))
      .catch((e: unknown) => {
        this.logger.error({ peer, err: e }, 'block delivery failed');
        this.subscriptions.delete(peer);
      });
  }

  private async serve(peer: string, sub: Subscription): Promise<void> {
    if (blockServingGates.get(this.store)?.(peer) === false) {
      if (this.subscriptions.get(peer) === sub) this.subscriptions.delete(peer);
      return;
    }
    while (sub.remaining > 0 && this.subscriptions.get(peer) === sub) {
      const bytes = await this.encodedBlock(sub.nextHeight);
      if (bytes === null) return; // not final yet: wait for `committed()`
      const result = this.send(peer, bytes);
      if (result !== 'queued') {
        // The subscriber will time out and ask again from where it stands.
        this.logger.warn({ peer, height: sub.nextHeight, result }, 'block delivery interrupted');
        this.subscriptions.delete(peer);
        return;
      }
      sub.nextHeight += 1;
      sub.remaining -= 1;
    }
  }
}
