import { createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type * as X509 from '@peculiar/x509';
import { createOrgCa, issueNodeCert, issueUserCert, parseIdentity, PkiError, verifyChain } from './index.js';
import type { CertificateWithKey } from './index.js';
import { x509 } from './x509.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

function thrown(action: () => unknown): PkiError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(PkiError);
    return error as PkiError;
  }
  throw new Error('expected a PkiError, but the call succeeded');
}

async function importKeys(keyPem: string): Promise<webcrypto.CryptoKeyPair> {
  const privateDer = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  const publicDer = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  return {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateDer, EC_P256, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', publicDer, EC_P256, true, ['verify']),
  };
}

/**
 * Certificates the public API refuses to make (wrong org, non-CA issuer, leaf outliving its CA),
 * signed with `issuer`'s key, to show verifyChain catches them when someone else makes them.
 */
async function craft(options: {
  issuer: CertificateWithKey;
  subject: X509.JsonName;
  notBefore?: Date;
  notAfter?: Date;
  /** Certify the issuer's own key (a renewed CA) instead of a fresh one. */
  selfSigned?: boolean;
}): Promise<string> {
  const issuerKeys = await importKeys(options.issuer.keyPem);
  const subjectKey = options.selfSigned
    ? issuerKeys.publicKey
    : (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])).publicKey;
  const cert = await x509.X509CertificateGenerator.create({
    issuer: options.selfSigned
      ? options.subject
      : new x509.X509Certificate(options.issuer.certPem).subjectName,
    subject: options.subject,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY_MS),
    notAfter: options.notAfter ?? new Date(Date.now() + DAY_MS),
    publicKey: subjectKey,
    signingKey: issuerKeys.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: options.selfSigned ? [new x509.BasicConstraintsExtension(true, 0, true)] : [],
  });
  return cert.toString('pem');
}

let org1Ca: CertificateWithKey;
let org2Ca: CertificateWithKey;
let orderer: CertificateWithKey;

beforeAll(async () => {
  org1Ca = await createOrgCa({ org: 'org1', validityDays: 365 });
  org2Ca = await createOrgCa({ org: 'org2', validityDays: 365 });
  orderer = await issueNodeCert({
    ca: org1Ca,
    org: 'org1',
    role: 'orderer',
    name: 'orderer0',
    dnsNames: ['orderer0.org1'],
    ipAddresses: [],
    validityDays: 30,
  });
});

