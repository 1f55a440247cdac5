import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import type { SignatureHex, SigningDomain } from '../protocol/index.js';
import { CryptoError } from './errors.js';

/*
 * ECDSA P-256 with SHA-256 on node:crypto (OpenSSL): ~50x faster than pure-JS curve code.
 * Signatures are IEEE P1363 (r || s, 32 bytes each, 64 in all), carried as 128 hex chars:
 * fixed length, no DER ambiguity. Only low-S signatures (s <= n/2) are produced or accepted,
 * so a third party cannot turn one valid signature into a second valid one (malleability).
 */

const CURVE = 'prime256v1';
const SIGNATURE_BYTES = 64;
const SCALAR_BYTES = 32;
/** Order of the P-256 group. */
const CURVE_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const HALF_ORDER = CURVE_ORDER >> 1n;

/** Message = "chainnode:v1:<domain>\n" || bytes; see SigningDomain. */
function signedMessage(domain: SigningDomain, bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`chainnode:v1:${domain}\n`, 'utf8'), bytes]);
}

function assertP256(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== CURVE) {
    throw new CryptoError(
      'CRYPTO_WRONG_CURVE',
      `${what} is ${key.asymmetricKeyType ?? 'unknown'}/${key.asymmetricKeyDetails?.namedCurve ?? '-'}, expected EC P-256`,
    );
  }
}

function readScalar(sig: Buffer, offset: number): bigint {
  return BigInt(`0x${sig.subarray(offset, offset + SCALAR_BYTES).toString('hex')}`);
}

/** Rewrites s to n - s when s is high; both verify, only the low one is canonical. */
function normaliseLowS(sig: Buffer): Buffer {
  const s = readScalar(sig, SCALAR_BYTES);
  if (s <= HALF_ORDER) return sig;
  const low = Buffer.from((CURVE_ORDER - s).toString(16).padStart(SCALAR_BYTES * 2, '0'), 'hex');
  return Buffer.concat([sig.subarray(0, SCALAR_BYTES), low]);
}

/** A private key parsed once into an OpenSSL KeyObject; the PEM is never kept or printed. */
export class SigningKey {
  private constructor(private readonly key: KeyObject) {}

  static fromPem(pem: string | Buffer): SigningKey {
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (cause) {
      // The message deliberately omits the input: it is a secret.
      throw new CryptoError('CRYPTO_BAD_KEY', 'private key is not a readable PEM/DER key', { cause });
    }
    assertP256(key, 'private key');
    return new SigningKey(key);
  }

  static generate(): SigningKey {
    return new SigningKey(generateKeyPairSync('ec', { namedCurve: CURVE }).privateKey);
  }

  get verifyingKey(): VerifyingKey {
    return VerifyingKey.fromKeyObject(createPublicKey(this.key));
  }

  toPem(): string {
    return this.key.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  sign(domain: SigningDomain, bytes: Uint8Array): SignatureHex {
    const raw = nodeSign('sha256', signedMessage(domain, bytes), {
      key: this.key,
      dsaEncoding: 'ieee-p1363',
    });
    return normaliseLowS(raw).toString('hex') as SignatureHex;
  }

  /** Keeps the key out of util.inspect / console.log output. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'SigningKey <redacted>';
  }

  toJSON(): string {
    return 'SigningKey <redacted>';
  }
}

export class VerifyingKey {
  private constructor(private readonly key: KeyObject) {}

  static fromKeyObject(key: KeyObject): VerifyingKey {
    assertP256(key, 'public key');
    return new VerifyingKey(key);
  }

  static fromPem(pem: string | Buffer): VerifyingKey {
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (cause) {
      throw new CryptoError('CRYPTO_BAD_KEY', 'public key is not a readable PEM key', { cause });
    }
    return VerifyingKey.fromKeyObject(key);
  }

  static fromCertificate(certPem: string): VerifyingKey {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch (cause) {
      throw new CryptoError('CRYPTO_BAD_CERT', 'certificate is not a readable PEM X.509 certificate', {
        cause,
      });
    }
    return VerifyingKey.fromKeyObject(cert.publicKey);
  }

  toPem(): string {
    return this.key.export({ type: 'spki', format: 'pem' }).toString();
  }

  /** False (never throws) for a wrong, malformed or high-S signature: callers branch on it. */
  verify(domain: SigningDomain, bytes: Uint8Array, signature: string): boolean {
    if (signature.length !== SIGNATURE_BYTES * 2 || !/^[0-9a-f]+$/.test(signature)) return false;
    const sig = Buffer.from(signature, 'hex');
    const s = readScalar(sig, SCALAR_BYTES);
    if (s === 0n || s > HALF_ORDER) return false;
    return nodeVerify(
      'sha256',
      signedMessage(domain, bytes),
      { key: this.key, dsaEncoding: 'ieee-p1363' },
      sig,
    );
  }
}

/** Test and tooling helper: the high-S twin of a valid signature (verifies under plain ECDSA). */
export function highSTwin(signature: SignatureHex): SignatureHex {
  const sig = Buffer.from(signature, 'hex');
  const s = readScalar(sig, SCALAR_BYTES);
  const twin = Buffer.from((CURVE_ORDER - s).toString(16).padStart(SCALAR_BYTES * 2, '0'), 'hex');
  return Buffer.concat([sig.subarray(0, SCALAR_BYTES), twin]).toString('hex') as SignatureHex;
}
