import type * as X509 from '@peculiar/x509';
import { x509 } from './x509.js';
import { loadCa, randomSerialHex } from './ca.js';
import type { LoadedCa } from './ca.js';
import { PkiError } from './errors.js';
import type { CryptoKey } from './keys.js';
import { webcrypto } from 'node:crypto';
import { identityOf } from './identity.js';
import {
  exportPrivateKeyPem,
  generateKeyPair,
  importSigningKey,
  KEY_ALGORITHM,
  SIGNING_ALGORITHM,
  spkiDer,
} from './keys.js';
import { parseCertificate } from './pem.js';
import { toPem } from './pem.js';
import { subjectName } from './subject.js';
import { isNodeRole, isRole } from './types.js';
import type { CertificateWithKey, NodeRole, Role, UserRole } from './types.js';
import { checkDate, checkName, checkSans, checkValidityDays } from './validate.js';
import { validityWindow } from './validity.js';

interface IssueCommonOptions {
  /** The organisation's CA, as returned by `createOrgCa`. */
  readonly ca: CertificateWithKey;
  /** Must be the CA's organisation; stated again so a mix-up of CAs fails here, not at a peer. */
  readonly org: string;
  readonly name: string;
  readonly validityDays: number;
  /** Issue as if at this instant; defaults to the current time. */
  readonly now?: Date;
}

export interface IssueNodeCertOptions extends IssueCommonOptions {
  readonly role: NodeRole;
  /** Names the node is reached by; TLS clients check the server's certificate against these and the IPs. */
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

export interface IssueUserCertOptions extends IssueCommonOptions {
  readonly role: UserRole;
}

/** A key pair and TLS server+client certificate for an orderer or peer. */
export async function issueNodeCert(options: IssueNodeCertOptions): Promise<CertificateWithKey> {
  return issueWithNewKey(options, options.dnsNames, options.ipAddresses);
}

/** A key pair and TLS client certificate for a client application or an administrator. */
export async function issueUserCert(options: IssueUserCertOptions): Promise<CertificateWithKey> {
  return issueWithNewKey(options, [], []);
}

async function issueWithNewKey(
  options: IssueCommonOptions & { readonly role: Role },
  dnsNames: readonly string[],
  ipAddresses: readonly string[],
): Promise<CertificateWithKey> {
  const now = checkDate(options.now ?? new Date(), 'now');
  const ca = await loadCa(options.ca, now);
  const org = checkName(options.org, 'org');
  if (org !== ca.org) {
    throw new PkiError(
      'PKI_ORG_MISMATCH',
      `cannot issue for organisation "${org}" with the CA "${ca.cert.subject}" of organisation "${ca.org}"`,
      { subject: ca.cert.subject },
    );
  }
  const keys = await generateKeyPair();
  const certPem = await signLeaf({
    ca,
    name: options.name,
    role: options.role,
    publicKey: keys.publicKey,
    dnsNames,
    ipAddresses,
    validityDays: options.validityDays,
    now,
  });
  return { certPem, keyPem: await exportPrivateKeyPem(keys.privateKey) };
}

export interface LeafSpec {
  readonly ca: LoadedCa;
  readonly name: string;
  readonly role: Role;
  readonly publicKey: CryptoKey | X509.PublicKey;
  /** Only node roles carry SANs: user certificates are never presented by a server. */
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly validityDays: number;
  readonly now: Date;
}

/**
 * Signs an end-entity certificate for `spec.publicKey` in the CA's organisation. Its notAfter is cut
 * to the CA's, since a leaf is useless once its issuer has expired and should not claim otherwise.
 */
export async function signLeaf(spec: LeafSpec): Promise<string> {
  const name = checkName(spec.name, 'name');
  const validityDays = checkValidityDays(spec.validityDays);
  // The types already say so; this guards JavaScript callers, since the OU is the holder's authority.
  if (!isRole(spec.role)) throw new PkiError('PKI_BAD_INPUT', `unknown role ${JSON.stringify(spec.role)}`);
  const nodeRole = isNodeRole(spec.role);
  if (!nodeRole && spec.dnsNames.length + spec.ipAddresses.length > 0) {
    throw new PkiError('PKI_BAD_INPUT', `a ${spec.role} certificate cannot carry DNS names or IP addresses`);
  }
  if (nodeRole && spec.dnsNames.length + spec.ipAddresses.length === 0) {
    throw new PkiError(
      'PKI_BAD_INPUT',
      `a ${spec.role} certificate needs at least one DNS name or IP address`,
    );
  }
  checkSans(spec.dnsNames, spec.ipAddresses);

  const window = validityWindow(spec.now, validityDays);
  const caNotAfter = spec.ca.cert.x509.notAfter;
  const notAfter = window.notAfter.getTime() > caNotAfter.getTime() ? caNotAfter : window.notAfter;
  const usages = nodeRole
    ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
    : [x509.ExtendedKeyUsage.clientAuth];
  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(usages),
    await authorityKeyIdentifier(spec.ca),
    await x509.SubjectKeyIdentifierExtension.create(spec.publicKey),
  ];
  if (nodeRole) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        ...spec.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...spec.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
      ]),
    );
  }

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    // The CA's own encoded name, byte for byte, so issuer/subject matching cannot be thrown by re-encoding.
    issuer: spec.ca.cert.x509.subjectName,
    subject: subjectName({ CN: name, O: spec.ca.org, OU: spec.role }),
    notBefore: window.notBefore,
    notAfter,
    publicKey: spec.publicKey,
    signingKey: spec.ca.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions,
  });
  return toPem(cert.rawData, 'CERTIFICATE');
}

