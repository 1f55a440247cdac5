export type PeerErrorCode =
  | 'PEER_BAD_PROPOSAL'
  | 'PEER_BAD_SIGNATURE'
  | 'PEER_UNAUTHORIZED'
  | 'PEER_CONTRACT_NOT_FOUND'
  | 'PEER_CONTRACT_FAILED'
  | 'PEER_ENDORSEMENT_UNAVAILABLE'
  | 'PEER_ENDORSEMENTS_DIVERGE'
  | 'PEER_SUBMIT_FAILED'
  | 'PEER_BAD_CONFIG_UPDATE'
  | 'PEER_COMMIT_TIMEOUT';

/** Why a proposal was not endorsed or a submission did not complete; `code` is stable. */
export class PeerError extends Error {
  override readonly name = 'PeerError';
  constructor(
    readonly code: PeerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
