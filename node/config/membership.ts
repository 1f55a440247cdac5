import { PkiError, verifyChain, type Identity as CertIdentity, type Role } from '../../certs/index.js';
import type { Identity, NetworkConfig } from '../protocol/index.js';

/** Distinct certificates whose chain check is remembered; bounded so a flood cannot grow it. */
export const IDENTITY_CACHE_ENTRIES_MAX = 4096;

export type IdentityVerdict = { ok: true; identity: CertIdentity } | { ok: false; problem: string };

/**
 * Decides whether a signer's certificate belongs to the consortium: issued by its organisation's
 * CA in the configuration, valid at the given time, with an acceptable role. Chain checks cost
 * a certificate parse and a signature verification, so each certificate is checked once per
 * configuration and only its validity window is re-checked per use.
 */
export class MembershipVerifier {
  private readonly cache = new Map<string, CertIdentity>();

  constructor(private readonly config: NetworkConfig) {}

  check(signer: Identity, roles: readonly Role[], at: Date): IdentityVerdict {
    const key = `${signer.org}\u0000${signer.cert}`;
    let identity = this.cache.get(key);
    if (identity === undefined) {
      const verdict = this.verify(signer, at);
      if (!verdict.ok) return verdict;
      identity = verdict.identity;
      // Only successes are remembered: a certificate refused now (say, not valid yet) gets a
      // fresh hearing next time. A leaf never outlives its CA (issuance caps it), so checking
      // the leaf's window per use below keeps a cached success honest.
      this.cache.set(key, identity);
      if (this.cache.size > IDENTITY_CACHE_ENTRIES_MAX) {
        const oldest = this.cache.keys().next();
        if (oldest.done !== true) this.cache.delete(oldest.value);
      }
    }
    if (at < identity.notBefore)
      return { ok: false, problem: `certificate of ${identity.name} is not valid yet` };
    if (at > identity.notAfter) return { ok: false, problem: `certificate of ${identity.name} has expired` };
    if (!roles.includes(identity.role)) {
      return {
        ok: false,
        problem: `${identity.name} has role ${identity.role}, needs ${roles.join(' or ')}`,
      };
    }
    return { ok: true, identity };
  }

  private verify(signer: Identity, at: Date): IdentityVerdict {
    const org = this.config.orgs.find((o) => o.name === signer.org);
    if (org === undefined) return { ok: false, problem: `org "${signer.org}" is not in the configuration` };
    try {
      const identity = verifyChain(signer.cert, org.caCerts, { at });
      if (identity.org !== signer.org)
        return { ok: false, problem: `certificate is of org ${identity.org}, not ${signer.org}` };
      return { ok: true, identity };
    } catch (e) {
      if (e instanceof PkiError) return { ok: false, problem: e.message };
      throw e;
    }
  }
}
