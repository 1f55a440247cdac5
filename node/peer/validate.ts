import { CertificateKeyCache } from '../crypto/index.js';
import { configTxProblems } from '../config/index.js';
import {
  canonicalBytes,
  payloadBytes,
  policySatisfied,
  SigningDomain,
  ValidationCode,
  type Block,
  type Envelope,
  type InvokePayload,
  type NetworkConfig,
  type PolicyExpr,
  type StateVersion,
} from '../protocol/index.js';
import type { MembershipVerifier } from '../config/index.js';
import { LIFECYCLE_CONTRACT } from './lifecycle.js';

/** What validation needs to know about the committed world, prefetched so the check itself is pure and synchronous. */
export interface ValidationContext {
  /** The configuration in force for this block. */
  readonly config: NetworkConfig;
  readonly members: MembershipVerifier;
  readonly keys: CertificateKeyCache;
  /** Version of a key in the committed state before this block, null if absent. */
  committedVersion(ns: string, key: string): StateVersion | null;
  /** Whether a transaction id is already in the chain (in any block, with any code). */
  isTxIdKnown(txId: string): boolean;
  /**
   * The endorsement policy of a deployed contract: a policy, `null` for the network default,
   * `undefined` when no such contract is deployed.
   */
  contractPolicy(contract: string): PolicyExpr | null | undefined;
}

export interface BlockValidation {
  readonly codes: ValidationCode[];
  /** The configuration after this block: a valid config transaction replaces it for the next block. */
  readonly config: NetworkConfig;
  /** Why a config transaction of this block was refused (BAD_CONFIG_UPDATE), by transaction index. */
  readonly configProblems: ReadonlyMap<number, readonly string[]>;
}

/**
 * Decides, transaction by transaction and in block order, which transactions of a final block
 * are valid (execute-order-validate, after Fabric): well-formed, not a replay, signed by a
 * permitted member, endorsed under the contract's policy, and with every read still current,
 * counting writes of valid transactions earlier in the same block. Invalid transactions stay in
 * the block with their code and change nothing.
 */
export function validateBlock(block: Block, ctx: ValidationContext): BlockValidation {
  const at = new Date(block.header.timestampMs);
  const seen = new Set<string>();
  const writtenInBlock = new Map<string, StateVersion>();
  let config = ctx.config;
  const configProblems = new Map<number, readonly string[]>();
  const codes = block.transactions.map((envelope, txIndex): ValidationCode => {
    const txId = envelope.payload.txId;
    if (ctx.isTxIdKnown(txId) || seen.has(txId)) return ValidationCode.DUPLICATE_TXID;
    seen.add(txId);
    if (envelope.payload.type === 'config') {
      // Approved under the admin policy in force now, by admins of the current organisations, and
      // the very checks the orderers made when they ordered it.
      const problems = configTxProblems(envelope, config, at);
      if (problems.length > 0) {
        configProblems.set(txIndex, problems);
        return ValidationCode.BAD_CONFIG_UPDATE;
      }
      config = envelope.payload.config;
      return ValidationCode.VALID;
    }
    const code = validateInvoke(envelope, envelope.payload, ctx, config, at, writtenInBlock);
    if (code === ValidationCode.VALID) {
      for (const w of envelope.payload.response.rwset.writes) {
        writtenInBlock.set(stateKey(w.ns, w.key), { height: block.header.height, txIndex });
      }
    }
    return code;
  });
  return { codes, config, configProblems };
}

function validateInvoke(
  envelope: Envelope,
  payload: InvokePayload,
  ctx: ValidationContext,
  config: NetworkConfig,
  at: Date,
  writtenInBlock: ReadonlyMap<string, StateVersion>,
): ValidationCode {
  const { proposal, response } = payload;
  if ((response.proposalHash as string) !== payload.txId) return ValidationCode.BAD_PAYLOAD;
  const namespaces = [...response.rwset.reads, ...response.rwset.writes].map((e) => e.ns);
  // A contract reads and writes only its own namespace.
  if (namespaces.some((ns) => ns !== proposal.contract)) return ValidationCode.BAD_PAYLOAD;

  const creator = ctx.members.check(proposal.creator, ['client', 'admin'], at);
  if (!creator.ok) return ValidationCode.BAD_CREATOR_SIGNATURE;
  if (
    !ctx.keys
      .get(proposal.creator.cert)
      .verify(SigningDomain.envelope, payloadBytes(payload), envelope.signature)
  ) {
    return ValidationCode.BAD_CREATOR_SIGNATURE;
  }
  const creatorOrgs = new Set([proposal.creator.org]);
  if (!policySatisfied(config.policies.submit, creatorOrgs)) return ValidationCode.UNAUTHORIZED_CREATOR;
  if (proposal.contract === LIFECYCLE_CONTRACT && !policySatisfied(config.policies.deploy, creatorOrgs)) {
    return ValidationCode.UNAUTHORIZED_CREATOR;
  }

  // The built-in lifecycle contract is always there, under the default endorsement policy.
  const contractPolicy =
    proposal.contract === LIFECYCLE_CONTRACT ? null : ctx.contractPolicy(proposal.contract);
  if (contractPolicy === undefined) return ValidationCode.CONTRACT_NOT_FOUND;
  const responseBytes = canonicalBytes(response);
  const endorsingOrgs = new Set<string>();
  for (const e of payload.endorsements) {
    const endorser = ctx.members.check(e.endorser, ['peer'], at);
    if (
      !endorser.ok ||
      !ctx.keys.get(e.endorser.cert).verify(SigningDomain.response, responseBytes, e.signature)
    ) {
      return ValidationCode.BAD_ENDORSEMENT_SIGNATURE;
    }
    endorsingOrgs.add(e.endorser.org);
  }
  if (!policySatisfied(contractPolicy ?? config.policies.endorsement, endorsingOrgs)) {
    return ValidationCode.ENDORSEMENT_POLICY_FAILURE;
  }

  for (const read of response.rwset.reads) {
    const key = stateKey(read.ns, read.key);
    const current = writtenInBlock.get(key) ?? ctx.committedVersion(read.ns, read.key);
    if (!sameVersion(current, read.version)) return ValidationCode.MVCC_READ_CONFLICT;
  }
  return ValidationCode.VALID;
}

function sameVersion(a: StateVersion | null, b: StateVersion | null): boolean {
  if (a === null || b === null) return a === b;
  return a.height === b.height && a.txIndex === b.txIndex;
}

export function stateKey(ns: string, key: string): string {
  return `${ns}\u0000${key}`;
}
