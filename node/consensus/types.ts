import type {
  Block,
  BlockHeader,
  CommitCertificate,
  ConsensusParams,
  Envelope,
  Hash,
  NodeName,
  SignatureHex,
  SigningDomain,
  TxId,
} from '../protocol/index.js';
import type { ConsensusMessage, PrepareVote } from './messages.js';

/**
 * Signing is injected: production wraps the node's SigningKey and the orderers' certificates
 * (CertificateKeyCache); the simulator uses a cheap deterministic fake.
 */
export interface ConsensusCrypto {
  sign(domain: SigningDomain, bytes: Uint8Array): SignatureHex;
  /** False (never throws) for a non-member, a malformed or a wrong signature. */
  verify(signer: NodeName, domain: SigningDomain, bytes: Uint8Array, signature: SignatureHex): boolean;
}

/** Why `block` may not follow `prev`, or null. The orderer checks envelope signatures and permissions here. */
export type BlockValidator = (block: Block, prev: BlockHeader) => string | null;
/** Why a client or relayed envelope may not enter the pool, or null. Must agree with BlockValidator. */
export type EnvelopeValidator = (envelope: Envelope) => string | null;

export interface ConsensusOptions {
  readonly self: NodeName;
  /** The voting orderers of the configuration in force, in config order: leader(v) = orderers[v mod n]. */
  readonly orderers: readonly NodeName[];
  /**
   * The height of the config block that put this membership in force (0: genesis). One core
   * runs one epoch: it stops at the next config block, and the orderer starts a new core with
   * the membership that block sets (see docs/CONSENSUS.md, "Reconfiguration").
   */
  readonly epochStart: number;
  /**
   * The hash of the block at epochStart (the config block, or genesis). A VIEW-CHANGE whose head
   * is that block carries a certificate of the previous membership, which this epoch's
   * membership cannot check: it must name this hash instead.
   */
  readonly epochStartHash?: Hash;
  readonly params: ConsensusParams;
  /** How many milliseconds one tick stands for; converts batchTimeoutMs and viewTimeoutMs to ticks. */
  readonly tickMs: number;
  readonly crypto: ConsensusCrypto;
  readonly validateBlock: BlockValidator;
  readonly validateEnvelope: EnvelopeValidator;
}

/** The last committed block; the certificate is null only for the genesis block. */
export interface CommittedBlock {
  readonly block: Block;
  readonly certificate: CommitCertificate | null;
}

/** What a node reads back on start-up. */
export interface RestoreState {
  readonly head: CommittedBlock;
  /** Every record the node persisted whose height is above head (or that has none): see PersistRecord. */
  readonly records: readonly PersistRecord[];
  /** txIds of the most recent final transactions (up to RECENT_FINAL_TXIDS_MAX), oldest first. */
  readonly recentTxIds: readonly TxId[];
}

/**
 * A node's own promises. The caller MUST make every record of a Ready durable before sending
 * any message of that Ready. Records of heights at or below the committed head may be deleted.
 */
export type PersistRecord =
  /**
   * I left every view below `view` of the epoch starting at `epoch` (absent: 0); `entered` once
   * I accepted its NEW-VIEW (view 0 needs none). Views count from 0 again in every epoch.
   */
  | {
      readonly kind: 'view';
      readonly view: number;
      readonly entered: boolean;
      readonly epoch?: number;
    }
  /** I sent PREPARE for (view, height, blockHash); I will never prepare another block there. */
  | { readonly kind: 'prepare'; readonly view: number; readonly height: number; readonly blockHash: Hash }
  /** I hold a prepared proof for `block` in `view` and sent (or will send) COMMIT for it. */
  | {
      readonly kind: 'prepared';
      readonly view: number;
      readonly height: number;
      readonly block: Block;
      readonly votes: readonly PrepareVote[];
    };

export type ConsensusEvent =
  /** One clock tick; nowMs is only the leader's block timestamp and followers' sanity bound. */
  | { readonly type: 'tick'; readonly nowMs: number }
  /** A client transaction, already schema-checked (its signature is checked by validateEnvelope). */
  | { readonly type: 'request'; readonly envelope: Envelope }
  /** Bytes from an orderer; `from` is the peer the transport authenticated (TLS + membership). */
  | { readonly type: 'message'; readonly from: NodeName; readonly bytes: Uint8Array }
  /** The same, already decoded with decodeConsensusMessage (e.g. in a worker). */
  | { readonly type: 'decoded-message'; readonly from: NodeName; readonly message: ConsensusMessage }
  /** A fetched block with its certificate, answering a fetch action. */
  | { readonly type: 'committed-block'; readonly block: Block; readonly certificate: CommitCertificate };

export interface Outbound {
  readonly to: readonly NodeName[];
  readonly message: ConsensusMessage;
}

export interface FinalBlock {
  readonly block: Block;
  readonly certificate: CommitCertificate;
}

/** Fetch final blocks from fromHeight upward from any of `peers`, check each certificate, feed back as committed-block events. */
export interface FetchRequest {
  readonly fromHeight: number;
  readonly peers: readonly NodeName[];
}

/** One step's output, handled in this order: persist (durably), send, apply commits, fetch. */
export interface Ready {
  readonly persist: PersistRecord[];
  readonly send: Outbound[];
  /** Final blocks, strictly in height order, each extending the previous one. */
  readonly commit: FinalBlock[];
  fetch: FetchRequest | null;
}

export const REJECT_REASONS = [
  'malformed',
  'from-mismatch',
  'not-member',
  'bad-signature',
  'stale-height',
  'future-height',
  'stale-view',
  'future-view',
  'not-leader',
  'duplicate',
  'equivocation',
  'invalid-proposal',
  'invalid-view-change',
  'invalid-new-view',
  'invalid-certificate',
  'vote-conflict',
  'pool-full',
  'duplicate-request',
  'invalid-request',
  'checkpoint-mismatch',
  'stale-epoch',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * Why a node started a view change: the leader made no progress with work pending, a request
 * waited too long (censorship), the leader equivocated or proposed an invalid block, the view
 * change itself found no NEW-VIEW in time, f+1 others asked for a higher view, or f+1 others
 * vote in a higher view whose NEW-VIEW this node missed.
 */
export type SuspectReason = 'progress-timeout' | 'request-timeout' | 'equivocation' | 'invalid-proposal';

export type ViewChangeReason = SuspectReason | 'new-view-timeout' | 'joined' | 'behind';

export interface ConsensusMetrics {
  readonly view: number;
  readonly status: 'normal' | 'view-change';
  readonly leader: NodeName;
  readonly height: number;
  readonly stableCheckpoint: number;
  /** The latest view change this node started, and why (null before the first). */
  readonly lastViewChange: { readonly view: number; readonly reason: ViewChangeReason } | null;
  readonly viewChanges: number;
  readonly committedBlocks: number;
  readonly committedTxs: number;
  readonly poolTxs: number;
  readonly fetches: number;
  readonly rejected: Readonly<Record<RejectReason, number>>;
}
