import { checkCommitCertificate } from '../consensus/index.js';
import { CertificateKeyCache } from '../crypto/index.js';
import {
  blockHash,
  decodeBlockHeader,
  decodeCommitCertificate,
  decodeEnvelope,
  envelopeHash,
  expectedTxId,
  isValidationCode,
  merkleRoot,
  sha256Hex,
  ValidationCode,
  ZERO_HASH,
  type BlockHeader,
  type Hash,
  type NetworkConfig,
} from '../protocol/index.js';

export interface BlockRow {
  readonly height: number;
  readonly hash: Buffer;
  readonly prevHash: Buffer;
  readonly dataHash: Buffer;
  readonly txCount: number;
  readonly header: Buffer;
  readonly commitCert: Buffer | null;
}

export interface TransactionRow {
  readonly height: number;
  readonly txIndex: number;
  readonly txId: Buffer;
  readonly envelope: Buffer;
  readonly validationCode: number;
}

export type VerifyReport =
  | {
      readonly ok: true;
      readonly blocks: number;
      readonly transactions: number;
      readonly headHash: Hash | null;
    }
  | { readonly ok: false; readonly height: number; readonly problem: string; readonly blocksChecked: number };

/** Thrown inside the checker to stop at the first bad row; `verify` turns it into a report. */
export class BadRow extends Error {
  constructor(
    readonly height: number,
    readonly problem: string,
  ) {
    super(`block ${height}: ${problem}`);
  }
}

/**
 * Recomputes everything a row claims, block by block, from the bytes alone: header hash, the
 * columns against the header, the link to the block below, transaction ids, the Merkle root,
 * and each commit certificate against the orderers of the configuration in force (read from
 * the genesis block and from every valid config transaction since).
 */
export class ChainVerifier {
  private expectedHeight = 0;
  private prevHash: Hash = ZERO_HASH;
  private config: NetworkConfig | null = null;
  private readonly keys = new CertificateKeyCache();
  blocks = 0;
  transactions = 0;

  get headHash(): Hash | null {
    return this.blocks === 0 ? null : this.prevHash;
  }

  check(row: BlockRow, txs: readonly TransactionRow[]): void {
    const height = row.height;
    const fail = (problem: string): never => {
      throw new BadRow(height, problem);
    };
    if (height !== this.expectedHeight)
      fail(`expected block ${this.expectedHeight} next, found ${height} (gap)`);
    const headerHash = sha256Hex(row.header);
    if (headerHash !== row.hash.toString('hex')) {
      fail(`stored hash ${row.hash.toString('hex')} is not the SHA-256 ${headerHash} of the stored header`);
    }
    let header: BlockHeader;
    try {
      header = decodeBlockHeader(row.header);
    } catch (e) {
      return fail(`header does not decode: ${(e as Error).message}`);
    }
    if (blockHash(header) !== headerHash) fail('header bytes are not in canonical form');
    if (header.height !== height) fail(`header says height ${header.height}`);
    if (header.prevHash !== row.prevHash.toString('hex')) fail('prev_hash column disagrees with the header');
    if (header.dataHash !== row.dataHash.toString('hex')) fail('data_hash column disagrees with the header');
    if (header.txCount !== row.txCount) fail('tx_count column disagrees with the header');
    if (header.prevHash !== this.prevHash) {
      fail(`prev_hash ${header.prevHash} is not the hash ${this.prevHash} of block ${height - 1}`);
    }
    if (txs.length !== header.txCount)
      fail(`header counts ${header.txCount} transactions, ${txs.length} rows exist`);

    const leaves: string[] = [];
    const configsApplied: NetworkConfig[] = [];
    txs.forEach((tx, index) => {
      if (tx.txIndex !== index) fail(`transaction rows skip index ${index}`);
      if (!isValidationCode(tx.validationCode))
        fail(`transaction ${index} has unknown validation code ${tx.validationCode}`);
      let envelope;
      try {
        envelope = decodeEnvelope(tx.envelope);
      } catch (e) {
        return fail(`transaction ${index} does not decode: ${(e as Error).message}`);
      }
      const txId = expectedTxId(envelope.payload);
      if (envelope.payload.txId !== txId)
        fail(`transaction ${index} claims txId ${envelope.payload.txId}, content gives ${txId}`);
      if (tx.txId.toString('hex') !== txId)
        fail(`transaction ${index}: tx_id column disagrees with the envelope`);
      leaves.push(envelopeHash(envelope));
      if (envelope.payload.type === 'config' && tx.validationCode === ValidationCode.VALID) {
        configsApplied.push(envelope.payload.config);
      }
    });
    const root = merkleRoot(leaves);
    if (root !== header.dataHash)
      fail(`Merkle root of the transactions is ${root}, header says ${header.dataHash}`);

    if (height === 0) {
      if (row.commitCert !== null) fail('the genesis block carries a commit certificate');
      if (configsApplied.length !== 1)
        fail('the genesis block must hold exactly one valid config transaction');
    } else {
      if (row.commitCert === null) fail('no commit certificate');
      let cert;
      try {
        cert = decodeCommitCertificate(row.commitCert as Buffer);
      } catch (e) {
        return fail(`commit certificate does not decode: ${(e as Error).message}`);
      }
      const orderers = (this.config as NetworkConfig).orderers;
      const problem = checkCommitCertificate(cert, header, orderers, this.keys);
      if (problem !== null) fail(`commit certificate: ${problem}`);
    }

    // A configuration takes effect for the blocks after the one that carries it.
    const newest = configsApplied.at(-1);
    if (newest !== undefined) this.config = newest;
    this.prevHash = headerHash;
    this.expectedHeight = height + 1;
    this.blocks += 1;
    this.transactions += txs.length;
  }
}
