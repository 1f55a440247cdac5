import type { Hash, NodeName } from '../protocol/index.js';
import { CHECKPOINT_HEIGHTS_MAX } from './limits.js';

/**
 * CHECKPOINT votes: every checkpointInterval heights each orderer announces the hash it
 * committed there; a quorum for one (height, hash) makes the checkpoint stable. A stable
 * checkpoint above our head proves we are behind (fetch), and everything at or below it is
 * garbage-collected.
 */
export class CheckpointTracker {
  private stableHeight: number;
  private stableHashValue: Hash | null = null;
  private readonly votes = new Map<number, Map<NodeName, Hash>>();

  constructor(committedHeight: number) {
    this.stableHeight = committedHeight;
  }

  get stable(): number {
    return this.stableHeight;
  }

  get stableHash(): Hash | null {
    return this.stableHashValue;
  }

  /** Records a vote; returns the newly stable checkpoint, if this vote made one. */
  add(
    height: number,
    from: NodeName,
    hash: Hash,
    quorum: number,
  ): { height: number; hash: Hash } | 'ignored' | null {
    if (height <= this.stableHeight) return 'ignored';
    let byHeight = this.votes.get(height);
    if (byHeight === undefined) {
      if (this.votes.size >= CHECKPOINT_HEIGHTS_MAX) {
        // Keep the highest heights: a laggard needs the newest evidence, not the oldest.
        const lowest = Math.min(...this.votes.keys());
        if (lowest > height) return 'ignored';
        this.votes.delete(lowest);
      }
      byHeight = new Map();
      this.votes.set(height, byHeight);
    }
    if (byHeight.has(from)) return 'ignored';
    byHeight.set(from, hash);
    let agreeing = 0;
    for (const h of byHeight.values()) if (h === hash) agreeing++;
    if (agreeing < quorum) return null;
    this.stableHeight = height;
    this.stableHashValue = hash;
    for (const h of [...this.votes.keys()]) if (h <= height) this.votes.delete(h);
    return { height, hash };
  }
}
