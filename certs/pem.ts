import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import { x509 } from './x509.js';
import { PkiError } from './errors.js';

/** A P-256 certificate is under 1 KiB of PEM; anything this large is not one of ours and is not parsed. */
export const PEM_CHARS_MAX = 16 * 1024;

/** Ours carry at most six (basic constraints, key usage, extended key usage, SAN, SKI, AKI). */
const EXTENSIONS_MAX = 16;

export type PemLabel = 'CERTIFICATE' | 'CERTIFICATE REQUEST';

const PEM_BLOCK = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END \1-----$/;

/**
 * The DER inside `text`, which must be exactly one PEM block labelled `label` (surrounding
 * whitespace aside). A bundle is refused rather than silently cut to its first block, since which
 * certificate a caller meant is then a guess. `what` describes the input in error messages.
 */
export function decodePem(text: string, label: PemLabel, what: string): Buffer {
  if (text.length > PEM_CHARS_MAX) {
    throw new PkiError('PKI_BAD_PEM', `${what} is not a PEM text of at most ${PEM_CHARS_MAX} characters`);
  }
  const match = PEM_BLOCK.exec(text.trim());
  if (match?.[1] !== label || match[2] === undefined) {
    throw new PkiError('PKI_BAD_PEM', `${what} is not a single PEM block labelled ${label}`);
  }
  return Buffer.from(match[2].replace(/\s+/g, ''), 'base64');
}

/**
 * A certificate parsed twice: node's view (OpenSSL, used for signature checks, the same code TLS
 * runs) and @peculiar/x509's (used for names and extensions, which node only offers as text).
 */
export interface ParsedCertificate {
  readonly der: Buffer;
  readonly node: NodeX509Certificate;
  readonly x509: X509.X509Certificate;
  /** RFC 4514-style subject, for messages. */
  readonly subject: string;
}

export function parseCertificate(pem: string, what: string): ParsedCertificate {
  const der = decodePem(pem, 'CERTIFICATE', what);
  let parsed: X509.X509Certificate;
  let node: NodeX509Certificate;
  let extensionCount: number;
  try {
    node = new NodeX509Certificate(der);
    parsed = new x509.X509Certificate(der);
    // @peculiar/x509 decodes each extension's value lazily, on first use: counting them decodes them
    // now, so a malformed extension is refused here, as PKI_BAD_PEM, not by whichever check reads it.
    extensionCount = parsed.extensions.length;
  } catch (cause) {
    throw new PkiError('PKI_BAD_PEM', `${what} does not hold a valid X.509 certificate`, { cause });
  }
  if (extensionCount > EXTENSIONS_MAX) {
    throw new PkiError(
      'PKI_BAD_PEM',
      `${what} has ${extensionCount} extensions, more than ${EXTENSIONS_MAX}`,
    );
  }
  return { der, node, x509: parsed, subject: parsed.subject };
}

export function toPem(der: ArrayBuffer | Buffer, label: PemLabel): string {
  const base64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
