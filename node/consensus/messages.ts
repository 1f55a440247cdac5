import { z } from 'zod';
import {
  blockHash,
  blockHeaderSchema,
  blockSchema,
  canonicalBytes,
  wireBytes,
  commitCertificateSchema,
  decodeJson,
  envelopeSchema,
  hashSchema,
  heightSchema,
  nodeNameSchema,
  ORDERERS_MAX,
  parseWith,
  PROTOCOL_VERSION,
  signatureSchema,
  SigningDomain,
  versionSchema,
  type BlockHeader,
  type Hash,
  type NodeName,
  type SignatureHex,
} from '../protocol/index.js';
import { CONSENSUS_MESSAGE_BYTES_MAX, FORWARD_ENVELOPES_MAX, PREPARED_PROOFS_MAX } from './limits.js';
import type { ConsensusCrypto } from './types.js';

/*
 * The consensus wire format. Every message names its type, view, height and sender, and is
 * signed by the sender with SigningDomain.consensus over its canonical bytes without the
 * `signature` field, so a message (and hence a prepared proof built from PREPAREs) can be shown
 * to any third party. The transport authenticates the link; the core still checks that `from`
 * is that authenticated peer and that the signature verifies.
 */

const viewSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const common = {
  version: versionSchema,
  view: viewSchema,
  height: heightSchema,
  from: nodeNameSchema,
  signature: signatureSchema,
};

/** The leader of `view` proposes `block` at `height` (= block.header.height). */
export const prePrepareSchema = z
  .object({ type: z.literal('pre-prepare'), ...common, block: blockSchema })
  .strict();
/** "Accept": I verified the leader's block at (view, height). */
export const prepareSchema = z
  .object({ type: z.literal('prepare'), ...common, blockHash: hashSchema })
  .strict();
/**
 * "Full verification": I saw a quorum of PREPAREs. `vote` is the commit-vote signature over
 * commitVoteBytes({ height, blockHash, view }): a quorum of them is the block's commit certificate.
 */
export const commitSchema = z
  .object({ type: z.literal('commit'), ...common, blockHash: hashSchema, vote: signatureSchema })
  .strict();
/** I committed the block `blockHash` at checkpoint height `height`. */
export const checkpointSchema = z
  .object({ type: z.literal('checkpoint'), ...common, blockHash: hashSchema })
  .strict();

export const prepareVoteSchema = z.object({ from: nodeNameSchema, signature: signatureSchema }).strict();
/**
 * A quorum of PREPARE signatures for the block with this header in `view`: it was prepared.
 * The header (not just its hash) lets a new leader check that re-proposals chain.
 */
export const preparedProofSchema = z
  .object({
    view: viewSchema,
    header: blockHeaderSchema,
    votes: z.array(prepareVoteSchema).min(1).max(ORDERERS_MAX),
  })
  .strict();

const viewChangeBodyShape = {
  type: z.literal('view-change'),
  ...common,
  /** The sender's committed head (height = head.height), null at genesis (height 0). */
  head: commitCertificateSchema.nullable(),
  /** The highest-view prepared proof the sender holds for each height above its head, ascending. */
  prepared: z.array(preparedProofSchema).max(PREPARED_PROOFS_MAX),
};
/** A VIEW-CHANGE as embedded in a NEW-VIEW: everything the signature covers, no block bodies. */
export const viewChangeBodySchema = z.object(viewChangeBodyShape).strict();
/** I move to `view`; the block bodies of `prepared` travel alongside, outside the signature. */
export const viewChangeSchema = z
  .object({ ...viewChangeBodyShape, blocks: z.array(blockSchema).max(PREPARED_PROOFS_MAX) })
  .strict();
/**
 * The new leader's proof that a quorum moved to `view`, and its re-proposals: the blocks the
 * selection rule picks from those VIEW-CHANGEs, at heights height+1, height+2, ...
 */
export const newViewSchema = z
  .object({
    type: z.literal('new-view'),
    ...common,
    viewChanges: z.array(viewChangeBodySchema).min(1).max(ORDERERS_MAX),
    blocks: z.array(blockSchema).max(PREPARED_PROOFS_MAX),
  })
  .strict();
/** Client requests relayed between orderers, so every orderer can watch the leader order them. */
export const forwardSchema = z
  .object({
    type: z.literal('forward'),
    ...common,
    envelopes: z.array(envelopeSchema).min(1).max(FORWARD_ENVELOPES_MAX),
  })
  .strict();

/**
 * "I suspect the leader": the sender's timer for its view expired, and it asks to move to `view`
 * (its view + 1). Not binding: the sender keeps voting in its view until f+1 orderers suspect,
 * so an orderer that was merely cut off never strands itself alone in a higher view.
 * `height` is the sender's committed head.
 */
