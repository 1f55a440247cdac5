import { createHash, createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type * as X509 from '@peculiar/x509';
import { createOrgCa, issueUserCert, parseIdentity, PkiError } from './index.js';
import type { CertificateWithKey } from './index.js';
import { x509 } from './x509.js';

function thrown(action: () => unknown): PkiError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(PkiError);
    return error as PkiError;
  }
  throw new Error('expected a PkiError, but the call succeeded');
}

async function selfSigned(subject: X509.JsonName): Promise<string> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
    'verify',
  ]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ name: subject, keys });
  return cert.toString('pem');
}

let ca: CertificateWithKey;
let admin: CertificateWithKey;

beforeAll(async () => {
  ca = await createOrgCa({ org: 'org1', validityDays: 365 });
  admin = await issueUserCert({ ca, org: 'org1', role: 'admin', name: 'alice', validityDays: 30 });
});

describe('parseIdentity', () => {
  it('reads org, role and name from O, OU and CN, with the validity dates', () => {
    const cert = new X509Certificate(admin.certPem);
    expect(parseIdentity(admin.certPem)).toMatchObject({
      org: 'org1',
      role: 'admin',
      name: 'alice',
      notBefore: new Date(cert.validFrom),
      notAfter: new Date(cert.validTo),
    });
  });

  it('gives the SHA-256 of the DER as the fingerprint and the SPKI PEM of the public key', () => {
    const cert = new X509Certificate(admin.certPem);
    const identity = parseIdentity(admin.certPem);
    expect(identity.fingerprint).toBe(createHash('sha256').update(cert.raw).digest('hex'));
    expect(identity.fingerprint).toBe(cert.fingerprint256.replaceAll(':', '').toLowerCase());
    expect(identity.publicKeyPem).toBe(createPublicKey(admin.keyPem).export({ type: 'spki', format: 'pem' }));
  });

  it.each([
    ['garbage', 'hello'],
    ['a PEM block of another kind', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'],
    [
      'a CERTIFICATE block with bytes that are not a certificate',
      '-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n',
    ],
  ])('refuses %s with PKI_BAD_PEM', (_case, pem) => {
    expect(thrown(() => parseIdentity(pem)).code).toBe('PKI_BAD_PEM');
  });

  it('refuses a bundle of two certificates rather than guessing which is meant', () => {
    expect(thrown(() => parseIdentity(admin.certPem + ca.certPem)).code).toBe('PKI_BAD_PEM');
  });

  it('refuses a certificate without a role (a CA) with PKI_BAD_IDENTITY, naming it', () => {
    const error = thrown(() => parseIdentity(ca.certPem));
    expect(error.code).toBe('PKI_BAD_IDENTITY');
    expect(error.message).toContain('CN=org1-ca');
    expect(error.message).toContain('(OU)');
  });

  it.each<[string, X509.JsonName, RegExp]>([
    ['an unknown role', [{ CN: ['bob'] }, { O: ['org1'] }, { OU: ['janitor'] }], /janitor/],
    ['two roles', [{ CN: ['bob'] }, { O: ['org1'] }, { OU: ['client'] }, { OU: ['admin'] }], /\(OU\)/],
    ['no organisation', [{ CN: ['bob'] }, { OU: ['client'] }], /\(O\)/],
    ['no name', [{ O: ['org1'] }, { OU: ['client'] }], /\(CN\)/],
  ])('refuses a certificate with %s with PKI_BAD_IDENTITY', async (_case, subject, problem) => {
    const pem = await selfSigned(subject);
    const error = thrown(() => parseIdentity(pem));
    expect(error.code).toBe('PKI_BAD_IDENTITY');
    expect(error.message).toMatch(problem);
  });
});
