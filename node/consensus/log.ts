import type { Block, CommitCertificate, Hash, NodeName, SignatureHex } from '../protocol/index.js';
import { BLOCKS_PER_HEIGHT_MAX } from './limits.js';
import type { PrePrepare, PrepareVote } from './messages.js';

/** A block prepared in `view`: a quorum of PREPARE signatures, persisted before COMMIT is sent. */
export interface PreparedCert {
  readonly view: number;
  readonly block: Block;
  readonly hash: Hash;
  readonly votes: readonly PrepareVote[];
}

export interface Proposal {
  readonly view: number;
  readonly hash: Hash;
  /** A fresh PRE-PREPARE is validated in full; a NEW-VIEW re-proposal was already prepared by a quorum. */
  readonly fresh: boolean;
}

export type AddVote = 'added' | 'duplicate' | 'equivocation';

/**
 * Everything the core knows about one height above its committed head. Deleted when the
 * height commits: commit certificates, not message logs, prove finality in a view change.
 */
export class Slot {
  /** Known block bodies by hash (the proposal, re-proposals, other views' pre-prepares). */
  readonly blocks = new Map<Hash, Block>();
  /** The proposal of the current view, if any. */
  proposal: Proposal | undefined;
  /** The view in which I accepted the proposal (sent PREPARE); -1 if not in the current view. */
  acceptedView = -1;
  /** My highest-view prepared certificate at this height. */
  prepared: PreparedCert | undefined;
  /** PREPARE votes by view, then sender: one per sender and view. */
  readonly prepares = new Map<number, Map<NodeName, { hash: Hash; signature: SignatureHex }>>();
  /** Each sender's COMMIT in the highest view seen from it. */
  readonly commits = new Map<NodeName, { view: number; hash: Hash; vote: SignatureHex }>();
  /** Votes I cast (or restored from my records): never a second, different one per view. */
  readonly myPrepares = new Map<number, Hash>();
  readonly myCommits = new Map<number, Hash>();
  /** PRE-PREPAREs for views we have not entered yet (they may overtake the NEW-VIEW): one per view. */
  readonly pendingPrePrepares = new Map<number, PrePrepare>();
  /** Quorum of COMMITs reached and block known: waiting for the heights below. */
  final: { block: Block; certificate: CommitCertificate } | undefined;

  constructor(readonly height: number) {}

  addBlock(hash: Hash, block: Block): boolean {
    if (this.blocks.has(hash)) return true;
    if (this.blocks.size >= BLOCKS_PER_HEIGHT_MAX) {
      // Make room by evicting a block nothing refers to (not proposed, prepared or final).
      for (const key of this.blocks.keys()) {
        if (key !== this.proposal?.hash && key !== this.prepared?.hash) {
          this.blocks.delete(key);
          break;
        }
      }
      if (this.blocks.size >= BLOCKS_PER_HEIGHT_MAX) return false;
    }
    this.blocks.set(hash, block);
    return true;
  }

  addPrepare(view: number, from: NodeName, hash: Hash, signature: SignatureHex): AddVote {
    let byView = this.prepares.get(view);
    if (byView === undefined) {
      byView = new Map();
      this.prepares.set(view, byView);
    }
    const prior = byView.get(from);
    if (prior !== undefined) return prior.hash === hash ? 'duplicate' : 'equivocation';
    byView.set(from, { hash, signature });
    return 'added';
  }

  /** Drops PREPAREs of views below `view`: they can no longer prepare anything we would act on. */
  prunePrepares(view: number): void {
    for (const v of this.prepares.keys()) if (v < view) this.prepares.delete(v);
    for (const v of this.pendingPrePrepares.keys()) if (v < view) this.pendingPrePrepares.delete(v);
  }

  addCommit(view: number, from: NodeName, hash: Hash, vote: SignatureHex): AddVote {
    const prior = this.commits.get(from);
    if (prior !== undefined && prior.view > view) return 'duplicate';
    if (prior?.view === view) return prior.hash === hash ? 'duplicate' : 'equivocation';
    this.commits.set(from, { view, hash, vote });
    return 'added';
  }

  /** PREPARE votes for (view, hash), in orderer order. */
  prepareVotes(view: number, hash: Hash, orderers: readonly NodeName[]): PrepareVote[] {
    const byView = this.prepares.get(view);
    if (byView === undefined) return [];
    const votes: PrepareVote[] = [];
    for (const from of orderers) {
      const vote = byView.get(from);
      if (vote?.hash === hash) votes.push({ from, signature: vote.signature });
    }
    return votes;
  }

  /** A (view, hash) with a quorum of COMMITs, if any; signers in orderer order. */
  commitQuorum(
    quorum: number,
    orderers: readonly NodeName[],
  ): { view: number; hash: Hash; signatures: { signer: NodeName; signature: SignatureHex }[] } | undefined {
    const tally = new Map<string, { signer: NodeName; signature: SignatureHex }[]>();
    for (const from of orderers) {
      const commit = this.commits.get(from);
      if (commit === undefined) continue;
      const key = `${commit.view}:${commit.hash}`;
      const list = tally.get(key) ?? [];
      list.push({ signer: from, signature: commit.vote });
      tally.set(key, list);
      if (list.length >= quorum) return { view: commit.view, hash: commit.hash, signatures: list };
    }
    return undefined;
  }
}
