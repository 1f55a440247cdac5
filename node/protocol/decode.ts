import type { z } from 'zod';
import { decodeJson } from './encoding.js';
import { ProtocolError } from './errors.js';
import * as L from './limits.js';
import * as S from './schemas.js';

/** Runs the one schema check that turns untrusted data into a typed value. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue === undefined ? what : [what, ...issue.path.map(String)].join('.');
  const message = issue?.message ?? 'does not match the schema';
  const code = issue?.path.at(-1) === 'version' ? 'PROTOCOL_VERSION' : 'PROTOCOL_SCHEMA';
  throw new ProtocolError(code, `${field}: ${message}`, field, { cause: result.error });
}

function decoder<T>(schema: z.ZodType<T>, maxBytes: number, what: string): (bytes: Uint8Array) => T {
  return (bytes) => parseWith(schema, decodeJson(bytes, maxBytes, what), what);
}

export const decodeEnvelope = decoder(S.envelopeSchema, L.ENVELOPE_BYTES_MAX, 'envelope');
export const decodeSignedProposal = decoder(S.signedProposalSchema, L.ENVELOPE_BYTES_MAX, 'signedProposal');
export const decodeProposalResponse = decoder(
  S.proposalResponseSchema,
  L.ENVELOPE_BYTES_MAX,
  'proposalResponse',
);
export const decodeBlockHeader = decoder(S.blockHeaderSchema, L.MESSAGE_BYTES_MAX, 'blockHeader');
export const decodeBlock = decoder(S.blockSchema, L.BLOCK_BYTES_MAX, 'block');
export const decodeCommitCertificate = decoder(
  S.commitCertificateSchema,
  L.MESSAGE_BYTES_MAX,
  'commitCertificate',
);
export const decodeNetworkConfig = decoder(S.networkConfigSchema, L.CONFIG_BYTES_MAX, 'networkConfig');
