import {
  commitVoteBytes,
  SigningDomain,
  type Block,
  type CommitCertificate,
  type Hash,
  type NodeName,
} from '../protocol/index.js';
import {
  hashOf,
  prepareVoteBytes,
  verifyMessage,
  type PreparedProof,
  type ViewChange,
  type ViewChangeBody,
} from './messages.js';
import type { ConsensusCrypto } from './types.js';

export interface VerifyContext {
  readonly orderers: readonly NodeName[];
  readonly quorum: number;
  readonly crypto: ConsensusCrypto;
  /** The block that started this epoch: its certificate is the previous membership's. */
  readonly epochStart?: { readonly height: number; readonly hash: Hash | undefined };
}

/** checkCommitCertificate with the injected crypto: a quorum of distinct members' commit votes. */
export function checkCertificate(cert: CommitCertificate, ctx: VerifyContext): string | null {
  const bytes = commitVoteBytes({ height: cert.height, blockHash: cert.blockHash, view: cert.view });
  const signers = new Set<NodeName>();
  for (const { signer, signature } of cert.signatures) {
    if (!ctx.orderers.includes(signer)) return `signer ${signer} is not an orderer`;
    if (signers.has(signer)) return `signer ${signer} appears twice`;
    if (!ctx.crypto.verify(signer, SigningDomain.commitVote, bytes, signature))
      return `signature of ${signer} does not verify`;
    signers.add(signer);
  }
  if (signers.size < ctx.quorum) return `${signers.size} signatures, a quorum is ${ctx.quorum}`;
  return null;
}

export function checkPreparedProof(proof: PreparedProof, ctx: VerifyContext): string | null {
  const hash = hashOf(proof.header);
  const signers = new Set<NodeName>();
  for (const { from, signature } of proof.votes) {
    if (!ctx.orderers.includes(from)) return `prepare voter ${from} is not an orderer`;
    if (signers.has(from)) return `prepare voter ${from} appears twice`;
    const bytes = prepareVoteBytes({ view: proof.view, height: proof.header.height, from, blockHash: hash });
    if (!ctx.crypto.verify(from, SigningDomain.consensus, bytes, signature))
      return `prepare of ${from} does not verify`;
    signers.add(from);
  }
  if (signers.size < ctx.quorum) return `${signers.size} prepares, a quorum is ${ctx.quorum}`;
  return null;
}

/** Everything a VIEW-CHANGE claims, checked: signature, head certificate, prepared proofs. */
export function checkViewChangeBody(vc: ViewChangeBody, ctx: VerifyContext): string | null {
  if (!ctx.orderers.includes(vc.from)) return `sender ${vc.from} is not an orderer`;
  if (!verifyMessage(vc, ctx.crypto)) return `signature of ${vc.from} does not verify`;
  if (vc.head === null) {
    if (vc.height !== 0) return 'no head certificate above genesis';
  } else {
    if (vc.head.height !== vc.height)
      return `head certificate is for ${vc.head.height}, message for ${vc.height}`;
    const start = ctx.epochStart;
    if (start !== undefined && vc.height < start.height)
      return `head ${vc.height} below the epoch start ${start.height}`;
    if (start !== undefined && vc.height === start.height && start.height > 0) {
      // Signed by the previous membership: it must be the config block we started from.
      if (start.hash === undefined || vc.head.blockHash !== start.hash)
        return `head ${vc.height} is not the epoch's config block`;
    } else {
      const problem = checkCertificate(vc.head, ctx);
      if (problem !== null) return `head certificate: ${problem}`;
    }
  }
  let last = vc.height;
  for (const proof of vc.prepared) {
    if (proof.header.height <= last)
      return `prepared proofs not ascending above the head at ${proof.header.height}`;
    if (proof.view >= vc.view) return `prepared proof of view ${proof.view} in a change to view ${vc.view}`;
    last = proof.header.height;
    const problem = checkPreparedProof(proof, ctx);
    if (problem !== null) return `prepared proof at ${proof.header.height}: ${problem}`;
  }
  return null;
}

/** The block bodies travelling with a VIEW-CHANGE match its proofs one to one. */
export function checkViewChangeBlocks(vc: ViewChange): string | null {
  if (vc.blocks.length !== vc.prepared.length)
    return `${vc.blocks.length} blocks for ${vc.prepared.length} proofs`;
  for (const [i, proof] of vc.prepared.entries()) {
    const block = vc.blocks[i];
    if (block === undefined || hashOf(block.header) !== hashOf(proof.header))
      return `block ${i} does not match its proof`;
  }
  return null;
}

