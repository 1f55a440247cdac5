import { z } from 'zod';
import type { CertificateKeyCache, SigningKey } from '../crypto/index.js';
import {
  canonicalBytes,
  decodeJson,
  hashSchema,
  heightSchema,
  nodeNameSchema,
  parseWith,
  PROTOCOL_VERSION,
  signatureSchema,
  SigningDomain,
  timestampMsSchema,
  versionSchema,
  type NodeName,
} from '../protocol/index.js';

/**
 * Node-to-node messages that are not consensus votes: what a node tells its peers about itself.
 * Every one is signed by its sender, so it can be shown to a third party, and its `from` must
 * match the identity the TLS link authenticated.
 */
export const STATUS_MESSAGE_BYTES_MAX = 4 * 1024;

export const statusMessageSchema = z
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

export const signedStatusSchema = z
  .object({ message: statusMessageSchema, signature: signatureSchema })
  .strict();

export type StatusMessage = z.infer<typeof statusMessageSchema>;
export type SignedStatus = z.infer<typeof signedStatusSchema>;

export function signStatus(key: SigningKey, message: Omit<StatusMessage, 'version' | 'type'>): Buffer {
  const full: StatusMessage = { version: PROTOCOL_VERSION, type: 'status', ...message };
  const signed: SignedStatus = {
    message: full,
    signature: key.sign(SigningDomain.nodeMessage, canonicalBytes(full)),
  };
  return canonicalBytes(signed);
}

export type StatusVerdict = { ok: true; status: StatusMessage } | { ok: false; problem: string };

/** Decodes and authenticates a status from `sender`, whose certificate is `senderCert`. */
export function openStatus(
  bytes: Uint8Array,
  sender: NodeName,
  senderCert: string,
  keys: CertificateKeyCache,
): StatusVerdict {
  let signed: SignedStatus;
  try {
    signed = parseWith(signedStatusSchema, decodeJson(bytes, STATUS_MESSAGE_BYTES_MAX, 'status'), 'status');
  } catch (e) {
    return { ok: false, problem: (e as Error).message };
  }
  if (signed.message.from !== sender)
    return { ok: false, problem: `status claims to be from ${signed.message.from}` };
  if (
    !keys.get(senderCert).verify(SigningDomain.nodeMessage, canonicalBytes(signed.message), signed.signature)
  ) {
    return { ok: false, problem: 'status signature does not verify' };
  }
  return { ok: true, status: signed.message };
}
