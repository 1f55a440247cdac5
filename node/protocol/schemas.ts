import { z } from 'zod';
import * as L from './limits.js';
import type { Hash, NodeName, OrgName, SignatureHex, TxId } from './types.js';

// One schema per structure; `.strict()` everywhere so an unknown field is an error, not a
// silently ignored (and unsigned) extra.

const HEX_64 = /^[0-9a-f]{64}$/;
const HEX_128 = /^[0-9a-f]{128}$/;
const HEX_NONCE = /^[0-9a-f]{48}$/;
const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const PEM_CERT = /^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?$/;

export const versionSchema = z.literal(L.PROTOCOL_VERSION, {
  error: (issue) =>
    `unsupported protocol version ${JSON.stringify(issue.input)} (this node speaks ${L.PROTOCOL_VERSION})`,
});
export const hashSchema = z
  .string()
  .regex(HEX_64, 'must be a SHA-256 hash: 64 lowercase hex characters')
  .transform((s) => s as Hash);
export const txIdSchema = z
  .string()
  .regex(HEX_64, 'must be a transaction id: 64 lowercase hex characters')
  .transform((s) => s as TxId);
export const signatureSchema = z
  .string()
  .regex(HEX_128, 'must be an IEEE P1363 ECDSA P-256 signature: 128 lowercase hex characters')
  .transform((s) => s as SignatureHex);
export const heightSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
export const timestampMsSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
export const nameSchema = z
  .string()
  .min(1)
  .max(L.NAME_CHARS_MAX)
  .regex(NAME, 'must be lowercase letters, digits and inner hyphens');
export const nodeNameSchema = nameSchema.transform((s) => s as NodeName);
export const orgNameSchema = nameSchema.transform((s) => s as OrgName);
export const certPemSchema = z
  .string()
  .max(L.CERT_PEM_CHARS_MAX)
  .regex(PEM_CERT, 'must be one PEM-encoded X.509 certificate');

/** Who made a signature: the organisation and the X.509 certificate issued by its CA. */
export const identitySchema = z.object({ org: orgNameSchema, cert: certPemSchema }).strict();

/** The state version a read saw or a write creates: the block height and index of the writer. */
export const stateVersionSchema = z
  .object({
    height: heightSchema,
    txIndex: z
      .number()
      .int()
      .nonnegative()
      .max(L.BLOCK_TX_COUNT_MAX - 1),
  })
  .strict();

const stateKeySchema = z.string().min(1).max(L.STATE_KEY_CHARS_MAX);

export const readEntrySchema = z
  .object({ ns: nameSchema, key: stateKeySchema, version: stateVersionSchema.nullable() })
  .strict();
export const writeEntrySchema = z
  .object({
    ns: nameSchema,
    key: stateKeySchema,
    /** base64 bytes; null deletes the key. */
    value: z.string().max(L.STATE_VALUE_CHARS_MAX).regex(BASE64, 'must be base64').nullable(),
  })
  .strict();
export const rwSetSchema = z
  .object({
    reads: z.array(readEntrySchema).max(L.RWSET_READS_MAX),
    writes: z.array(writeEntrySchema).max(L.RWSET_WRITES_MAX),
  })
  .strict();

export const contractEventSchema = z
  .object({
    name: z.string().min(1).max(L.FUNCTION_NAME_CHARS_MAX),
    payload: z.string().max(L.EVENT_PAYLOAD_CHARS_MAX),
  })
  .strict();

/** A client's request to run a contract function; signed by the client (the creator). */
export const proposalSchema = z
  .object({
    version: versionSchema,
    contract: nameSchema,
    fn: z.string().min(1).max(L.FUNCTION_NAME_CHARS_MAX).regex(FUNCTION_NAME, 'must be an identifier'),
    args: z.array(z.string().max(L.ARG_CHARS_MAX)).max(L.ARGS_COUNT_MAX),
    /** 24 random bytes: with the creator, makes every proposal (and so its txId) unique. */
    nonce: z.string().regex(HEX_NONCE, 'must be 24 random bytes as 48 lowercase hex characters'),
    creator: identitySchema,
    timestampMs: timestampMsSchema,
  })
  .strict();

