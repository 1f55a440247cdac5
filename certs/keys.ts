import { createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { PkiError } from './errors.js';

// The lib setting has no DOM, so the WebCrypto types come from node's own declarations.
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** One algorithm for everything: ECDSA P-256 is what TLS 1.3 stacks and HSMs all support. */
export const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
/** What OpenSSL (and so node's KeyObject) calls P-256. */
const OPENSSL_P256 = 'prime256v1';

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  // Extractable so the private key can be written out as PKCS#8; it never leaves this process otherwise.
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', key);
  return createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

/** Loads a PKCS#8 (or SEC1) PEM as a signing key; `owner` names whose key it is, for the error. */
export async function importSigningKey(
  keyPem: string,
  owner: string,
): Promise<{ key: CryptoKey; keyObject: KeyObject }> {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(keyPem);
  } catch (cause) {
    // The cause is OpenSSL's decoder error; it does not echo the key, so it is safe to keep.
    throw new PkiError('PKI_BAD_KEY', `the private key of ${owner} cannot be loaded`, {
      subject: owner,
      cause,
    });
  }
  assertP256(keyObject, owner);
  const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' });
  const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, KEY_ALGORITHM, false, ['sign']);
  return { key, keyObject };
}

export function assertP256(key: KeyObject, owner: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== OPENSSL_P256) {
    const kind = key.asymmetricKeyType ?? key.type;
    throw new PkiError('PKI_BAD_KEY', `the key of ${owner} is ${kind}, not ECDSA P-256`, { subject: owner });
  }
}

/** DER SubjectPublicKeyInfo, the form in which two public keys are compared byte for byte. */
export function spkiDer(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
}
