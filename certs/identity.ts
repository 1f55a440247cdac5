import { createHash } from 'node:crypto';
import { PkiError } from './errors.js';
import { parseCertificate } from './pem.js';
import type { ParsedCertificate } from './pem.js';
import { singleField } from './subject.js';
import type { SubjectField } from './subject.js';
import { isRole, ROLES } from './types.js';
import type { Identity } from './types.js';

/**
 * Reads who a certificate names. This checks no signature and no dates; use `verifyChain` to
 * decide whether to believe it.
 */
export function parseIdentity(certPem: string): Identity {
  return identityOf(parseCertificate(certPem, 'the certificate'));
}

export function identityOf(cert: ParsedCertificate): Identity {
  const field = (key: SubjectField, meaning: string): string => {
    const value = singleField(cert.x509.subjectName, key);
    if (value === undefined) {
      throw new PkiError(
        'PKI_BAD_IDENTITY',
        `the certificate "${cert.subject}" does not have exactly one ${meaning} (${key})`,
        {
          subject: cert.subject,
        },
      );
    }
    return value;
  };
  const org = field('O', 'organisation');
  const role = field('OU', 'role');
  const name = field('CN', 'name');
  if (!isRole(role)) {
    throw new PkiError(
      'PKI_BAD_IDENTITY',
      `the certificate "${cert.subject}" has role "${role}", which is none of ${ROLES.join(', ')}`,
      { subject: cert.subject },
    );
  }
  return {
    org,
    role,
    name,
    notBefore: cert.x509.notBefore,
    notAfter: cert.x509.notAfter,
    fingerprint: createHash('sha256').update(cert.der).digest('hex'),
    publicKeyPem: cert.node.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
