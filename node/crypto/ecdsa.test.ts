import { describe, expect, it } from '@jest/globals';
import { inspect } from 'node:util';
import { SigningDomain } from '../protocol/index.js';
import { CryptoError } from './errors.js';
import { highSTwin, SigningKey, VerifyingKey } from './ecdsa.js';

const HALF_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n >> 1n;
const message = Buffer.from('{"isin":"DK0060534915","price":23,"volume":3200}');

describe('ECDSA P-256 signatures', () => {
  const key = SigningKey.generate();
  const pub = key.verifyingKey;

  it('signs and verifies a message within its domain', () => {
    const sig = key.sign(SigningDomain.envelope, message);
    expect(sig).toMatch(/^[0-9a-f]{128}$/);
    expect(pub.verify(SigningDomain.envelope, message, sig)).toBe(true);
  });

  it('refuses a signature made for another domain, another message or another key', () => {
    const sig = key.sign(SigningDomain.envelope, message);
    expect(pub.verify(SigningDomain.commitVote, message, sig)).toBe(false);
    expect(pub.verify(SigningDomain.envelope, Buffer.from('tampered'), sig)).toBe(false);
    expect(SigningKey.generate().verifyingKey.verify(SigningDomain.envelope, message, sig)).toBe(false);
  });

  it('only ever produces low-S signatures', () => {
    for (let i = 0; i < 200; i++) {
      const sig = key.sign(SigningDomain.proposal, Buffer.from(`m${i}`));
      expect(BigInt(`0x${sig.slice(64)}`) <= HALF_ORDER).toBe(true);
    }
  });

  it('rejects the high-S twin of a valid signature (malleability)', () => {
    const sig = key.sign(SigningDomain.proposal, message);
    const twin = highSTwin(sig);
    expect(twin).not.toBe(sig);
    expect(pub.verify(SigningDomain.proposal, message, twin)).toBe(false);
  });

  it('rejects malformed signatures without throwing', () => {
    const sig = key.sign(SigningDomain.proposal, message);
    for (const bad of ['', sig.slice(2), `${sig}00`, sig.toUpperCase(), 'zz'.repeat(64), '0'.repeat(128)]) {
      expect(pub.verify(SigningDomain.proposal, message, bad)).toBe(false);
    }
  });

  it('round-trips keys through PEM and refuses keys on other curves', () => {
    const again = SigningKey.fromPem(key.toPem());
    const sig = again.sign(SigningDomain.response, message);
    expect(VerifyingKey.fromPem(pub.toPem()).verify(SigningDomain.response, message, sig)).toBe(true);
    expect(() => SigningKey.fromPem('not a key')).toThrow(CryptoError);
    expect(() =>
      VerifyingKey.fromPem('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'),
    ).toThrow(CryptoError);
  });

  it('never shows private key material when logged', () => {
    const pem = key.toPem();
    const body = pem.split('\n')[1] as string;
    expect(inspect(key)).not.toContain(body);
    expect(JSON.stringify({ key })).not.toContain(body);
    let message = '';
    try {
      SigningKey.fromPem(pem.replace(body, body.slice(0, 10)));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe('private key is not a readable PEM/DER key');
  });
});
