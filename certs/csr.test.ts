import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { createCsr, createOrgCa, parseIdentity, PkiError, signCsr, verifyChain } from './index.js';
import type { CertificateWithKey } from './index.js';
import { x509 } from './x509.js';

async function rejection(promise: Promise<unknown>): Promise<PkiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PkiError);
    return error as PkiError;
  }
  throw new Error('expected a PkiError, but the call succeeded');
}

function publicKeyPemOf(keyPem: string): string {
  return createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }).toString();
}

/** Rewrites `from` to `to` (same length) inside the CSR's DER, leaving its signature as it was. */
function tamper(csrPem: string, from: string, to: string): string {
  const body = csrPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const der = Buffer.from(body, 'base64');
  const at = der.indexOf(from);
  expect(at).toBeGreaterThan(0);
  der.write(to, at);
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

let org1Ca: CertificateWithKey;

beforeAll(async () => {
  org1Ca = await createOrgCa({ org: 'org1', validityDays: 365 });
});

describe('createCsr', () => {
  it('makes a self-signed PKCS#10 request naming the subject and SANs, with a PKCS#8 key', async () => {
    const { csrPem, keyPem } = await createCsr({
      name: 'peer0',
      org: 'org1',
      role: 'peer',
      dnsNames: ['peer0.org1'],
      ipAddresses: ['10.0.0.7'],
    });
    expect(csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n/);
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe('CN=peer0, O=org1, OU=peer');
    expect(createPrivateKey(keyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(Buffer.from(csr.publicKey.rawData)).toEqual(
      createPublicKey(keyPem).export({ type: 'spki', format: 'der' }),
    );
  });
});

describe('signCsr', () => {
  it("certifies the CSR's own key, with the role the issuer grants rather than the one asked for", async () => {
    const { csrPem, keyPem } = await createCsr({
      name: 'peer0',
      org: 'org1',
      role: 'orderer',
      dnsNames: ['peer0.org1'],
    });
    const certPem = await signCsr({ ca: org1Ca, csrPem, role: 'peer', validityDays: 30 });

    const identity = verifyChain(certPem, [org1Ca.certPem]);
    expect(identity).toMatchObject({ org: 'org1', role: 'peer', name: 'peer0' });
    expect(identity.publicKeyPem).toBe(publicKeyPemOf(keyPem));
    expect(new X509Certificate(certPem).subjectAltName).toBe('DNS:peer0.org1');
  });

  it('uses the SANs the issuer gives instead of the requested ones', async () => {
    const { csrPem } = await createCsr({
      name: 'peer0',
      org: 'org1',
      role: 'peer',
      dnsNames: ['bank.example'],
    });
    const certPem = await signCsr({
      ca: org1Ca,
      csrPem,
      role: 'peer',
      validityDays: 30,
      dnsNames: ['peer0.org1'],
    });
    expect(new X509Certificate(certPem).subjectAltName).toBe('DNS:peer0.org1');
  });

  it('drops requested SANs when granting a user role, which never serves TLS', async () => {
    const { csrPem } = await createCsr({ name: 'app1', org: 'org1', role: 'peer', dnsNames: ['peer0.org1'] });
    const certPem = await signCsr({ ca: org1Ca, csrPem, role: 'client', validityDays: 30 });
    const cert = new X509Certificate(certPem);
    expect(parseIdentity(certPem).role).toBe('client');
    expect(cert.subjectAltName).toBeUndefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('refuses a CSR altered after signing with PKI_BAD_CSR', async () => {
    const { csrPem } = await createCsr({
      name: 'peer0',
      org: 'org1',
      role: 'peer',
      dnsNames: ['peer0.org1'],
    });
    const forged = tamper(csrPem, 'peer0.org1', 'evil0.org1');
    const error = await rejection(signCsr({ ca: org1Ca, csrPem: forged, role: 'peer', validityDays: 30 }));
    expect(error.code).toBe('PKI_BAD_CSR');
    expect(error.message).toContain('CN=peer0');
  });

  it('refuses a CSR for another organisation with PKI_ORG_MISMATCH', async () => {
    const { csrPem } = await createCsr({ name: 'app1', org: 'org2', role: 'client' });
    const error = await rejection(signCsr({ ca: org1Ca, csrPem, role: 'client', validityDays: 30 }));
    expect(error.code).toBe('PKI_ORG_MISMATCH');
    expect(error.message).toContain('"org2"');
  });

  it('refuses text that is not a CSR with PKI_BAD_PEM', async () => {
    for (const csrPem of ['garbage', org1Ca.certPem]) {
      const error = await rejection(signCsr({ ca: org1Ca, csrPem, role: 'client', validityDays: 30 }));
      expect(error.code).toBe('PKI_BAD_PEM');
    }
  });
});
