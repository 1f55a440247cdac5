import { assertIsCa, caOrg } from './ca.js';
import { PkiError } from './errors.js';
import { identityOf } from './identity.js';
import { parseCertificate } from './pem.js';
import type { ParsedCertificate } from './pem.js';
import type { Identity } from './types.js';
import { checkDate } from './validate.js';
import { assertValidAt } from './validity.js';

export interface VerifyChainOptions {
  /** The instant at which the certificates must be valid; defaults to the current time. */
  readonly at?: Date;
}

/**
 * The identity in `certPem` once it is shown to be issued, directly, by one of `caCertPems` (the
 * trusted organisation CAs): signed by it, both valid at `at`, the issuer a CA, and both of the
 * same organisation. Throws a PkiError saying which of these failed, and for which certificate.
 */
export function verifyChain(
  certPem: string,
  caCertPems: readonly string[],
  options: VerifyChainOptions = {},
): Identity {
  const at = checkDate(options.at ?? new Date(), 'at');
  const leaf = parseCertificate(certPem, 'the certificate');
  const identity = identityOf(leaf);
  const cas = caCertPems.map((pem, index) => parseCertificate(pem, `trusted CA certificate #${index}`));
  const issuers = cas.filter((ca) => issued(ca, leaf));
  if (issuers.length === 0) {
    throw new PkiError(
      'PKI_UNTRUSTED',
      `the certificate "${leaf.subject}" (issuer "${leaf.x509.issuer}") is signed by none of the ${cas.length} trusted CAs`,
      { subject: leaf.subject },
    );
  }
  // Several matches happen while a CA is being renewed with the same key and name: the leaf is good
  // if any of them vouches for it, and otherwise the first one's objection is the one reported.
  let firstError: unknown;
  for (const issuer of issuers) {
    try {
      assertIssuedBy(leaf, identity, issuer, at);
      return identity;
    } catch (error) {
      firstError ??= error;
    }
  }
  throw firstError;
}

/** Name chaining plus a signature check by OpenSSL, the same code that TLS handshakes run. */
function issued(ca: ParsedCertificate, leaf: ParsedCertificate): boolean {
  if (
    !Buffer.from(ca.x509.subjectName.toArrayBuffer()).equals(
      Buffer.from(leaf.x509.issuerName.toArrayBuffer()),
    )
  ) {
    return false;
  }
  try {
    return leaf.node.verify(ca.node.publicKey);
  } catch {
    // A CA key of a type that cannot have made this signature.
    return false;
  }
}

function assertIssuedBy(leaf: ParsedCertificate, identity: Identity, ca: ParsedCertificate, at: Date): void {
  assertIsCa(ca, 'the issuing certificate');
  assertValidAt(ca, at, 'the issuing CA');
  assertValidAt(leaf, at, 'the certificate');
  const org = caOrg(ca, 'the issuing CA');
  if (identity.org !== org) {
    throw new PkiError(
      'PKI_ORG_MISMATCH',
      `the certificate "${leaf.subject}" claims organisation "${identity.org}" but its CA "${ca.subject}" is of "${org}"`,
      { subject: leaf.subject },
    );
  }
}
