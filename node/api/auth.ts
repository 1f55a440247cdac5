import { TLSSocket } from 'node:tls';
import type { NextFunction, Request, Response } from 'express';
import { parseIdentity, PkiError, type Identity as CertIdentity, type Role } from '../../certs/index.js';
import type { MembershipVerifier } from '../config/index.js';
import { ApiError } from './errors.js';

/** Who is calling, proven by the TLS client certificate and checked against the consortium. */
export type Caller = CertIdentity;

const PEM_LINE_CHARS = 64;

function derToPem(der: Buffer): string {
  const body =
    der
      .toString('base64')
      .match(new RegExp(`.{1,${PEM_LINE_CHARS}}`, 'g'))
      ?.join('\n') ?? '';
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/**
 * Authenticates the caller from its TLS client certificate. The TLS layer requests a certificate
 * but lets a connection without one through, so probes and Prometheus can reach /healthz,
 * /readyz and /metrics; every other route requires a certificate issued by a consortium CA.
 */
export function callerOf(req: Request, members: () => MembershipVerifier): Caller {
  // The API server is HTTPS-only (server.ts), so every request socket is a TLS socket.
  const socket = req.socket;
  const verifier = members();
  const known = socket instanceof TLSSocket ? verifiedCallers.get(socket) : undefined;
  if (known?.verifier === verifier && Date.now() - known.atMs < CALLER_RECHECK_MS) return known.caller;
  const caller = verifyCaller(socket, verifier);
  if (socket instanceof TLSSocket) verifiedCallers.set(socket, { caller, verifier, atMs: Date.now() });
  return caller;
}

/**
 * A kept-alive connection carries one client certificate for its whole life, and parsing and
 * checking it cost more CPU than anything else a gateway does per request: the verdict is kept
 * per connection, rechecked every CALLER_RECHECK_MS (expiry) and whenever the configuration in
 * force (hence the verifier) changes.
 */
const verifiedCallers = new WeakMap<
  TLSSocket,
  { readonly caller: Caller; readonly verifier: MembershipVerifier; readonly atMs: number }
>();
export const CALLER_RECHECK_MS = 10_000;

function verifyCaller(socket: Request['socket'], verifier: MembershipVerifier): Caller {
  const cert = socket instanceof TLSSocket ? socket.getPeerCertificate(true) : undefined;
  if (cert?.raw === undefined)
    throw new ApiError(401, 'API_NO_CERTIFICATE', 'a client certificate is required');
  const pem = derToPem(cert.raw);
  let org: string;
  try {
    org = parseIdentity(pem).org;
  } catch (e) {
    if (e instanceof PkiError) throw new ApiError(401, 'API_BAD_CERTIFICATE', e.message);
    throw e;
  }
  const verdict = verifier.check(
    { org: org as never, cert: pem },
    ['client', 'admin', 'peer', 'orderer'],
    new Date(),
  );
  if (!verdict.ok) throw new ApiError(403, 'API_NOT_A_MEMBER', `certificate refused: ${verdict.problem}`);
  return verdict.identity;
}

export function requireRole(members: () => MembershipVerifier, roles: readonly Role[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const caller = callerOf(req, members);
    if (!roles.includes(caller.role)) {
      throw new ApiError(
        403,
        'API_FORBIDDEN',
        `${caller.name}@${caller.org} has role ${caller.role}; this needs ${roles.join(' or ')}`,
      );
    }
    res.locals.caller = caller;
    next();
  };
}
