import { randomBytes } from 'node:crypto';
import type { SigningKey } from '../crypto/index.js';
import {
  canonicalBytes,
  proposalTxId,
  PROTOCOL_VERSION,
  SigningDomain,
  type ContractEvent,
  type Envelope,
  type Hash,
  type Identity,
  type InvokePayload,
  type Proposal,
  type ProposalResponse,
  type RwSet,
  type TxId,
} from '../protocol/index.js';

export interface Signer {
  readonly identity: Identity;
  readonly key: SigningKey;
}

export interface InvokeSpec {
  readonly contract: string;
  readonly fn: string;
  readonly args: readonly string[];
  /** The outcome of simulation; a function of the txId, since keys often contain it. */
  readonly outcome: (txId: TxId) => { rwset: RwSet; result?: string; events?: readonly ContractEvent[] };
  readonly timestampMs?: number;
}

/**
 * A signed invoke transaction with a given outcome, as a client assembles it after collecting
 * endorsements: the proposal, the response every endorser signed, and the client's signature
 * over it all. For benchmarks, demos and tests that exercise ordering and validation without
 * running contracts.
 */
export function invokeEnvelope(client: Signer, endorsers: readonly Signer[], spec: InvokeSpec): Envelope {
  const proposal: Proposal = {
    version: PROTOCOL_VERSION,
    contract: spec.contract,
    fn: spec.fn,
    args: [...spec.args],
    nonce: randomBytes(24).toString('hex'),
    creator: client.identity,
    timestampMs: spec.timestampMs ?? Date.now(),
  };
  const txId = proposalTxId(proposal);
  const outcome = spec.outcome(txId);
  const response: ProposalResponse = {
    version: PROTOCOL_VERSION,
    proposalHash: txId as string as Hash,
    rwset: outcome.rwset,
    result: outcome.result ?? '',
    events: [...(outcome.events ?? [])],
  };
  const responseBytes = canonicalBytes(response);
  const endorsements = endorsers.map((e) => ({
    endorser: e.identity,
    signature: e.key.sign(SigningDomain.response, responseBytes),
  }));
  const payload: InvokePayload = {
    version: PROTOCOL_VERSION,
    type: 'invoke',
    txId,
    proposal,
    response,
    endorsements,
  };
  return { payload, signature: client.key.sign(SigningDomain.envelope, canonicalBytes(payload)) };
}
