import type * as X509 from '@peculiar/x509';
import { x509 } from './x509.js';
import { loadCa, randomSerialHex } from './ca.js';
import type { LoadedCa } from './ca.js';
import { PkiError } from './errors.js';
import type { CryptoKey } from './keys.js';
import { exportPrivateKeyPem, generateKeyPair, SIGNING_ALGORITHM } from './keys.js';
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
