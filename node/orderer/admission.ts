import { configTxProblems, type MembershipVerifier } from '../config/index.js';
import type { CertificateKeyCache } from '../crypto/index.js';
import {
  blockHash,
  payloadBytes,
  checkBlockIntegrity,
  expectedTxId,
  policySatisfied,
  SigningDomain,
  type Block,
  type BlockHeader,
  type Envelope,
  type NetworkConfig,
} from '../protocol/index.js';

/** How far ahead of this orderer's clock a proposed block's timestamp may be. */
export const BLOCK_CLOCK_SKEW_MS = 30_000;
/** The deploy function of the built-in lifecycle contract is restricted by the deploy policy. */
const LIFECYCLE_CONTRACT = 'lifecycle';

/**
 * What orderers check before ordering a transaction (as Fabric's orderers do: signatures and
 * permissions, not endorsements or read sets, which peers validate): the payload's id, the
 * creator's membership and signature, and the submit (and, for deployments, deploy) policy.
 * Config transactions must carry admin approvals that satisfy the admin policy in force.
 */
export function envelopeProblem(
  envelope: Envelope,
  config: NetworkConfig,
  members: MembershipVerifier,
  keys: CertificateKeyCache,
  at: Date,
): string | null {
  const payload = envelope.payload;
  if (payload.txId !== expectedTxId(payload)) return `txId ${payload.txId} does not match the payload`;
  const creator = payload.type === 'invoke' ? payload.proposal.creator : payload.creator;
  const verdict = members.check(creator, ['client', 'admin'], at);
  if (!verdict.ok) return `creator refused: ${verdict.problem}`;
  if (!keys.get(creator.cert).verify(SigningDomain.envelope, payloadBytes(payload), envelope.signature)) {
    return `the creator signature of ${verdict.identity.name}@${creator.org} does not verify`;
  }
  const orgs = new Set([creator.org]);
  if (payload.type === 'config') {
    const problems = configTxProblems(envelope, config, at);
    return problems.length === 0 ? null : `config update refused: ${problems.join('; ')}`;
  }
  if (!policySatisfied(config.policies.submit, orgs)) return `org ${creator.org} may not submit transactions`;
  if (payload.proposal.contract === LIFECYCLE_CONTRACT && !policySatisfied(config.policies.deploy, orgs)) {
    return `org ${creator.org} may not deploy contracts`;
  }
  return null;
}

/** Why a proposed block may not follow `prev`: integrity, link, time, and every transaction admissible. */
export function blockProblem(
  block: Block,
  prev: BlockHeader,
  admit: (envelope: Envelope) => string | null,
  nowMs: number,
): string | null {
  const { header } = block;
  if (header.height !== prev.height + 1) return `height ${header.height} does not follow ${prev.height}`;
  if (header.prevHash !== blockHash(prev)) return `prevHash does not link to block ${prev.height}`;
  if (header.timestampMs < prev.timestampMs) return 'timestamp goes backwards';
  if (header.timestampMs > nowMs + BLOCK_CLOCK_SKEW_MS) return 'timestamp is in the future';
  try {
    checkBlockIntegrity(block);
  } catch (e) {
    return (e as Error).message;
  }
  const seen = new Set<string>();
  for (const [i, envelope] of block.transactions.entries()) {
    if (seen.has(envelope.payload.txId)) return `transaction ${i} repeats txId ${envelope.payload.txId}`;
    seen.add(envelope.payload.txId);
    const problem = admit(envelope);
    if (problem !== null) return `transaction ${i}: ${problem}`;
  }
  return null;
}
