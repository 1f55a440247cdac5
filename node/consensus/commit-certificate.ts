import type { CertificateKeyCache } from '../crypto/index.js';
import type { SigningKey } from '../crypto/index.js';
import {
  blockHash,
  commitVoteBytes,
  PROTOCOL_VERSION,
  quorumSize,
  votingOrderers,
  SigningDomain,
  type BlockHeader,
  type CommitCertificate,
  type CommitSignature,
  type OrdererEntry,
} from '../protocol/index.js';

/** Why a commit certificate does not prove finality; `null` from the checker means it does. */
export type CertificateProblem = string;

/** An orderer's signed vote that `header` is final in `view`. */
export function signCommitVote(
  key: SigningKey,
  signer: OrdererEntry['name'],
  header: BlockHeader,
  view: number,
): CommitSignature {
  const bytes = commitVoteBytes({ height: header.height, blockHash: blockHash(header), view });
  return { signer, signature: key.sign(SigningDomain.commitVote, bytes) };
}

export function assembleCommitCertificate(
  header: BlockHeader,
  view: number,
  signatures: readonly CommitSignature[],
): CommitCertificate {
  return {
    version: PROTOCOL_VERSION,
    height: header.height,
    blockHash: blockHash(header),
    view,
    signatures: [...signatures],
  };
}

/**
 * Checks that `cert` holds a quorum of valid signatures from distinct orderers of the
 * configuration in force, over exactly this header. Anyone holding the configuration can run
 * it; it trusts nobody who served the block.
 */
export function checkCommitCertificate(
  cert: CommitCertificate,
  header: BlockHeader,
  configOrderers: readonly OrdererEntry[],
  keys: CertificateKeyCache,
): CertificateProblem | null {
  // Learners do not vote: their signatures count for nothing, and they are not in the quorum.
  const orderers = votingOrderers(configOrderers);
  const hash = blockHash(header);
  if (cert.height !== header.height)
    return `certificate is for height ${cert.height}, block is ${header.height}`;
  if (cert.blockHash !== hash)
    return `certificate is for block hash ${cert.blockHash}, block hashes to ${hash}`;
  const members = new Map(orderers.map((o) => [o.name as string, o]));
  const bytes = commitVoteBytes({ height: cert.height, blockHash: cert.blockHash, view: cert.view });
  const signers = new Set<string>();
  for (const { signer, signature } of cert.signatures) {
    const member = members.get(signer);
    if (member === undefined) return `signer ${signer} is not a voting orderer of the configuration`;
    if (signers.has(signer)) return `signer ${signer} appears twice`;
    if (!keys.get(member.cert).verify(SigningDomain.commitVote, bytes, signature)) {
      return `signature of ${signer} does not verify`;
    }
    signers.add(signer);
  }
  const needed = quorumSize(orderers.length);
  if (signers.size < needed)
    return `${signers.size} valid signatures, a quorum of ${orderers.length} orderers needs ${needed}`;
  return null;
}
