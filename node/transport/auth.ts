import { createHash, X509Certificate } from 'node:crypto';
import { PkiError, verifyChain } from '../../certs/index.js';
import type { NodeRole, Role } from '../../certs/index.js';
import type { NetworkConfig, NodeName, OrgName } from '../protocol/index.js';
import { TransportError } from './errors.js';
import type { TransportErrorCode } from './errors.js';

/** Who is at the other end of a link, as proven by its certificate. Handed up with every message. */
export interface PeerIdentity {
  readonly name: NodeName;
  readonly org: OrgName;
  readonly role: Role;
}

/** A node of the configuration, with what is needed to reach it and to recognise its certificate. */
export interface Member extends PeerIdentity {
  readonly role: NodeRole;
  readonly host: string;
  readonly port: number;
  readonly certPem: string;
  /**
   * SHA-256 of the certified public key (SubjectPublicKeyInfo DER), lower-case hex: the member's
   * key, not just its subject. A renewed certificate for the same key keeps it, so a node that
   * has not yet applied a renewal still recognises (and is recognised by) the renewed member.
   */
  readonly fingerprint: string;
}

/** Decides whether a peer that proved its identity may hold a link with this node. */
export type LinkPolicy = (peer: PeerIdentity) => boolean;

/** Node-to-node links carry consensus and blocks: orderers and peers, never client or admin identities. */
export const allowNodeRoles: LinkPolicy = (peer) => peer.role === 'orderer' || peer.role === 'peer';

/** The part of a NetworkConfig the transport needs, indexed for the checks done on every handshake. */
export class Membership {
  private constructor(
    readonly networkId: string,
    readonly caCerts: readonly string[],
    private readonly byName: ReadonlyMap<string, Member>,
  ) {}

  static fromConfig(config: NetworkConfig): Membership {
    const byName = new Map<string, Member>();
    const add = (role: NodeRole, entry: NetworkConfig['orderers'][number]): void => {
      let fingerprint: string;
      try {
        fingerprint = keyFingerprintOf(new X509Certificate(entry.cert).raw);
      } catch (error) {
        throw new TransportError(
          'TRANSPORT_BAD_OPTIONS',
          `the certificate of member "${entry.name}" cannot be read`,
          { cause: error },
        );
      }
      if (byName.has(entry.name)) {
        throw new TransportError('TRANSPORT_BAD_OPTIONS', `member "${entry.name}" is listed twice`);
      }
      byName.set(entry.name, {
        name: entry.name,
        org: entry.org,
        role,
        host: entry.host,
        port: entry.port,
        certPem: entry.cert,
        fingerprint,
      });
    };
    for (const entry of config.orderers) add('orderer', entry);
    for (const entry of config.peers) add('peer', entry);
    const caCerts = config.orgs.flatMap((org) => org.caCerts);
    return new Membership(config.networkId, caCerts, byName);
  }

  get(name: string): Member | undefined {
    return this.byName.get(name);
  }

  members(): readonly Member[] {
    return [...this.byName.values()];
  }
}

export function derToPem(der: Buffer): string {
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}

/** SHA-256 of the public key a DER certificate certifies (see Member.fingerprint). */
export function keyFingerprintOf(certDer: Buffer): string {
  const spki = new X509Certificate(certDer).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex');
}

/**
 * Decides whether the certificate an inbound connection presented belongs to a member allowed on
 * this link. OpenSSL has already checked the chain against the same CAs; this repeats it through
 * the PKI module (same rules as everywhere else: organisation of the CA, validity) and then requires
 * the exact certificate of a current member, so a valid certificate of a removed or never-listed
 * node is refused. Throws a TransportError naming the cause.
 */
export function authorizeInbound(
  certDer: Buffer | undefined,
  membership: Membership,
  allow: LinkPolicy,
  at: Date,
): Member {
  const { identity, fingerprint } = verifiedIdentity(certDer, membership, at);
  const peer = { name: identity.name as NodeName, org: identity.org as OrgName, role: identity.role };
  if (!allow(peer)) {
    throw new TransportError(
      'TRANSPORT_ROLE_NOT_ALLOWED',
      `"${peer.name}" of ${peer.org} has role "${peer.role}", which this link does not allow`,
    );
  }
  const member = membership.get(identity.name);
  if (member?.fingerprint !== fingerprint) {
    throw new TransportError(
      'TRANSPORT_NOT_MEMBER',
      member === undefined
        ? `"${identity.name}" of ${identity.org} is not a member of network "${membership.networkId}"`
        : `"${identity.name}" presented a certificate for a key other than the one the configuration lists for it`,
    );
  }
  if (member.org !== identity.org || member.role !== identity.role) {
    throw new TransportError(
      'TRANSPORT_NOT_MEMBER',
      `"${identity.name}" is listed as ${member.role} of ${member.org}, its certificate says ${identity.role} of ${identity.org}`,
    );
  }
  return member;
}

/**
 * The client-side twin: the server reached at a member's address must present exactly that
 * member's certificate. Returns an Error (not throws) for use as tls' checkServerIdentity.
 */
