import {
  envelopeDigest,
  expectedTxId,
  merkleRoot,
  type Block,
  type ConsensusParams,
  type Envelope,
  type Hash,
  type TxId,
} from '../protocol/index.js';
import { POOL_BYTES_MAX, POOL_TXS_MAX, RECENT_FINAL_TXIDS_MAX } from './limits.js';

/** What the core needs to know about an envelope, computed once per object (envelopes are immutable). */
export interface EnvelopeFacts {
  readonly txId: TxId;
  /** Canonical encoding length: what batchBytesMax counts. */
  readonly bytes: number;
  /** The Merkle leaf: SHA-256 of the canonical envelope (as envelopeHash). */
  readonly leaf: Hash;
  /** Whether payload.txId is the id its content implies. */
  readonly txIdMatches: boolean;
}

const factsMemo = new WeakMap<Envelope, EnvelopeFacts>();

export function envelopeFacts(envelope: Envelope): EnvelopeFacts {
  const hit = factsMemo.get(envelope);
  if (hit !== undefined) return hit;
  const digest = envelopeDigest(envelope);
  const facts: EnvelopeFacts = {
    txId: envelope.payload.txId,
    bytes: digest.length,
    leaf: digest.hash,
    txIdMatches: expectedTxId(envelope.payload) === envelope.payload.txId,
  };
  factsMemo.set(envelope, facts);
  return facts;
}

/**
 * What a block must say about itself before anyone votes for it: consistent tx count and
 * Merkle root, true txIds, no txId twice, and the batch limits the leader must respect
 * (a single envelope larger than batchBytesMax may form a block of its own).
 */
/** A block that changes the configuration (and so ends the consensus epoch it is ordered in). */
export function isConfigBlock(block: Block): boolean {
  return block.transactions.some((e) => e.payload.type === 'config');
}

export function checkBlockShape(block: Block, params: ConsensusParams): string | null {
  const { header, transactions } = block;
  if (header.txCount !== transactions.length)
    return `txCount ${header.txCount} != ${transactions.length} transactions`;
  if (transactions.length === 0) return 'empty block';
  if (transactions.length > 1 && isConfigBlock(block))
    return 'a config transaction must be alone in its block';
  if (transactions.length > params.batchTxMax)
    return `${transactions.length} transactions > batchTxMax ${params.batchTxMax}`;
  const facts = transactions.map(envelopeFacts);
  const bytes = facts.reduce((sum, f) => sum + f.bytes, 0);
  if (transactions.length > 1 && bytes > params.batchBytesMax)
    return `${bytes} bytes > batchBytesMax ${params.batchBytesMax}`;
  if (merkleRoot(facts.map((f) => f.leaf)) !== header.dataHash)
    return 'dataHash is not the Merkle root of the transactions';
  const seen = new Set<TxId>();
  for (const f of facts) {
    if (!f.txIdMatches) return `transaction ${f.txId} has a txId its content does not imply`;
    if (seen.has(f.txId)) return `transaction ${f.txId} appears twice`;
    seen.add(f.txId);
  }
  return null;
}

interface PoolEntry {
  readonly envelope: Envelope;
  readonly facts: EnvelopeFacts;
  readonly arrivalTick: number;
  /** The view in which this entry was last re-forwarded to the leader (-1: never). */
  forwardedView: number;
}

export type AddResult = 'added' | 'duplicate' | 'full';

/**
 * Client transactions waiting to be ordered, oldest first (Map insertion order), plus the txIds
 * that became final recently so a transaction is never ordered twice within that window.
 */
export class RequestPool {
  private readonly entries = new Map<TxId, PoolEntry>();
  private bytesTotal = 0;
  // A Set keeps insertion order too: the first element is the oldest, evicted first.
  private readonly recentFinal = new Set<TxId>();
  private newestOrdered = 0;

  constructor(recentTxIds: readonly TxId[]) {
    for (const txId of recentTxIds.slice(-RECENT_FINAL_TXIDS_MAX)) this.recentFinal.add(txId);
  }

  get size(): number {
    return this.entries.size;
  }

  add(envelope: Envelope, tick: number): AddResult {
    const facts = envelopeFacts(envelope);
    if (this.entries.has(facts.txId) || this.recentFinal.has(facts.txId)) return 'duplicate';
    if (this.entries.size >= POOL_TXS_MAX || this.bytesTotal + facts.bytes > POOL_BYTES_MAX) return 'full';
    this.entries.set(facts.txId, { envelope, facts, arrivalTick: tick, forwardedView: -1 });
    this.bytesTotal += facts.bytes;
    return 'added';
  }