/** Reuses the CA's own subjectKeyIdentifier so the two always match, whatever method produced it. */
async function authorityKeyIdentifier(ca: LoadedCa): Promise<X509.AuthorityKeyIdentifierExtension> {
  const ski = ca.cert.x509.getExtension(x509.SubjectKeyIdentifierExtension);
  return ski === null
    ? x509.AuthorityKeyIdentifierExtension.create(ca.cert.x509.publicKey)
    : new x509.AuthorityKeyIdentifierExtension(ski.keyId);
}

export interface RenewCertOptions {
  /** The organisation's CA, as returned by `createOrgCa`. */
  readonly ca: CertificateWithKey;
  /** The certificate to renew: its holder (name, org, role) and SANs are kept. */
  readonly certPem: string;
  /** The holder's private key: the renewed certificate certifies the same key. */
  readonly keyPem: string;
  readonly validityDays: number;
  readonly now?: Date;
}

/**
 * A new certificate for the same key, holder and names, with a fresh validity window: what a
 * live renewal rolls in (a node adopts a renewed certificate of its own key without a restart).
 */
export async function renewCert(options: RenewCertOptions): Promise<string> {
  const now = checkDate(options.now ?? new Date(), 'now');
  const ca = await loadCa(options.ca, now);
  const old = parseCertificate(options.certPem, 'the certificate to renew');
  const holder = identityOf(old);
  if (holder.org !== ca.org) {
    throw new PkiError(
      'PKI_ORG_MISMATCH',
      `the certificate of ${holder.name} belongs to organisation "${holder.org}", not to the CA's "${ca.org}"`,
      { subject: old.subject },
    );
  }
  const { keyObject } = await importSigningKey(options.keyPem, holder.name);
  if (!spkiDer(keyObject).equals(spkiDer(old.node.publicKey))) {
    throw new PkiError('PKI_BAD_KEY', `the key given is not the key certified for ${holder.name}`, {
      subject: old.subject,
    });
  }
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const san = old.x509.getExtension(x509.SubjectAlternativeNameExtension);
  for (const { type, value } of san?.names.toJSON() ?? []) {
    if (type === 'dns') dnsNames.push(value);
    else if (type === 'ip') ipAddresses.push(value);
  }
  const publicKey = await webcrypto.subtle.importKey('spki', spkiDer(keyObject), KEY_ALGORITHM, true, [
    'verify',
  ]);
  return signLeaf({
    ca,
    name: holder.name,
    role: holder.role,
    publicKey,
    dnsNames,
    ipAddresses,
    validityDays: options.validityDays,
    now,
  });
}
