export type CryptoErrorCode = 'CRYPTO_BAD_KEY' | 'CRYPTO_BAD_CERT' | 'CRYPTO_WRONG_CURVE';

export class CryptoError extends Error {
  override readonly name = 'CryptoError';
  constructor(
    readonly code: CryptoErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
