import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { x509 } from './x509.js';
import {
  CLOCK_SKEW_ALLOWANCE_MS,
  createOrgCa,
  issueNodeCert,
  issueUserCert,
  parseIdentity,
  PkiError,
  renewCert,
  renewOrgCa,
  SERIAL_BYTES,
  verifyChain,
} from './index.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

async function rejection(promise: Promise<unknown>): Promise<PkiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PkiError);
    return error as PkiError;
  }
  throw new Error('expected a PkiError, but the call succeeded');
}

function spkiOf(pem: string): string {
  return createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString();
}

describe('createOrgCa', () => {
  it('makes a self-signed P-256 CA, limited to signing leaves, named after its organisation', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 365 });
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=org1-ca\nO=org1');
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

    const parsed = new x509.X509Certificate(ca.certPem);
    const constraints = parsed.getExtension(x509.BasicConstraintsExtension);
    expect(constraints).toMatchObject({ ca: true, pathLength: 0, critical: true });
    const keyUsage = parsed.getExtension(x509.KeyUsagesExtension);
    expect(keyUsage?.critical).toBe(true);
    expect(keyUsage?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    expect(parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]+$/);
    expect(parsed.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
  });

  it('writes the key as PKCS#8 PEM that node loads and that matches the certificate', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 365 });
    expect(ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(ca.certPem).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    expect(spkiOf(ca.keyPem)).toBe(spkiOf(ca.certPem));
  });

  it('back-dates notBefore by the clock-skew allowance and ends validityDays after now', async () => {
    const now = new Date('2030-01-01T00:00:00.000Z');
    const cert = new X509Certificate((await createOrgCa({ org: 'org1', validityDays: 10, now })).certPem);
    expect(new Date(cert.validFrom).getTime()).toBe(now.getTime() - CLOCK_SKEW_ALLOWANCE_MS);
    expect(new Date(cert.validTo).getTime()).toBe(now.getTime() + 10 * DAY_MS);
  });

  it.each([
    ['an org with a space', { org: 'org 1', validityDays: 1 }],
    ['an empty org', { org: '', validityDays: 1 }],
    ['zero validity', { org: 'org1', validityDays: 0 }],
    ['an invalid now', { org: 'org1', validityDays: 1, now: new Date(Number.NaN) }],
  ])('refuses %s with PKI_BAD_INPUT', async (_case, options) => {
    expect((await rejection(createOrgCa(options))).code).toBe('PKI_BAD_INPUT');
  });
});

describe('renewOrgCa', () => {
  it('certifies the same key and name for longer, so certificates of either version verify under the other', async () => {
    const now = new Date();
    const ca = await createOrgCa({
      org: 'org1',
      validityDays: 30,
      now: new Date(now.getTime() - 20 * DAY_MS),
    });
    const leaf = await issueNodeCert({
      ca,
      org: 'org1',
      role: 'peer',
      name: 'peer0-org1',
      dnsNames: ['localhost'],
      ipAddresses: [],
      validityDays: 9,
    });
    const renewedPem = await renewOrgCa({ ca, validityDays: 365, now });
    const before = new X509Certificate(ca.certPem);
    const renewed = new X509Certificate(renewedPem);
    expect(renewed.subject).toBe(before.subject);
    expect(spkiOf(renewedPem)).toBe(spkiOf(ca.certPem));
    expect(renewed.serialNumber).not.toBe(before.serialNumber);
    expect(renewed.ca).toBe(true);
    expect(Date.parse(renewed.validTo) - Date.parse(before.validTo)).toBeGreaterThan(300 * DAY_MS);
    // The old CA's leaf under the renewed CA alone, and a new leaf (signed by the same key) under the old.
    expect(verifyChain(leaf.certPem, [renewedPem]).name).toBe('peer0-org1');
    const newLeaf = await issueNodeCert({
      ca: { certPem: renewedPem, keyPem: ca.keyPem },
      org: 'org1',
      role: 'orderer',
      name: 'orderer9',
      dnsNames: ['localhost'],
      ipAddresses: [],
      validityDays: 5,
    });
    expect(verifyChain(newLeaf.certPem, [ca.certPem]).name).toBe('orderer9');
  });

  it("refuses a key that is not the CA certificate's with PKI_BAD_KEY", async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 30 });
    const other = await createOrgCa({ org: 'org1', validityDays: 30 });
    const error = await rejection(
      renewOrgCa({ ca: { certPem: ca.certPem, keyPem: other.keyPem }, validityDays: 30 }),
    );
    expect(error.code).toBe('PKI_BAD_KEY');
  });
});

