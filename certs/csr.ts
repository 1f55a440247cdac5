import { createPublicKey } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import { x509 } from './x509.js';
import { loadCa } from './ca.js';
import { PkiError } from './errors.js';
import { assertP256, exportPrivateKeyPem, generateKeyPair, SIGNING_ALGORITHM } from './keys.js';
import { decodePem, toPem } from './pem.js';
import { signLeaf } from './issue.js';
import { singleField, subjectName } from './subject.js';
import { isNodeRole, isRole } from './types.js';
import type { CertificateWithKey, CsrWithKey, Role } from './types.js';
import { checkDate, checkName, checkSans } from './validate.js';

export interface CreateCsrOptions {
  readonly name: string;
  readonly org: string;
  /** What the requester asks for; the issuer decides the role actually granted. */
  readonly role: Role;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

/** A new key pair and a PKCS#10 request for it, for when the key must never leave the node that made it. */
export async function createCsr(options: CreateCsrOptions): Promise<CsrWithKey> {
  const name = checkName(options.name, 'name');
  const org = checkName(options.org, 'org');
  if (!isRole(options.role))
    throw new PkiError('PKI_BAD_INPUT', `unknown role ${JSON.stringify(options.role)}`);
  const dnsNames = options.dnsNames ?? [];
  const ipAddresses = options.ipAddresses ?? [];
  checkSans(dnsNames, ipAddresses);
  const keys = await generateKeyPair();
  const sans = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subjectName({ CN: name, O: org, OU: options.role }),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans)] : [],
  });
  return {
    csrPem: toPem(csr.rawData, 'CERTIFICATE REQUEST'),
    keyPem: await exportPrivateKeyPem(keys.privateKey),
  };
}

export interface SignCsrOptions {
  /** The organisation's CA; the CSR's O must be this CA's organisation. */
  readonly ca: CertificateWithKey;
  readonly csrPem: string;
  /** The role granted; whatever OU the CSR asks for is ignored. */
  readonly role: Role;
  readonly validityDays: number;
  readonly now?: Date;
  /**
   * SANs to certify instead of those the CSR requests. Left out, a node certificate gets the CSR's
   * DNS names and IPs (vetting them is the approver's job, as with Kubernetes CSRs) and a user
   * certificate gets none.
   */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

/** Issues a certificate for the key in a CSR, after checking the CSR was signed by that key. */
export async function signCsr(options: SignCsrOptions): Promise<string> {
  const now = checkDate(options.now ?? new Date(), 'now');
  const csr = parseCsr(options.csrPem);
  await assertSelfSigned(csr);
  const name = csrName(csr);
  const ca = await loadCa(options.ca, now);
  const org = singleField(csr.subjectName, 'O');
  if (org !== ca.org) {
    throw new PkiError(
      'PKI_ORG_MISMATCH',
      `the CSR "${csr.subject}" is for organisation ${org === undefined ? '(none)' : `"${org}"`}, but the CA "${ca.cert.subject}" is of "${ca.org}"`,
      { subject: csr.subject },
    );
  }
  const requested = requestedSans(csr);
  const useRequested = isNodeRole(options.role);
  return signLeaf({
    ca,
    name,
    role: options.role,
    publicKey: csr.publicKey,
    dnsNames: options.dnsNames ?? (useRequested ? requested.dnsNames : []),
    ipAddresses: options.ipAddresses ?? (useRequested ? requested.ipAddresses : []),
    validityDays: options.validityDays,
    now,
  });
}

function parseCsr(csrPem: string): X509.Pkcs10CertificateRequest {
  const der = decodePem(csrPem, 'CERTIFICATE REQUEST', 'the CSR');
  try {
    return new x509.Pkcs10CertificateRequest(der);
  } catch (cause) {
    throw new PkiError('PKI_BAD_PEM', 'the CSR does not hold a valid PKCS#10 request', { cause });
  }
}

/** Proof of possession: only the holder of the private key can have signed the request. */
async function assertSelfSigned(csr: X509.Pkcs10CertificateRequest): Promise<void> {
  const bad = (problem: string, cause?: unknown): PkiError =>
    new PkiError('PKI_BAD_CSR', `the CSR "${csr.subject}" ${problem}`, { subject: csr.subject, cause });
  try {
    assertP256(
      createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' }),
      'the CSR',
    );
  } catch (cause) {
    throw bad('does not carry an ECDSA P-256 public key', cause);
  }
  let valid: boolean;
  try {
    valid = await csr.verify();
  } catch (cause) {
    throw bad('has a signature that cannot be checked', cause);
  }
  if (!valid) throw bad('is not signed by the key it carries (altered or forged)');
}

function csrName(csr: X509.Pkcs10CertificateRequest): string {
  const name = singleField(csr.subjectName, 'CN');
  if (name === undefined) {
    throw new PkiError('PKI_BAD_CSR', `the CSR "${csr.subject}" does not name exactly one subject (CN)`, {
      subject: csr.subject,
    });
  }
  try {
    return checkName(name, 'the CSR common name');
  } catch (cause) {
    throw new PkiError('PKI_BAD_CSR', `the CSR "${csr.subject}" has an unusable common name`, {
      subject: csr.subject,
      cause,
    });
  }
}

function requestedSans(csr: X509.Pkcs10CertificateRequest): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const extension of csr.extensions) {
    if (!(extension instanceof x509.SubjectAlternativeNameExtension)) continue;
    for (const { type, value } of extension.names.toJSON()) {
      if (type === 'dns') dnsNames.push(value);
      else if (type === 'ip') ipAddresses.push(value);
      else {
        throw new PkiError(
          'PKI_BAD_CSR',
          `the CSR "${csr.subject}" requests a ${type} name; only DNS and IP are issued`,
          {
            subject: csr.subject,
          },
        );
      }
    }
  }
  return { dnsNames, ipAddresses };
}
