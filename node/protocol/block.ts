import { canonicalBytes } from './encoding.js';
import { ProtocolError } from './errors.js';
import { merkleProof, merkleRoot, sha256Hex, ZERO_HASH } from './hash.js';
import { BLOCK_TX_COUNT_MAX, PROTOCOL_VERSION } from './limits.js';
import type { Block, BlockHeader, Envelope, NetworkConfig, Payload, Proposal } from './schemas.js';
import type { Hash, NodeName, TxId } from './types.js';

// Hash inputs carry a domain tag so bytes of one kind can never be read as another kind.
const TXID_DOMAIN = 'chainnode:v1:txid\n';

/** The transaction id of an invoke: SHA-256 of its proposal (which holds nonce and creator). */
export function proposalTxId(proposal: Proposal): TxId {
  return sha256Hex(Buffer.concat([Buffer.from(TXID_DOMAIN), canonicalBytes(proposal)])) as string as TxId;
}

/** The transaction id of a configuration change: SHA-256 of the creator and the new config. */
export function configTxId(creator: { org: string; cert: string }, config: NetworkConfig): TxId {
  return sha256Hex(
    Buffer.concat([Buffer.from(TXID_DOMAIN), canonicalBytes({ type: 'config', creator, config })]),
  ) as string as TxId;
}

// Decoded and signed values are never mutated, and every orderer and peer checks the same
// payload several times (admission, pool, block validation): its canonical bytes and id are
// computed once per object. Canonicalisation costs as much CPU as an ECDSA verification.
const txIdMemo = new WeakMap<Payload, TxId>();
const payloadBytesMemo = new WeakMap<Payload, Buffer>();

export function expectedTxId(payload: Payload): TxId {
  const hit = txIdMemo.get(payload);
  if (hit !== undefined) return hit;
  let txId: TxId;
  switch (payload.type) {
    case 'invoke':
      txId = proposalTxId(payload.proposal);
      break;
    case 'config':
      txId = configTxId(payload.creator, payload.config);
      break;
    default: {
      const unreachable: never = payload;
      throw new ProtocolError('PROTOCOL_SCHEMA', `unknown payload type ${JSON.stringify(unreachable)}`);
    }
  }
  txIdMemo.set(payload, txId);
  return txId;
}

/** The bytes an envelope's creator signature covers (SigningDomain.envelope), once per payload object. */
export function payloadBytes(payload: Payload): Buffer {
  let bytes = payloadBytesMemo.get(payload);
  if (bytes === undefined) {
    bytes = canonicalBytes(payload);
    payloadBytesMemo.set(payload, bytes);
  }
  return bytes;
}

/** A transaction's leaf in the block's Merkle tree: SHA-256 of the whole canonical envelope. */
export function envelopeHash(envelope: Envelope): Hash {
  return envelopeDigest(envelope).hash;
}

const digestMemo = new WeakMap<Envelope, { readonly hash: Hash; readonly length: number }>();

/** The Merkle leaf of an envelope and the length of its canonical encoding, once per envelope object. */
export function envelopeDigest(envelope: Envelope): { readonly hash: Hash; readonly length: number } {
  let digest = digestMemo.get(envelope);
  if (digest === undefined) {
    const bytes = canonicalBytes(envelope);
    digest = { hash: sha256Hex(bytes), length: bytes.byteLength };
    digestMemo.set(envelope, digest);
  }
  return digest;
}

/** The block hash covers exactly the canonical header bytes. */
export function blockHash(header: BlockHeader): Hash {
  return sha256Hex(canonicalBytes(header));
}

export function buildBlock(args: {
  height: number;
  prevHash: Hash;
  transactions: readonly Envelope[];
  timestampMs: number;
  proposer: NodeName;
}): Block {
  if (args.transactions.length > BLOCK_TX_COUNT_MAX) {
    throw new RangeError(
      `a block holds at most ${BLOCK_TX_COUNT_MAX} transactions, got ${args.transactions.length}`,
    );
  }
  const header: BlockHeader = {
    version: PROTOCOL_VERSION,
    height: args.height,
    prevHash: args.prevHash,
    dataHash: merkleRoot(args.transactions.map(envelopeHash)),
    txCount: args.transactions.length,
    timestampMs: args.timestampMs,
    proposer: args.proposer,
  };
  return { header, transactions: [...args.transactions] };
}

/** Block 0: the signed configuration transaction that founds the network. */
export function buildGenesisBlock(configEnvelope: Envelope, timestampMs: number): Block {
  if (configEnvelope.payload.type !== 'config') {
    throw new ProtocolError(
      'PROTOCOL_INCONSISTENT',
      'the genesis block must hold a config transaction',
      'genesis',
    );
  }
  return buildBlock({
    height: 0,
    prevHash: ZERO_HASH,
    transactions: [configEnvelope],
    timestampMs,
    proposer: 'genesis' as NodeName,
  });
}

/**
 * Checks what a block says about itself: tx count, Merkle root, and each envelope's txId.
 * Signatures and permissions are the validator's job, not the decoder's.
 */
export function checkBlockIntegrity(
  block: Block,
  /** Callers that already encoded the envelopes pass their hashes to skip re-encoding them. */
  leafHashes: readonly string[] = block.transactions.map(envelopeHash),
): void {
  const { header, transactions } = block;
  if (header.txCount !== transactions.length) {
    throw new ProtocolError(
      'PROTOCOL_INCONSISTENT',
      `block ${header.height}: header.txCount is ${header.txCount} but the block holds ${transactions.length} transactions`,
      'block.header.txCount',
    );
  }
  const root = merkleRoot(leafHashes);
  if (root !== header.dataHash) {
    throw new ProtocolError(
      'PROTOCOL_INCONSISTENT',
      `block ${header.height}: header.dataHash ${header.dataHash} is not the Merkle root ${root} of its transactions`,
      'block.header.dataHash',
    );
  }
  transactions.forEach((envelope, index) => {
    const expected = expectedTxId(envelope.payload);
    if (envelope.payload.txId !== expected) {
      throw new ProtocolError(
        'PROTOCOL_INCONSISTENT',
        `block ${header.height}: transaction ${index} has txId ${envelope.payload.txId}, expected ${expected}`,
        `block.transactions.${index}.payload.txId`,
      );
    }
  });
}

export interface InclusionProof {
  readonly txHash: Hash;
  readonly index: number;
  readonly txCount: number;
  readonly path: readonly Hash[];
  readonly dataHash: Hash;
}

/** Proof that the transaction at `index` is in `block`, checkable with the header alone. */
export function inclusionProof(block: Block, index: number): InclusionProof {
  const leaves = block.transactions.map(envelopeHash);
  const txHash = leaves[index];
  if (txHash === undefined) throw new RangeError(`block ${block.header.height} has no transaction ${index}`);
  return {
    txHash,
    index,
    txCount: leaves.length,
    path: merkleProof(leaves, index),
    dataHash: block.header.dataHash,
  };
}

/** The bytes an orderer signs to vote that a block is final; a commit certificate holds 2f+1 of them. */
export function commitVoteBytes(vote: { height: number; blockHash: Hash; view: number }): Buffer {
  return canonicalBytes({ height: vote.height, blockHash: vote.blockHash, view: vote.view });
}