describe('issueNodeCert and issueUserCert', () => {
  it('issues an orderer certificate for TLS server and client use, chained to the CA', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 365 });
    const orderer = await issueNodeCert({
      ca,
      org: 'org1',
      role: 'orderer',
      name: 'orderer0',
      dnsNames: ['orderer0.org1.example', 'localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      validityDays: 90,
    });

    expect(parseIdentity(orderer.certPem)).toMatchObject({ org: 'org1', role: 'orderer', name: 'orderer0' });
    const cert = new X509Certificate(orderer.certPem);
    const caCert = new X509Certificate(ca.certPem);
    expect(cert.subject).toBe('CN=orderer0\nO=org1\nOU=orderer');
    expect(cert.subjectAltName).toBe(
      'DNS:orderer0.org1.example, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.keyUsage).toEqual([EKU_SERVER_AUTH, EKU_CLIENT_AUTH]);
    expect(cert.checkHost('orderer0.org1.example')).toBe('orderer0.org1.example');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');

    const parsed = new x509.X509Certificate(orderer.certPem);
    const keyUsage = parsed.getExtension(x509.KeyUsagesExtension);
    expect(keyUsage).toMatchObject({ usages: x509.KeyUsageFlags.digitalSignature, critical: true });
    const aki = parsed.getExtension(x509.AuthorityKeyIdentifierExtension);
    const caSki = new x509.X509Certificate(ca.certPem).getExtension(x509.SubjectKeyIdentifierExtension);
    expect(aki?.keyId).toBeDefined();
    expect(aki?.keyId).toBe(caSki?.keyId);

    expect(orderer.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(spkiOf(createPrivateKey(orderer.keyPem).export({ type: 'pkcs8', format: 'pem' }).toString())).toBe(
      spkiOf(orderer.certPem),
    );
  });

  it('gives every certificate a distinct positive serial of SERIAL_BYTES octets', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 365 });
    const options = {
      ca,
      org: 'org1',
      role: 'peer',
      name: 'peer0',
      dnsNames: ['peer0'],
      ipAddresses: [],
      validityDays: 1,
    } as const;
    const serials = await Promise.all(
      [1, 2, 3].map(async () => new X509Certificate((await issueNodeCert(options)).certPem).serialNumber),
    );
    expect(new Set(serials).size).toBe(3);
    for (const serial of serials) {
      expect(serial).toHaveLength(SERIAL_BYTES * 2);
      expect(Number.parseInt(serial.slice(0, 2), 16)).toBeLessThan(0x80);
    }
  });

  it('issues a client certificate usable only for TLS client authentication, without SANs', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 365 });
    const client = await issueUserCert({ ca, org: 'org1', role: 'client', name: 'app1', validityDays: 30 });
    expect(parseIdentity(client.certPem)).toMatchObject({ org: 'org1', role: 'client', name: 'app1' });
    const cert = new X509Certificate(client.certPem);
    expect(cert.keyUsage).toEqual([EKU_CLIENT_AUTH]);
    expect(cert.subjectAltName).toBeUndefined();
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
  });

  it('never lets a leaf outlive its CA', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 10 });
    const admin = await issueUserCert({ ca, org: 'org1', role: 'admin', name: 'alice', validityDays: 365 });
    expect(parseIdentity(admin.certPem).notAfter).toEqual(new Date(new X509Certificate(ca.certPem).validTo));
  });

  it('refuses to issue for an organisation other than the CA one', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 365 });
    const error = await rejection(
      issueUserCert({ ca, org: 'org2', role: 'client', name: 'app1', validityDays: 1 }),
    );
    expect(error.code).toBe('PKI_ORG_MISMATCH');
    expect(error.message).toContain('CN=org1-ca');
  });

  it('refuses a CA whose private key is not the one its certificate certifies', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 365 });
    const other = await createOrgCa({ org: 'org1', validityDays: 365 });
    const mixed = { certPem: ca.certPem, keyPem: other.keyPem };
    const error = await rejection(
      issueUserCert({ ca: mixed, org: 'org1', role: 'client', name: 'a', validityDays: 1 }),
    );
    expect(error.code).toBe('PKI_BAD_KEY');
  });

  it('refuses an unreadable CA key without echoing any of it', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 365 });
    const body = ca.keyPem.split('\n')[1] ?? '';
    const broken = { certPem: ca.certPem, keyPem: ca.keyPem.replace(body, body.slice(0, 20)) };
    const error = await rejection(
      issueUserCert({ ca: broken, org: 'org1', role: 'client', name: 'a', validityDays: 1 }),
    );
    expect(error.code).toBe('PKI_BAD_KEY');
    expect(error.message).not.toContain(body.slice(0, 20));
    expect(String(error.cause)).not.toContain(body.slice(0, 20));
  });

  it('refuses to issue from a certificate that is not a CA', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 365 });
    const admin = await issueUserCert({ ca, org: 'org1', role: 'admin', name: 'alice', validityDays: 30 });
    const error = await rejection(
      issueUserCert({ ca: admin, org: 'org1', role: 'client', name: 'b', validityDays: 1 }),
    );
    expect(error.code).toBe('PKI_NOT_A_CA');
  });

  it('refuses to issue with a CA that has expired', async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 1, now: new Date(Date.now() - 10 * DAY_MS) });
    const error = await rejection(
      issueUserCert({ ca, org: 'org1', role: 'client', name: 'a', validityDays: 1 }),
    );
    expect(error.code).toBe('PKI_EXPIRED');
  });

  it.each([
    ['no SAN at all', { dnsNames: [], ipAddresses: [] }],
    ['a malformed IP address', { dnsNames: [], ipAddresses: ['300.1.1.1'] }],
    ['a malformed DNS name', { dnsNames: ['bad_name..example'], ipAddresses: [] }],
    ['a name with a comma', { name: 'peer0,O=org2', dnsNames: ['peer0'], ipAddresses: [] }],
  ])('refuses a node certificate with %s', async (_case, overrides) => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 365 });
    const options = { ca, org: 'org1', role: 'peer', name: 'peer0', validityDays: 1, ...overrides } as const;
    expect((await rejection(issueNodeCert(options))).code).toBe('PKI_BAD_INPUT');
  });
});