export interface Selection {
  /** Re-proposals start above this height. */
  readonly baseHeight: number;
  /** The hash at baseHeight, null when unknown to the messages (genesis: everyone holds it). */
  readonly baseHash: Hash | null;
  /** The highest committed head any of the VIEW-CHANGEs proves. */
  readonly finalHeight: number;
  /** Re-proposals at baseHeight+1, +2, ...: chained, each prepared by a quorum. */
  readonly chain: readonly { readonly height: number; readonly hash: Hash; readonly view: number }[];
}

/**
 * The new leader's choice, recomputed by every replica from the same VIEW-CHANGEs.
 *
 * 1. Final part: the highest proven head H (a commit certificate) is final. If prepared proofs
 *    reach back from H's hash, by prevHash, to the lowest head L among the VIEW-CHANGEs, those
 *    blocks (H's ancestors, so final too) are re-proposed, so replicas at L need not find a peer
 *    to fetch from; otherwise re-proposals start above H.
 * 2. Above H: at each height the prepared proof of the highest view (a committed block's proof
 *    is always among them and always the highest, see docs/CONSENSUS.md); stop at the first
 *    height with no proof or whose choice does not extend the previous one (neither can be the
 *    ancestor of a committed block).
 */
export function selectReproposals(vcs: readonly ViewChangeBody[]): Selection {
  let finalHeight = 0;
  let finalHash: Hash | null = null;
  let lowHeight = Number.MAX_SAFE_INTEGER;
  let lowHash: Hash | null = null;
  for (const vc of vcs) {
    if (vc.head !== null && vc.head.height > finalHeight) {
      finalHeight = vc.head.height;
      finalHash = vc.head.blockHash;
    }
    if (vc.height < lowHeight) {
      lowHeight = vc.height;
      lowHash = vc.head?.blockHash ?? null;
    }
  }
  const best = new Map<number, { view: number; hash: Hash; prevHash: Hash }>();
  const byHash = new Map<Hash, { height: number; view: number; prevHash: Hash }>();
  for (const vc of vcs) {
    for (const proof of vc.prepared) {
      const height = proof.header.height;
      const hash = hashOf(proof.header);
      const prior = byHash.get(hash);
      if (prior === undefined || proof.view > prior.view)
        byHash.set(hash, { height, view: proof.view, prevHash: proof.header.prevHash });
      if (height <= finalHeight) continue;
      const current = best.get(height);
      // Same view and a different hash needs more than f faulty signers; the tie-break keeps the choice deterministic anyway.
      if (
        current === undefined ||
        proof.view > current.view ||
        (proof.view === current.view && hash < current.hash)
      ) {
        best.set(height, { view: proof.view, hash, prevHash: proof.header.prevHash });
      }
    }
  }
  // 1. Walk down from the final head to the lowest head along prevHash.
  const backfill: { height: number; hash: Hash; view: number }[] = [];
  let expected = finalHash;
  for (let height = finalHeight; height > lowHeight && expected !== null; height--) {
    const proof = byHash.get(expected);
    if (proof?.height !== height) break;
    backfill.unshift({ height, hash: expected, view: proof.view });
    expected = proof.prevHash;
  }
  const complete = backfill.length === finalHeight - lowHeight && (lowHash === null || expected === lowHash);
  const chain = complete ? backfill : [];
  // 2. Above the final head.
  let prevHash = finalHash;
  for (let height = finalHeight + 1; ; height++) {
    const choice = best.get(height);
    if (choice === undefined) break;
    // At genesis the base hash is not in the messages; every proof at height 1 was checked against it by a quorum.
    if (prevHash !== null && choice.prevHash !== prevHash) break;
    chain.push({ height, hash: choice.hash, view: choice.view });
    prevHash = choice.hash;
  }
  return complete && lowHeight < finalHeight
    ? { baseHeight: lowHeight, baseHash: lowHash, finalHeight, chain }
    : { baseHeight: finalHeight, baseHash: finalHash, finalHeight, chain };
}

/** Block bodies for a selection, from VIEW-CHANGEs that carry them; undefined if one is missing. */
export function selectedBlocks(selection: Selection, vcs: readonly ViewChange[]): Block[] | undefined {
  const bodies = new Map<Hash, Block>();
  for (const vc of vcs) for (const block of vc.blocks) bodies.set(hashOf(block.header), block);
  const blocks: Block[] = [];
  for (const { hash } of selection.chain) {
    const block = bodies.get(hash);
    if (block === undefined) return undefined;
    blocks.push(block);
  }
  return blocks;
}