export const signedProposalSchema = z
  .object({ proposal: proposalSchema, signature: signatureSchema })
  .strict();

/** What an endorser computed by simulating a proposal; the endorser signs its canonical bytes. */
export const proposalResponseSchema = z
  .object({
    version: versionSchema,
    proposalHash: hashSchema,
    rwset: rwSetSchema,
    result: z.string().max(L.RESULT_CHARS_MAX),
    events: z.array(contractEventSchema).max(L.EVENTS_MAX),
  })
  .strict();

export const endorsementSchema = z.object({ endorser: identitySchema, signature: signatureSchema }).strict();

const orgRefSchema = z.object({ org: orgNameSchema }).strict();
export type PolicyExpr =
  | { readonly org: OrgName }
  | { readonly and: readonly PolicyExpr[] }
  | { readonly or: readonly PolicyExpr[] }
  | { readonly outOf: { readonly k: number; readonly of: readonly PolicyExpr[] } };

/** Endorsement/admin policy over organisations: AND, OR, k-out-of-n, nested. */
const policyTermSchema: z.ZodType<PolicyExpr> = z.lazy(() =>
  z.union([
    orgRefSchema,
    z.object({ and: z.array(policyTermSchema).min(1).max(L.POLICY_TERMS_MAX) }).strict(),
    z.object({ or: z.array(policyTermSchema).min(1).max(L.POLICY_TERMS_MAX) }).strict(),
    z
      .object({
        outOf: z
          .object({
            k: z.number().int().positive(),
            of: z.array(policySchema).min(1).max(L.POLICY_TERMS_MAX),
          })
          .strict()
          .refine((o) => o.k <= o.of.length, 'k must not exceed the number of terms'),
      })
      .strict(),
  ]),
);

function policyDepth(policy: PolicyExpr): number {
  if ('org' in policy) return 1;
  const terms = 'and' in policy ? policy.and : 'or' in policy ? policy.or : policy.outOf.of;
  return 1 + Math.max(...terms.map(policyDepth));
}

export const policySchema: z.ZodType<PolicyExpr> = policyTermSchema.refine(
  (p) => policyDepth(p) <= L.POLICY_DEPTH_MAX,
  `policy nests deeper than ${L.POLICY_DEPTH_MAX} levels`,
);

const portSchema = z.number().int().min(1).max(65_535);
const hostSchema = z.string().min(1).max(253);

export const organisationSchema = z
  .object({ name: orgNameSchema, caCerts: z.array(certPemSchema).min(1).max(4) })
  .strict();
export const nodeEntrySchema = z
  .object({
    name: nodeNameSchema,
    org: orgNameSchema,
    host: hostSchema,
    port: portSchema,
    apiPort: portSchema,
    cert: certPemSchema,
  })
  .strict();

/**
 * An orderer entry. A learner (etcd's term) is connected and receives blocks but does not vote
 * and is not counted in quorums: a new orderer catches up as one, then a second configuration
 * change promotes it, so a quorum never waits for a node that is still fetching the chain.
 */
export const ordererEntrySchema = nodeEntrySchema.extend({ learner: z.literal(true).optional() }).strict();

export const consensusParamsSchema = z
  .object({
    batchTxMax: z.number().int().min(1).max(L.BLOCK_TX_COUNT_MAX),
    batchBytesMax: z.number().int().min(1024).max(L.BLOCK_BYTES_MAX),
    batchTimeoutMs: z.number().int().min(1).max(60_000),
    viewTimeoutMs: z.number().int().min(50).max(600_000),
    checkpointInterval: z.number().int().min(1).max(100_000),
    window: z.number().int().min(1).max(1_000),
  })
  .strict();

/** The network configuration: the content of the genesis block and of config transactions. */
export const networkConfigSchema = z
  .object({
    version: versionSchema,
    networkId: nameSchema,
    /** Increases by one with every applied configuration change. */
    sequence: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    orgs: z.array(organisationSchema).min(1).max(L.ORGS_MAX),
    orderers: z.array(ordererEntrySchema).min(1).max(L.ORDERERS_MAX),
    peers: z.array(nodeEntrySchema).max(L.PEERS_MAX),
    policies: z
      .object({ submit: policySchema, deploy: policySchema, admin: policySchema, endorsement: policySchema })
      .strict(),
    consensus: consensusParamsSchema,
  })
  .strict();

