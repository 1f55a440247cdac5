export type LocalErrorCode =
  /** No supervisor (`chainnode up`) runs this network's directory, or it does not answer. */
  | 'LOCAL_NOT_RUNNING'
  /** The supervisor answered but could not do what was asked (start or stop a node). */
  | 'LOCAL_SUPERVISOR'
  /** The command line names something that does not exist or may not be changed. */
  | 'LOCAL_BAD_REQUEST'
  /** Too few voting orderers answer and are caught up for the change to keep a quorum. */
  | 'LOCAL_QUORUM'
  /** The nodes do not answer, or refuse to show the configuration in force. */
  | 'LOCAL_UNREACHABLE'
  /** The network and the directory's record of configuration updates disagree. */
  | 'LOCAL_UNRECORDED'
  /** The network refused the configuration update (a definite answer: nothing was committed). */
  | 'LOCAL_UPDATE_REFUSED'
  /** No peer confirmed the update and none shows it committed; it may still commit. */
  | 'LOCAL_UPDATE_UNCERTAIN'
  /** A node exited instead of starting. */
  | 'LOCAL_NODE_EXITED'
  /** A bounded wait ran out. */
  | 'LOCAL_TIMEOUT';

/** An operating error of the local-network commands; `code` is stable, the message names the node or file. */
export class LocalError extends Error {
  override readonly name = 'LocalError';
  constructor(
    readonly code: LocalErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
