import { randomBytes, webcrypto } from 'node:crypto';
import { x509 } from './x509.js';
import { PkiError } from './errors.js';
import type { CryptoKey } from './keys.js';
import {
  exportPrivateKeyPem,
  generateKeyPair,
  importSigningKey,
  KEY_ALGORITHM,
  SIGNING_ALGORITHM,
  spkiDer,
} from './keys.js';
import { parseCertificate, toPem } from './pem.js';
import type { ParsedCertificate } from './pem.js';
import { singleField, subjectName } from './subject.js';
import type { CertificateWithKey } from './types.js';
import { checkDate, checkName, checkValidityDays } from './validate.js';
import { assertValidAt, validityWindow } from './validity.js';

/** A CA's CN is its organisation plus this suffix. */
export const CA_CN_SUFFIX = '-ca';
/** RFC 5280 asks for positive serials of at most 20 octets; 16 random ones make collisions negligible. */
export const SERIAL_BYTES = 16;
/** Org CAs sign leaves only, never intermediate CAs. */
const CA_PATH_LENGTH = 0;

export interface CreateOrgCaOptions {
  readonly org: string;
  readonly validityDays: number;
  /** Issue as if at this instant (tests, back-dated CAs); defaults to the current time. */
  readonly now?: Date;
}

/** A self-signed ECDSA P-256 root for one organisation, allowed to sign end-entity certificates only. */
export async function createOrgCa(options: CreateOrgCaOptions): Promise<CertificateWithKey> {
  const org = checkName(options.org, 'org');
  const validityDays = checkValidityDays(options.validityDays);
  const now = checkDate(options.now ?? new Date(), 'now');
  const keys = await generateKeyPair();
  return {
    certPem: await selfSignedCa(org, keys, now, validityDays),
    keyPem: await exportPrivateKeyPem(keys.privateKey),
  };
}

export interface RenewOrgCaOptions {
  /** The CA to renew: its certificate (valid now) and its key. */
  readonly ca: CertificateWithKey;
  readonly validityDays: number;
  readonly now?: Date;
}

/**
 * The CA's certificate again, for the same key and name with a fresh validity window: every
 * certificate the CA issued verifies against it too (names chain, the key signed them), so a
 * configuration can trust [renewed, old] and then [renewed] without reissuing anything.
 */
export async function renewOrgCa(options: RenewOrgCaOptions): Promise<string> {
  const validityDays = checkValidityDays(options.validityDays);
  const now = checkDate(options.now ?? new Date(), 'now');
  const ca = await loadCa(options.ca, now);
  const publicKey = await webcrypto.subtle.importKey(
    'spki',
    spkiDer(ca.cert.node.publicKey),
    KEY_ALGORITHM,
    true,
    ['verify'],
  );
  return selfSignedCa(ca.org, { privateKey: ca.signingKey, publicKey }, now, validityDays);
}

async function selfSignedCa(
  org: string,
  keys: { readonly privateKey: CryptoKey; readonly publicKey: CryptoKey },
  now: Date,
  validityDays: number,
): Promise<string> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: subjectName({ CN: `${org}${CA_CN_SUFFIX}`, O: org }),
    ...validityWindow(now, validityDays),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, CA_PATH_LENGTH, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return toPem(cert.rawData, 'CERTIFICATE');
}

/** Hex of SERIAL_BYTES random octets, top bit clear (positive) and next bit set (no leading zero octet). */
export function randomSerialHex(): string {
  const bytes = randomBytes(SERIAL_BYTES);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/** Throws PKI_NOT_A_CA unless the certificate may sign others: CA:true and, if it has a keyUsage, keyCertSign. */
export function assertIsCa(cert: ParsedCertificate, what: string): void {
  const keyUsage = cert.x509.getExtension(x509.KeyUsagesExtension);
  const canSignCerts = keyUsage === null || (keyUsage.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
  if (!cert.node.ca || !canSignCerts) {
    throw new PkiError('PKI_NOT_A_CA', `${what} "${cert.subject}" is not a CA certificate`, {
      subject: cert.subject,
    });
  }
}

/** The organisation a CA stands for: its single O. */
export function caOrg(cert: ParsedCertificate, what: string): string {
  const org = singleField(cert.x509.subjectName, 'O');
  if (org === undefined) {
    throw new PkiError(
      'PKI_BAD_IDENTITY',
      `${what} "${cert.subject}" does not name exactly one organisation (O)`,
      {
        subject: cert.subject,
      },
    );
  }
  return org;
}

export interface LoadedCa {
  readonly cert: ParsedCertificate;
  readonly org: string;
  readonly signingKey: CryptoKey;
}

/**
 * Checks everything that would otherwise surface later as certificates nobody accepts: the
 * certificate is a CA valid at `now`, and the key is the one it certifies.
 */
export async function loadCa(ca: CertificateWithKey, now: Date): Promise<LoadedCa> {
  const cert = parseCertificate(ca.certPem, 'the CA certificate');
  assertIsCa(cert, 'the CA certificate');
  const org = caOrg(cert, 'the CA certificate');
  assertValidAt(cert, now, 'the CA certificate');
  const owner = `the CA "${cert.subject}"`;
  const { key, keyObject } = await importSigningKey(ca.keyPem, owner);
  if (!spkiDer(keyObject).equals(spkiDer(cert.node.publicKey))) {
    throw new PkiError('PKI_BAD_KEY', `the private key given for ${owner} does not match its certificate`, {
      subject: cert.subject,
    });
  }
  return { cert, org, signingKey: key };
}
