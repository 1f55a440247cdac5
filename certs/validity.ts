import { PkiError } from './errors.js';
import type { ParsedCertificate } from './pem.js';
import { MS_PER_DAY } from './validate.js';

/**
 * notBefore is set this far before "now" so that a certificate issued on one machine is already
 * valid on another whose clock runs a little behind (Let's Encrypt and cfssl do the same).
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 5 * 60 * 1000;
/** X.509 times carry whole seconds; rounding here keeps the dates we return equal to those encoded. */
const MS_PER_SECOND = 1000;

function toWholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / MS_PER_SECOND) * MS_PER_SECOND);
}

export function validityWindow(now: Date, validityDays: number): { notBefore: Date; notAfter: Date } {
  return {
    notBefore: toWholeSeconds(now.getTime() - CLOCK_SKEW_ALLOWANCE_MS),
    notAfter: toWholeSeconds(now.getTime() + validityDays * MS_PER_DAY),
  };
}

/** Throws PKI_EXPIRED or PKI_NOT_YET_VALID unless `at` lies within the certificate's validity (inclusive). */
export function assertValidAt(cert: ParsedCertificate, at: Date, what: string): void {
  const { notBefore, notAfter } = cert.x509;
  if (at.getTime() > notAfter.getTime()) {
    throw new PkiError(
      'PKI_EXPIRED',
      `${what} "${cert.subject}" expired at ${notAfter.toISOString()} (checked at ${at.toISOString()})`,
      { subject: cert.subject },
    );
  }
  if (at.getTime() < notBefore.getTime()) {
    throw new PkiError(
      'PKI_NOT_YET_VALID',
      `${what} "${cert.subject}" is not valid before ${notBefore.toISOString()} (checked at ${at.toISOString()})`,
      { subject: cert.subject },
    );
  }
}