describe('renewCert', () => {
  it('certifies the same key, holder and names with a new validity window', async () => {
    const issuedAt = new Date(Date.now() - 30 * DAY_MS);
    const ca = await createOrgCa({ org: 'org1', validityDays: 365, now: issuedAt });
    const old = await issueNodeCert({
      ca,
      org: 'org1',
      role: 'peer',
      name: 'peer0-org1',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.7'],
      validityDays: 40,
      now: issuedAt,
    });
    const renewed = await renewCert({ ca, certPem: old.certPem, keyPem: old.keyPem, validityDays: 90 });

    const before = new X509Certificate(old.certPem);
    const after = new X509Certificate(renewed);
    expect(spkiOf(renewed)).toBe(spkiOf(old.certPem));
    expect(after.subject).toBe(before.subject);
    expect(after.subjectAltName).toBe(before.subjectAltName);
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(Date.parse(after.validTo)).toBeGreaterThan(Date.parse(before.validTo) + 50 * DAY_MS);
    expect(after.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
  });

  it("refuses a key that is not the one the certificate certifies, and another org's CA", async () => {
    const ca = await createOrgCa({ org: 'org1', validityDays: 365 });
    const other = await createOrgCa({ org: 'org2', validityDays: 365 });
    const a = await issueUserCert({ ca, org: 'org1', role: 'admin', name: 'admin', validityDays: 30 });
    const b = await issueUserCert({ ca, org: 'org1', role: 'client', name: 'client', validityDays: 30 });
    expect(
      (await rejection(renewCert({ ca, certPem: a.certPem, keyPem: b.keyPem, validityDays: 30 }))).code,
    ).toBe('PKI_BAD_KEY');
    expect(
      (await rejection(renewCert({ ca: other, certPem: a.certPem, keyPem: a.keyPem, validityDays: 30 })))
        .code,
    ).toBe('PKI_ORG_MISMATCH');
  });
});
