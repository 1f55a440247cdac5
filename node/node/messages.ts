import { z } from 'zod';
import type { CertificateKeyCache, SigningKey } from '../crypto/index.js';
import {
  BLOCK_BYTES_MAX,
  blockSchema,
  canonicalBytes,
  wireBytes,
  commitCertificateSchema,
  decodeJson,
  endorsementSchema,
  envelopeSchema,
  hashSchema,
  heightSchema,
  nodeNameSchema,
  parseWith,
  proposalResponseSchema,
  PROTOCOL_VERSION,
  signatureSchema,
  signedProposalSchema,
  SigningDomain,
  timestampMsSchema,
  versionSchema,
  type Block,
  type CommitCertificate,
  type Endorsement,
  type Envelope,
  type NodeName,
  type ProposalResponse,
  type SignedProposal,
} from '../protocol/index.js';

/**
 * Node-channel messages: what a node says about itself (status, signed so it can be shown to a
 * third party), block delivery (blocks travel with their commit certificates, which prove
 * finality whoever relays them), and the gateway's endorsement and submission traffic (each
 * carries its own signatures). The link has already authenticated the sender.
 */

/** Blocks one delivery request may ask for: bounds what a server queues for one subscriber. */
export const DELIVER_BLOCKS_MAX = 64;
/** Error text relayed between nodes: enough to explain, too little to carry anything else. */
export const ERROR_MESSAGE_CHARS_MAX = 1024;
/** A block message: a maximal block plus its certificate and framing. */
export const NODE_MESSAGE_BYTES_MAX = BLOCK_BYTES_MAX + 64 * 1024;

export const statusSchema = z
  .object({
    version: versionSchema,
    type: z.literal('status'),
    from: nodeNameSchema,
    genesisHash: hashSchema,
    height: heightSchema,
    headHash: hashSchema,
    sentAtMs: timestampMsSchema,
  })
  .strict();

const signedStatusMessage = z
  .object({ type: z.literal('status'), status: statusSchema, signature: signatureSchema })
  .strict();
/** "Send me up to `count` final blocks from `fromHeight`, and the next ones as they become final." */
const deliverMessage = z
  .object({
    type: z.literal('deliver'),
    fromHeight: heightSchema,
    count: z.number().int().min(1).max(DELIVER_BLOCKS_MAX),
  })
  .strict();
const blockMessage = z
  .object({ type: z.literal('block'), block: blockSchema, certificate: commitCertificateSchema.nullable() })
  .strict();
const requestIdSchema = z.string().regex(/^[0-9a-f]{1,64}$/, 'must be up to 64 hex characters');
/** Gateway -> endorsing peer: simulate this signed proposal and sign the outcome. */
const endorseMessage = z
  .object({
    type: z.literal('endorse'),
    requestId: requestIdSchema,
    proposal: signedProposalSchema,
    /** The gateway's own height: endorse on state at least this new, so a client reads its own writes. */
    minHeight: heightSchema,
  })
  .strict();
const errorSchema = z
  .object({ code: z.string().max(64), message: z.string().max(ERROR_MESSAGE_CHARS_MAX) })
  .strict();
/** Endorsing peer -> gateway: the signed outcome, or why there is none. */
const endorsedMessage = z
  .object({
    type: z.literal('endorsed'),
    requestId: requestIdSchema,
    outcome: z.union([
      z.object({ response: proposalResponseSchema, endorsement: endorsementSchema }).strict(),
      z.object({ error: errorSchema }).strict(),
    ]),
  })
  .strict();
/** Gateway -> orderers: order this transaction. */
const submitMessage = z.object({ type: z.literal('submit'), envelope: envelopeSchema }).strict();

export const nodeMessageSchema = z.discriminatedUnion('type', [
  signedStatusMessage,
  deliverMessage,
  blockMessage,
  endorseMessage,
  endorsedMessage,
  submitMessage,
]);

export type StatusMessage = z.infer<typeof statusSchema>;
export type NodeMessage = z.infer<typeof nodeMessageSchema>;
export type EndorseOutcome = z.infer<typeof endorsedMessage>['outcome'];

export function decodeNodeMessage(bytes: Uint8Array): NodeMessage {
  return parseWith(
    nodeMessageSchema,
    decodeJson(bytes, NODE_MESSAGE_BYTES_MAX, 'nodeMessage'),
    'nodeMessage',
  );
}

export function encodeStatus(key: SigningKey, status: Omit<StatusMessage, 'version' | 'type'>): Buffer {
  const full: StatusMessage = { version: PROTOCOL_VERSION, type: 'status', ...status };
  return canonicalBytes({
    type: 'status',
    status: full,
    signature: key.sign(SigningDomain.nodeMessage, canonicalBytes(full)),
  });
}

export function encodeDeliver(fromHeight: number, count: number): Buffer {
  return wireBytes({ type: 'deliver', fromHeight, count });
}

export function encodeBlock(block: Block, certificate: CommitCertificate | null): Buffer {
  return wireBytes({ type: 'block', block, certificate });
}

export function encodeEndorse(requestId: string, proposal: SignedProposal, minHeight: number): Buffer {
  return wireBytes({ type: 'endorse', requestId, proposal, minHeight });
}

export function encodeEndorsed(
  requestId: string,
  outcome:
    { response: ProposalResponse; endorsement: Endorsement } | { error: { code: string; message: string } },
): Buffer {
  return wireBytes({ type: 'endorsed', requestId, outcome });
}

export function encodeSubmit(envelope: Envelope): Buffer {
  return wireBytes({ type: 'submit', envelope });
}

/** Checks a status really is from the member the link authenticated; returns the problem or null. */
export function statusProblem(
  message: Extract<NodeMessage, { type: 'status' }>,
  sender: NodeName,
  senderCert: string,
  keys: CertificateKeyCache,
): string | null {
  if (message.status.from !== sender) return `status claims to be from ${message.status.from}`;
  if (
    !keys.get(senderCert).verify(SigningDomain.nodeMessage, canonicalBytes(message.status), message.signature)
  ) {
    return 'status signature does not verify';
  }
  return null;
}
