export type ProtocolErrorCode =
  | 'PROTOCOL_OVERSIZED'
  | 'PROTOCOL_MALFORMED'
  | 'PROTOCOL_SCHEMA'
  | 'PROTOCOL_VERSION'
  | 'PROTOCOL_INCONSISTENT';

/** An inbound structure that cannot be accepted; `field` names where the problem is. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
