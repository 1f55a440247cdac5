export { highSTwin, SigningKey, VerifyingKey } from './ecdsa.js';
export { CERT_KEY_CACHE_ENTRIES_MAX, CertificateKeyCache } from './key-cache.js';
export { CryptoError, type CryptoErrorCode } from './errors.js';
