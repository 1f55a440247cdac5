import { assembleCommitCertificate, signCommitVote } from '../consensus/index.js';
import type { SigningKey } from '../crypto/index.js';
import {
  buildBlock,
  quorumSize,
  type Block,
  type CommitCertificate,
  type Envelope,
  type Hash,
  type NodeName,
} from '../protocol/index.js';

export interface LocalOrderer {
  readonly name: NodeName;
  readonly key: SigningKey;
}

/**
 * Builds the next block and has a quorum of orderers whose keys this process holds sign it:
 * what the ordering service produces, minus the network. For benchmarks, the single-orderer
 * development chain and tests; a real network reaches the same certificate by consensus.
 */
export function certifyLocally(
  orderers: readonly LocalOrderer[],
  prev: { height: number; hash: Hash },
  transactions: readonly Envelope[],
  timestampMs: number,
  view = 0,
): { block: Block; commitCertificate: CommitCertificate } {
  const signers = orderers.slice(0, quorumSize(orderers.length));
  const proposer = signers[0];
  if (proposer === undefined) throw new RangeError('certifyLocally needs at least one orderer');
  const block = buildBlock({
    height: prev.height + 1,
    prevHash: prev.hash,
    transactions,
    timestampMs,
    proposer: proposer.name,
  });
  const votes = signers.map((o) => signCommitVote(o.key, o.name, block.header, view));
  return { block, commitCertificate: assembleCommitCertificate(block.header, view, votes) };
}
