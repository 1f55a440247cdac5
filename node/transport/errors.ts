/**
 * Why a frame, a connection or a call was refused. Codes are stable (metrics and logs key on them);
 * messages are for people and name the remote address or member concerned.
 */
export type TransportErrorCode =
  /** A frame whose length field exceeds FRAME_BYTES_MAX or the cap of its kind. */
  | 'TRANSPORT_FRAME_OVERSIZED'
  /** A frame whose length field is zero: every frame carries at least its kind byte. */
  | 'TRANSPORT_FRAME_EMPTY'
  /** A frame kind this version does not know. */
  | 'TRANSPORT_FRAME_UNKNOWN_KIND'
  /** The stream ended in the middle of a frame. */
  | 'TRANSPORT_FRAME_TRUNCATED'
  /** A HELLO whose payload does not parse, or a frame that is not allowed at this point (e.g. before HELLO). */
  | 'TRANSPORT_PROTOCOL'
  /** A HELLO naming another network, another protocol version, or a node other than the certificate's. */
  | 'TRANSPORT_HELLO_MISMATCH'
  /** No HELLO within the hello timeout. */
  | 'TRANSPORT_HELLO_TIMEOUT'
  /** The TLS handshake failed or timed out (plain TCP, wrong protocol version, reset). */
  | 'TRANSPORT_TLS_HANDSHAKE'
  /** The remote presented no certificate. */
  | 'TRANSPORT_NO_CERTIFICATE'
  /** A certificate signed by none of the consortium's CAs (or of the wrong organisation for its CA). */
  | 'TRANSPORT_CERT_UNTRUSTED'
  | 'TRANSPORT_CERT_EXPIRED'
  | 'TRANSPORT_CERT_NOT_YET_VALID'
  /** A certificate without a usable identity (O, OU, CN). */
  | 'TRANSPORT_CERT_INVALID'
  /** A trusted certificate that is not exactly the certificate of a member of the current configuration. */
  | 'TRANSPORT_NOT_MEMBER'
  /** A member whose role the link policy does not allow. */
  | 'TRANSPORT_ROLE_NOT_ALLOWED'
  /** A member dialing us although, by the name order, we dial it (see transport.ts). */
  | 'TRANSPORT_WRONG_DIRECTION'
  /** Nothing received from the peer for the dead-peer timeout. */
  | 'TRANSPORT_PEER_TIMEOUT'
  /** The peer has not read what we sent for the write-stall timeout. */
  | 'TRANSPORT_PEER_STALLED'
  /** A newer connection of the same member replaced this one. */
  | 'TRANSPORT_REPLACED'
  /** The member left the configuration or its certificate changed. */
  | 'TRANSPORT_MEMBER_REMOVED'
  /** The peer said GOODBYE, or closed the connection. */
  | 'TRANSPORT_PEER_CLOSED'
  /** A socket error after the link was up (reset, broken pipe). */
  | 'TRANSPORT_SOCKET'
  /** Options or a configuration that cannot be used. */
  | 'TRANSPORT_BAD_OPTIONS'
  /** The transport is closed. */
  | 'TRANSPORT_CLOSED';

export class TransportError extends Error {
  override readonly name = 'TransportError';
  readonly code: TransportErrorCode;

  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}