  /** Whether `txId` is waiting here or was final recently: a copy of it needs no checking. */
  knows(txId: TxId): boolean {
    return this.entries.has(txId) || this.recentFinal.has(txId);
  }

  isFinal(txId: TxId): boolean {
    return this.recentFinal.has(txId);
  }

  /** The pending envelopes, oldest first: handed to the next epoch's core. */
  pending(): Envelope[] {
    return [...this.entries.values()].map((e) => e.envelope);
  }

  /** Removes entries without marking them final (the leader's own validator refused them). */
  drop(txIds: readonly TxId[]): void {
    for (const txId of txIds) {
      const entry = this.entries.get(txId);
      if (entry === undefined) continue;
      this.bytesTotal -= entry.facts.bytes;
      this.entries.delete(txId);
    }
  }

  /**
   * The latest arrival (here) of a transaction the leader ordered: one we never held counts as
   * arriving when ordered. An honest leader orders oldest first, so a request that arrived well
   * before this one and still waits is being skipped (censorship evidence, see core.onTick).
   */
  get newestOrderedArrivalTick(): number {
    return this.newestOrdered;
  }

  markFinal(txIds: readonly TxId[], tick: number): void {
    for (const txId of txIds) {
      const entry = this.entries.get(txId);
      if (entry !== undefined) {
        this.bytesTotal -= entry.facts.bytes;
        this.entries.delete(txId);
        this.newestOrdered = Math.max(this.newestOrdered, entry.arrivalTick);
      } else if (!this.recentFinal.has(txId)) {
        this.newestOrdered = tick;
      }
      this.recentFinal.add(txId);
      if (this.recentFinal.size > RECENT_FINAL_TXIDS_MAX) {
        const oldest = this.recentFinal.values().next();
        if (oldest.done !== true) this.recentFinal.delete(oldest.value);
      }
    }
  }

  oldest(): { readonly arrivalTick: number } | undefined {
    return this.entries.values().next().value;
  }

  /**
   * The next batch for the leader: oldest first, skipping txIds already in flight, within the
   * count and byte limits. `waitedFrom` is the arrival tick of the oldest entry taken.
   */
  cutBatch(
    inFlight: ReadonlySet<TxId>,
    params: { readonly batchTxMax: number; readonly batchBytesMax: number },
  ): { envelopes: Envelope[]; bytes: number; full: boolean; oldestArrivalTick: number } {
    const envelopes: Envelope[] = [];
    let bytes = 0;
    let oldestArrivalTick = Number.MAX_SAFE_INTEGER;
    for (const entry of this.entries.values()) {
      if (inFlight.has(entry.facts.txId)) continue;
      if (envelopes.length >= params.batchTxMax) return { envelopes, bytes, full: true, oldestArrivalTick };
      // A config transaction is ordered alone: it changes who orders the blocks after it.
      if (entry.envelope.payload.type === 'config') {
        if (envelopes.length > 0) return { envelopes, bytes, full: true, oldestArrivalTick };
        return {
          envelopes: [entry.envelope],
          bytes: entry.facts.bytes,
          full: true,
          oldestArrivalTick: entry.arrivalTick,
        };
      }
      if (envelopes.length > 0 && bytes + entry.facts.bytes > params.batchBytesMax) {
        return { envelopes, bytes, full: true, oldestArrivalTick };
      }
      envelopes.push(entry.envelope);
      bytes += entry.facts.bytes;
      oldestArrivalTick = Math.min(oldestArrivalTick, entry.arrivalTick);
    }
    const full = envelopes.length >= params.batchTxMax || bytes >= params.batchBytesMax;
    return { envelopes, bytes, full, oldestArrivalTick };
  }

  /** Entries waiting since before `beforeTick` not yet re-forwarded in `view`; marks them forwarded. */
  takeForForwarding(view: number, beforeTick: number, max: number): Envelope[] {
    const out: Envelope[] = [];
    for (const entry of this.entries.values()) {
      if (out.length >= max || entry.arrivalTick > beforeTick) break;
      if (entry.forwardedView >= view) continue;
      entry.forwardedView = view;
      out.push(entry.envelope);
    }
    return out;
  }
}
