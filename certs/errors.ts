export type PkiErrorCode =
  /** Text that is not exactly one PEM block of the expected kind, or whose DER does not parse. */
  | 'PKI_BAD_PEM'
  /** A private key that cannot be loaded, is not ECDSA P-256, or does not match its certificate. */
  | 'PKI_BAD_KEY'
  /** A caller-supplied argument (name, DNS name, IP, validity) that is out of bounds. */
  | 'PKI_BAD_INPUT'
  /** A CSR whose self-signature does not verify or whose contents cannot be used. */
  | 'PKI_BAD_CSR'
  /** A certificate without exactly one O, OU and CN, or with an unknown role. */
  | 'PKI_BAD_IDENTITY'
  /** A certificate signed by none of the trusted CAs. */
  | 'PKI_UNTRUSTED'
  /** A certificate that acts as an issuer but is not a CA. */
  | 'PKI_NOT_A_CA'
  | 'PKI_EXPIRED'
  | 'PKI_NOT_YET_VALID'
  /** An organisation that differs from the one of the CA it is checked against. */
  | 'PKI_ORG_MISMATCH';

/**
 * Every failure of the certs module. `code` is stable and meant for programs; `message` is meant for
 * people and names the certificate concerned. `subject` is that certificate's subject when there is
 * one, so a caller can tell a problem with a leaf from one with its CA. Never carries key material.
 */
export class PkiError extends Error {
  override readonly name = 'PkiError';
  readonly code: PkiErrorCode;
  readonly subject: string | undefined;

  constructor(code: PkiErrorCode, message: string, options?: { subject?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.subject = options?.subject;
  }
}