describe('verifyChain', () => {
  it('returns the identity of a certificate issued by a trusted CA', () => {
    const identity = verifyChain(orderer.certPem, [org1Ca.certPem]);
    expect(identity).toEqual(parseIdentity(orderer.certPem));
    expect(identity).toMatchObject({ org: 'org1', role: 'orderer', name: 'orderer0' });
  });

  it('finds the issuing CA among several trusted ones', () => {
    expect(verifyChain(orderer.certPem, [org2Ca.certPem, org1Ca.certPem]).org).toBe('org1');
  });

  it('refuses a certificate signed by none of the trusted CAs with PKI_UNTRUSTED, naming it', () => {
    const error = thrown(() => verifyChain(orderer.certPem, [org2Ca.certPem]));
    expect(error.code).toBe('PKI_UNTRUSTED');
    expect(error.message).toContain('CN=orderer0');
    expect(error.subject).toContain('CN=orderer0');
    expect(thrown(() => verifyChain(orderer.certPem, [])).code).toBe('PKI_UNTRUSTED');
  });

  it('refuses a look-alike CA with the same name but a different key', async () => {
    const impostor = await createOrgCa({ org: 'org1', validityDays: 365 });
    expect(thrown(() => verifyChain(orderer.certPem, [impostor.certPem])).code).toBe('PKI_UNTRUSTED');
  });

  it('refuses an expired certificate with PKI_EXPIRED, yet accepts it at a time it was valid', async () => {
    const tenDaysAgo = new Date(Date.now() - 10 * DAY_MS);
    const ca = await createOrgCa({ org: 'org1', validityDays: 365, now: tenDaysAgo });
    const stale = await issueUserCert({
      ca,
      org: 'org1',
      role: 'client',
      name: 'app1',
      validityDays: 1,
      now: tenDaysAgo,
    });

    const error = thrown(() => verifyChain(stale.certPem, [ca.certPem]));
    expect(error.code).toBe('PKI_EXPIRED');
    expect(error.subject).toContain('CN=app1');
    expect(verifyChain(stale.certPem, [ca.certPem], { at: tenDaysAgo }).name).toBe('app1');
  });

  it('refuses a certificate that is not valid yet with PKI_NOT_YET_VALID', async () => {
    const inTwoDays = new Date(Date.now() + 2 * DAY_MS);
    const early = await issueUserCert({
      ca: org1Ca,
      org: 'org1',
      role: 'client',
      name: 'app1',
      validityDays: 1,
      now: inTwoDays,
    });
    const error = thrown(() => verifyChain(early.certPem, [org1Ca.certPem]));
    expect(error.code).toBe('PKI_NOT_YET_VALID');
    expect(error.subject).toContain('CN=app1');
  });

  it('refuses a certificate whose issuing CA has expired, naming the CA', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 1, now: new Date(Date.now() - 10 * DAY_MS) });
    const leaf = await craft({
      issuer: ca,
      subject: [{ CN: ['app1'] }, { O: ['org1'] }, { OU: ['client'] }],
    });

    const error = thrown(() => verifyChain(leaf, [ca.certPem]));
    expect(error.code).toBe('PKI_EXPIRED');
    expect(error.subject).toContain('CN=org1-ca');
    expect(error.message).toContain('issuing CA');
  });

  it('accepts a certificate while one of two renewals of its CA (same name and key) is still valid', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 1, now: new Date(Date.now() - 10 * DAY_MS) });
    const renewed = await craft({
      issuer: ca,
      subject: [{ CN: ['org1-ca'] }, { O: ['org1'] }],
      selfSigned: true,
    });
    const leaf = await craft({
      issuer: ca,
      subject: [{ CN: ['app1'] }, { O: ['org1'] }, { OU: ['client'] }],
    });

    expect(verifyChain(leaf, [ca.certPem, renewed]).name).toBe('app1');
  });

  it('refuses a certificate signed by a certificate that is not a CA', async () => {
    const leaf = await craft({
      issuer: orderer,
      subject: [{ CN: ['app1'] }, { O: ['org1'] }, { OU: ['client'] }],
    });
    const error = thrown(() => verifyChain(leaf, [orderer.certPem]));
    expect(error.code).toBe('PKI_NOT_A_CA');
    expect(error.subject).toContain('CN=orderer0');
  });

  it("refuses a certificate claiming another organisation than its CA's", async () => {
    const leaf = await craft({
      issuer: org1Ca,
      subject: [{ CN: ['app1'] }, { O: ['org2'] }, { OU: ['admin'] }],
    });
    const error = thrown(() => verifyChain(leaf, [org1Ca.certPem, org2Ca.certPem]));
    expect(error.code).toBe('PKI_ORG_MISMATCH');
    expect(error.message).toContain('"org2"');
  });

  it('refuses unparseable input with PKI_BAD_PEM, whether the leaf or a CA', () => {
    expect(thrown(() => verifyChain('not a certificate', [org1Ca.certPem])).code).toBe('PKI_BAD_PEM');
    const error = thrown(() => verifyChain(orderer.certPem, [org1Ca.certPem, 'junk']));
    expect(error.code).toBe('PKI_BAD_PEM');
    expect(error.message).toContain('#1');
  });

  it('refuses a certificate whose extension does not decode with PKI_BAD_PEM, as a leaf or as a CA', () => {
    // The subjectKeyIdentifier (2.5.29.14) holds an OCTET STRING inside its extnValue; turning its tag
    // into a NULL's keeps the outer DER well-formed (OpenSSL parses it) but the extension undecodable.
    const corrupt = (pem: string): string => {
      const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
      const oid = der.indexOf(Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0e]));
      expect(oid).toBeGreaterThan(0);
      // OID, then the extnValue OCTET STRING's tag and length, then the inner OCTET STRING's tag.
      const innerTag = oid + 5 + 2;
      expect(der[innerTag]).toBe(0x04);
      der[innerTag] = 0x05;
      return `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
    };
    const badCa = thrown(() => verifyChain(orderer.certPem, [corrupt(org1Ca.certPem)]));
    expect(badCa.code).toBe('PKI_BAD_PEM');
    expect(badCa.message).toContain('#0');
    expect(thrown(() => verifyChain(corrupt(orderer.certPem), [org1Ca.certPem])).code).toBe('PKI_BAD_PEM');
  });

  it('refuses a trusted certificate that names no role with PKI_BAD_IDENTITY', async () => {
    const leaf = await craft({ issuer: org1Ca, subject: [{ CN: ['app1'] }, { O: ['org1'] }] });
    expect(thrown(() => verifyChain(leaf, [org1Ca.certPem])).code).toBe('PKI_BAD_IDENTITY');
  });
});