export const suspectSchema = z.object({ type: z.literal('suspect'), ...common }).strict();

export const consensusMessageSchema = z.discriminatedUnion('type', [
  prePrepareSchema,
  prepareSchema,
  commitSchema,
  checkpointSchema,
  viewChangeSchema,
  newViewSchema,
  forwardSchema,
  suspectSchema,
]);

export type PrePrepare = z.infer<typeof prePrepareSchema>;
export type Prepare = z.infer<typeof prepareSchema>;
export type Commit = z.infer<typeof commitSchema>;
export type Checkpoint = z.infer<typeof checkpointSchema>;
export type PrepareVote = z.infer<typeof prepareVoteSchema>;
export type PreparedProof = z.infer<typeof preparedProofSchema>;
export type ViewChangeBody = z.infer<typeof viewChangeBodySchema>;
export type ViewChange = z.infer<typeof viewChangeSchema>;
export type NewView = z.infer<typeof newViewSchema>;
export type Forward = z.infer<typeof forwardSchema>;
export type Suspect = z.infer<typeof suspectSchema>;
export type ConsensusMessage = z.infer<typeof consensusMessageSchema>;
export type ConsensusMessageType = ConsensusMessage['type'];
/** A message before its sender signs it. */
export type Unsigned<M> = M extends unknown ? Omit<M, 'signature'> : never;

/** The bytes the transport sends (JSON; signatures cover canonical bytes recomputed on receipt). */
export function encodeConsensusMessage(message: ConsensusMessage): Buffer {
  return wireBytes(message);
}

/** Size-capped, schema-checked decode; throws ProtocolError naming the bad field. */
export function decodeConsensusMessage(bytes: Uint8Array): ConsensusMessage {
  const value = decodeJson(bytes, CONSENSUS_MESSAGE_BYTES_MAX, 'consensusMessage');
  return parseWith(consensusMessageSchema, value, 'consensusMessage');
}

// Messages are immutable once signed or decoded, and the simulator hands one object to many
// cores, so the bytes a signature covers are computed once per object.
const signingBytesMemo = new WeakMap<object, Buffer>();

/** What the sender's signature covers: the message without `signature` (and, for a VIEW-CHANGE, without its block bodies). */
export function signingBytes(
  message: ConsensusMessage | ViewChangeBody | Unsigned<ConsensusMessage>,
): Buffer {
  const hit = signingBytesMemo.get(message);
  if (hit !== undefined) return hit;
  const rest: Record<string, unknown> = { ...message };
  delete rest.signature;
  if (rest.type === 'view-change') delete rest.blocks;
  if (message.type === 'pre-prepare') {
    // The header's dataHash binds the body (every use of a proposed block checks its Merkle
    // root first), so signing the header's hash signs the block without encoding it again.
    delete rest.block;
    rest.blockHash = hashOf(message.block.header);
  }
  const bytes = canonicalBytes(rest);
  signingBytesMemo.set(message, bytes);
  return bytes;
}

/** The bytes of the PREPARE whose signature a prepared proof's vote is. */
export function prepareVoteBytes(vote: {
  view: number;
  height: number;
  from: NodeName;
  blockHash: Hash;
}): Buffer {
  const body: Unsigned<Prepare> = {
    type: 'prepare',
    version: PROTOCOL_VERSION,
    view: vote.view,
    height: vote.height,
    from: vote.from,
    blockHash: vote.blockHash,
  };
  return canonicalBytes(body);
}

export function signMessage<M extends ConsensusMessage>(body: Unsigned<M>, crypto: ConsensusCrypto): M {
  const bytes = signingBytes(body);
  const signature: SignatureHex = crypto.sign(SigningDomain.consensus, bytes);
  const signed = { ...body, signature } as unknown as M;
  signingBytesMemo.set(signed, bytes);
  return signed;
}

export function verifyMessage(message: ConsensusMessage | ViewChangeBody, crypto: ConsensusCrypto): boolean {
  return crypto.verify(message.from, SigningDomain.consensus, signingBytes(message), message.signature);
}

/** A VIEW-CHANGE without its block bodies, as a NEW-VIEW embeds it (same signature). */
export function viewChangeBody(message: ViewChange): ViewChangeBody {
  const body: Partial<ViewChange> = { ...message };
  delete body.blocks;
  return body as ViewChangeBody;
}

const headerHashMemo = new WeakMap<BlockHeader, Hash>();

/** blockHash(header), once per header object. */
export function hashOf(header: BlockHeader): Hash {
  const hit = headerHashMemo.get(header);
  if (hit !== undefined) return hit;
  const hash = blockHash(header);
  headerHashMemo.set(header, hash);
  return hash;
}
