import { X509Certificate } from 'node:crypto';
import type { CertificateWithKey } from '../certs/index.js';
import type { Organisation } from '../node/protocol/index.js';

/*
 * Pure: the next step of renewing an organisation's CA, derived from the CA certificates the
 * configuration in force trusts for it and the CA kept in its Secret (level-triggered, so a
 * restarted operator derives the same step). The CA is renewed with the SAME key and subject
 * (certs' renewOrgCa), so every certificate it ever issued verifies against the renewed one too:
 *
 *   renew     set-org-cas [renewed, old]   (committed: both versions trusted)
 *   store     the renewed certificate into the CA Secret, in place (same key)
 *   drop-old  set-org-cas [renewed]        (the old version no longer trusted)
 *
 * Only versions of the same CA (same key and subject as the Secret's) are ever dropped: a CA
 * certificate of another key that someone added is left alone.
 */

export type CaStep =
  /** The configuration trusts a renewed version of the CA the Secret does not hold yet. */
  | { readonly kind: 'store'; readonly org: string; readonly certPem: string }
  /** The configuration trusts no certificate for the Secret's key: nothing can be done safely. */
  | { readonly kind: 'mismatch'; readonly org: string; readonly message: string }
  /** Older versions of the CA are still trusted beside the one in the Secret: trust `caCerts` only. */
  | { readonly kind: 'drop-old'; readonly org: string; readonly caCerts: readonly string[] }
  /** The CA in the Secret is due for renewal. */
  | { readonly kind: 'renew'; readonly org: string; readonly ca: CertificateWithKey };

function spki(certPem: string): Buffer {
  return new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
}

/** Whether two certificates are versions of one CA: the same subject and the same key. */
export function sameCa(aPem: string, bPem: string): boolean {
  const a = new X509Certificate(aPem);
  const b = new X509Certificate(bPem);
  return a.subject === b.subject && spki(aPem).equals(spki(bPem));
}

/** Whether `certPem` has less than `fraction` of its lifetime left at `now`. */
export function renewalDue(certPem: string, now: Date, fraction: number): boolean {
  const cert = new X509Certificate(certPem);
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return to - now.getTime() < fraction * (to - from);
}

/**
 * The next CA step over all organisations, or undefined if none is due: first a renewal to store
 * (cheap, and it lets the next steps see it), then older versions to drop (finishing a roll that
 * began), then the CA closest to expiry that is due. Organisations with no CA in `cas` are skipped.
 */
export function nextCaStep(
  orgs: readonly Organisation[],
  cas: ReadonlyMap<string, CertificateWithKey>,
  now: Date,
  fraction: number,
): CaStep | undefined {
  const steps: CaStep[] = [];
  for (const org of orgs) {
    const ca = cas.get(org.name);
    if (ca === undefined) continue;
    const versions = org.caCerts.filter((c) => sameCa(c, ca.certPem));
    const newest = org.caCerts[0];
    if (newest === undefined || versions.length === 0) {
      steps.push({
        kind: 'mismatch',
        org: org.name,
        message: `the configuration trusts no certificate of the CA of ${org.name} kept in its Secret (another key or subject); its CA is not renewed`,
      });
      continue;
    }
    const notAfter = (pem: string) => Date.parse(new X509Certificate(pem).validTo);
    if (newest !== ca.certPem && sameCa(newest, ca.certPem) && notAfter(newest) > notAfter(ca.certPem)) {
      steps.push({ kind: 'store', org: org.name, certPem: newest });
      continue;
    }
    const older = org.caCerts.filter((c) => c !== ca.certPem && sameCa(c, ca.certPem));
    if (older.length > 0) {
      steps.push({ kind: 'drop-old', org: org.name, caCerts: org.caCerts.filter((c) => !older.includes(c)) });
      continue;
    }
    if (renewalDue(ca.certPem, now, fraction)) steps.push({ kind: 'renew', org: org.name, ca });
  }
  const rank: Record<CaStep['kind'], number> = { mismatch: 0, store: 1, 'drop-old': 2, renew: 3 };
  const expiry = (s: CaStep) =>
    s.kind === 'renew' ? Date.parse(new X509Certificate(s.ca.certPem).validTo) : 0;
  return [...steps].sort((a, b) => rank[a.kind] - rank[b.kind] || expiry(a) - expiry(b))[0];
}
