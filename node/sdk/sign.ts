import { randomBytes } from 'node:crypto';
import type { SigningKey } from '../crypto/index.js';
import {
  canonicalBytes,
  PROTOCOL_VERSION,
  SigningDomain,
  type Envelope,
  type Identity,
  type InvokePayload,
  type Proposal,
  type SignedProposal,
} from '../protocol/index.js';

/** A client identity: its certificate (issued by its organisation's CA) and private key. */
export interface ClientIdentity {
  readonly identity: Identity;
  readonly key: SigningKey;
}

export interface CallSpec {
  readonly contract: string;
  readonly fn: string;
  readonly args?: readonly string[];
}

/** A proposal to run `fn` of `contract`, signed by the client: the first step of submit and evaluate. */
export function signProposal(
  client: ClientIdentity,
  call: CallSpec,
  now: number = Date.now(),
): SignedProposal {
  const proposal: Proposal = {
    version: PROTOCOL_VERSION,
    contract: call.contract,
    fn: call.fn,
    args: [...(call.args ?? [])],
    nonce: randomBytes(24).toString('hex'),
    creator: client.identity,
    timestampMs: now,
  };
  return { proposal, signature: client.key.sign(SigningDomain.proposal, canonicalBytes(proposal)) };
}

/**
 * The client's signature over the endorsed transaction the gateway prepared: only the creator
 * can turn endorsements into something the orderers accept. Refuses a payload that is not for
 * the proposal this client made.
 */
export function signTransaction(
  client: ClientIdentity,
  proposal: SignedProposal,
  payload: InvokePayload,
): Envelope {
  if (!canonicalBytes(payload.proposal).equals(canonicalBytes(proposal.proposal))) {
    throw new Error('the gateway returned a transaction for another proposal');
  }
  return { payload, signature: client.key.sign(SigningDomain.envelope, canonicalBytes(payload)) };
}