export const invokePayloadSchema = z
  .object({
    version: versionSchema,
    type: z.literal('invoke'),
    txId: txIdSchema,
    proposal: proposalSchema,
    response: proposalResponseSchema,
    endorsements: z.array(endorsementSchema).min(1).max(L.ENDORSEMENTS_MAX),
  })
  .strict();

export const approvalSchema = z.object({ signer: identitySchema, signature: signatureSchema }).strict();

export const configPayloadSchema = z
  .object({
    version: versionSchema,
    type: z.literal('config'),
    txId: txIdSchema,
    creator: identitySchema,
    config: networkConfigSchema,
    /** Admin signatures over the canonical config, checked against the admin policy. */
    approvals: z.array(approvalSchema).min(1).max(L.SIGNATURES_MAX),
  })
  .strict();

export const payloadSchema = z.discriminatedUnion('type', [invokePayloadSchema, configPayloadSchema]);

/** What orderers order: a payload signed by its creator. */
export const envelopeSchema = z.object({ payload: payloadSchema, signature: signatureSchema }).strict();

export const blockHeaderSchema = z
  .object({
    version: versionSchema,
    height: heightSchema,
    prevHash: hashSchema,
    /** RFC 6962 Merkle root of the transaction hashes. */
    dataHash: hashSchema,
    txCount: z.number().int().nonnegative().max(L.BLOCK_TX_COUNT_MAX),
    timestampMs: timestampMsSchema,
    proposer: nodeNameSchema,
  })
  .strict();

export const blockSchema = z
  .object({ header: blockHeaderSchema, transactions: z.array(envelopeSchema).max(L.BLOCK_TX_COUNT_MAX) })
  .strict();

export const commitSignatureSchema = z
  .object({ signer: nodeNameSchema, signature: signatureSchema })
  .strict();

/** 2f+1 orderer signatures over (height, block hash, view): finality anyone can check. */
export const commitCertificateSchema = z
  .object({
    version: versionSchema,
    height: heightSchema,
    blockHash: hashSchema,
    view: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    signatures: z.array(commitSignatureSchema).min(1).max(L.SIGNATURES_MAX),
  })
  .strict();

export type Identity = z.infer<typeof identitySchema>;
export type StateVersion = z.infer<typeof stateVersionSchema>;
export type ReadEntry = z.infer<typeof readEntrySchema>;
export type WriteEntry = z.infer<typeof writeEntrySchema>;
export type RwSet = z.infer<typeof rwSetSchema>;
export type ContractEvent = z.infer<typeof contractEventSchema>;
export type Proposal = z.infer<typeof proposalSchema>;
export type SignedProposal = z.infer<typeof signedProposalSchema>;
export type ProposalResponse = z.infer<typeof proposalResponseSchema>;
export type Endorsement = z.infer<typeof endorsementSchema>;
export type Organisation = z.infer<typeof organisationSchema>;
export type NodeEntry = z.infer<typeof nodeEntrySchema>;
export type OrdererEntry = z.infer<typeof ordererEntrySchema>;
export type ConsensusParams = z.infer<typeof consensusParamsSchema>;
export type NetworkConfig = z.infer<typeof networkConfigSchema>;
export type InvokePayload = z.infer<typeof invokePayloadSchema>;
export type Approval = z.infer<typeof approvalSchema>;
export type ConfigPayload = z.infer<typeof configPayloadSchema>;
export type Payload = z.infer<typeof payloadSchema>;
export type Envelope = z.infer<typeof envelopeSchema>;
export type BlockHeader = z.infer<typeof blockHeaderSchema>;
export type Block = z.infer<typeof blockSchema>;
export type CommitSignature = z.infer<typeof commitSignatureSchema>;
export type CommitCertificate = z.infer<typeof commitCertificateSchema>;