export function checkServerIsMember(
  certDer: Buffer | undefined,
  expected: Member,
  membership: Membership,
  at: Date,
): TransportError | undefined {
  try {
    const { identity, fingerprint } = verifiedIdentity(certDer, membership, at);
    if (fingerprint !== expected.fingerprint || identity.name !== expected.name) {
      return new TransportError(
        'TRANSPORT_NOT_MEMBER',
        `the server at ${expected.host}:${expected.port} is "${identity.name}" of ${identity.org}, not the configured certificate of "${expected.name}"`,
      );
    }
    return undefined;
  } catch (error) {
    if (error instanceof TransportError) return error;
    return new TransportError('TRANSPORT_CERT_INVALID', 'the server certificate cannot be checked', {
      cause: error,
    });
  }
}

function verifiedIdentity(
  certDer: Buffer | undefined,
  membership: Membership,
  at: Date,
): { identity: ReturnType<typeof verifyChain>; fingerprint: string } {
  if (certDer === undefined || certDer.length === 0) {
    throw new TransportError('TRANSPORT_NO_CERTIFICATE', 'no certificate was presented');
  }
  try {
    const identity = verifyChain(derToPem(certDer), membership.caCerts, { at });
    return { identity, fingerprint: keyFingerprintOf(certDer) };
  } catch (error) {
    if (error instanceof PkiError) {
      throw new TransportError(pkiCode(error), `certificate refused: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

function pkiCode(error: PkiError): TransportErrorCode {
  switch (error.code) {
    case 'PKI_EXPIRED':
      return 'TRANSPORT_CERT_EXPIRED';
    case 'PKI_NOT_YET_VALID':
      return 'TRANSPORT_CERT_NOT_YET_VALID';
    case 'PKI_UNTRUSTED':
    case 'PKI_ORG_MISMATCH':
    case 'PKI_NOT_A_CA':
      return 'TRANSPORT_CERT_UNTRUSTED';
    case 'PKI_BAD_PEM':
    case 'PKI_BAD_KEY':
    case 'PKI_BAD_INPUT':
    case 'PKI_BAD_CSR':
    case 'PKI_BAD_IDENTITY':
      return 'TRANSPORT_CERT_INVALID';
    default: {
      const unreachable: never = error.code;
      return unreachable;
    }
  }
}

/** OpenSSL's verdicts (Node's `authorizationError` and error codes): our refusal code and what it means. */
const OPENSSL_VERDICTS: ReadonlyMap<string, readonly [TransportErrorCode, string]> = new Map<
  string,
  readonly [TransportErrorCode, string]
>([
  ['CERT_HAS_EXPIRED', ['TRANSPORT_CERT_EXPIRED', 'the certificate has expired']],
  ['CERT_NOT_YET_VALID', ['TRANSPORT_CERT_NOT_YET_VALID', 'the certificate is not yet valid']],
  [
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    ['TRANSPORT_CERT_UNTRUSTED', 'no consortium CA issued the certificate'],
  ],
  ['UNABLE_TO_GET_ISSUER_CERT', ['TRANSPORT_CERT_UNTRUSTED', 'no consortium CA issued the certificate']],
  [
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    ['TRANSPORT_CERT_UNTRUSTED', 'no consortium CA issued the certificate'],
  ],
  ['SELF_SIGNED_CERT_IN_CHAIN', ['TRANSPORT_CERT_UNTRUSTED', 'the chain ends in an untrusted root']],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', ['TRANSPORT_CERT_UNTRUSTED', 'the certificate is self-signed']],
  ['CERT_SIGNATURE_FAILURE', ['TRANSPORT_CERT_UNTRUSTED', 'the certificate signature does not verify']],
  ['CERT_UNTRUSTED', ['TRANSPORT_CERT_UNTRUSTED', 'the certificate is not trusted']],
  ['CERT_REJECTED', ['TRANSPORT_CERT_UNTRUSTED', 'the certificate is rejected']],
  ['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', ['TRANSPORT_NO_CERTIFICATE', 'no certificate was presented']],
  ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', ['TRANSPORT_NO_CERTIFICATE', 'no certificate was presented']],
]);

/**
 * The refusal code and a readable cause for a failed TLS handshake. `verdict` is the socket's
 * `authorizationError` (set when OpenSSL finished the handshake but rejected the certificate); it
 * wins over the error, which is then only the generic "socket hang up" of the destroyed socket.
 */
export function tlsRefusal(error: unknown, verdict?: unknown): { code: TransportErrorCode; cause: string } {
  if (error instanceof TransportError) return { code: error.code, cause: error.message };
  const verdictCode = codeOf(verdict);
  const errorCode = codeOf(error);
  for (const key of [verdictCode, errorCode]) {
    const known = key === undefined ? undefined : OPENSSL_VERDICTS.get(key);
    if (known !== undefined) return { code: known[0], cause: `${known[1]} (${key})` };
  }
  const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
  return {
    code: 'TRANSPORT_TLS_HANDSHAKE',
    cause: errorCode === undefined ? message : `${message} (${errorCode})`,
  };
}

function codeOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const code = (value as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The certificate the remote end presented, as DER, or undefined when it presented none. */
export function peerCertificateDer(socket: {
  getPeerCertificate(detailed: true): { raw?: Buffer } | null;
}): Buffer | undefined {
  const cert = socket.getPeerCertificate(true);
  return cert?.raw !== undefined && cert.raw.length > 0 ? cert.raw : undefined;
}
