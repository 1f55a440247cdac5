export {
  assembleCommitCertificate,
  checkCommitCertificate,
  signCommitVote,
  type CertificateProblem,
} from './commit-certificate.js';
export { ConsensusCore } from './core.js';
export * from './limits.js';
export {
  consensusMessageSchema,
  decodeConsensusMessage,
  encodeConsensusMessage,
  type Checkpoint,
  type Commit,
  type ConsensusMessage,
  type ConsensusMessageType,
  type Forward,
  type NewView,
  type PrePrepare,
  type Prepare,
  type PreparedProof,
  type PrepareVote,
  type ViewChange,
  type ViewChangeBody,
} from './messages.js';
export {
  REJECT_REASONS,
  type BlockValidator,
  type CommittedBlock,
  type ConsensusCrypto,
  type ConsensusEvent,
  type ConsensusMetrics,
  type ViewChangeReason,
  type SuspectReason,
  type ConsensusOptions,
  type EnvelopeValidator,
  type FetchRequest,
  type FinalBlock,
  type Outbound,
  type PersistRecord,
  type Ready,
  type RejectReason,
  type RestoreState,
} from './types.js';
