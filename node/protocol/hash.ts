import { createHash } from 'node:crypto';
import type { Hash } from './types.js';

export const HASH_BYTES = 32;
/** prev_hash of the genesis block. */
export const ZERO_HASH = '0'.repeat(HASH_BYTES * 2) as Hash;

export function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256Hex(data: Uint8Array | string): Hash {
  return createHash('sha256').update(data).digest('hex') as Hash;
}

// RFC 6962 domain separation: a leaf can never be passed off as an inner node (second-preimage
// attack on unbalanced trees), which plain hash(a||b) trees allow.
const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

function leafHash(leaf: Buffer): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(leaf).digest();
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** Largest power of two strictly below n (n >= 2), the RFC 6962 split point. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function rootOf(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 1) return leafHash(leaves[0] as Buffer);
  const k = splitPoint(leaves.length);
  return nodeHash(rootOf(leaves.slice(0, k)), rootOf(leaves.slice(k)));
}

/**
 * Merkle Tree Hash of RFC 6962 over the transaction hashes of a block (the header's
 * `dataHash`). The empty tree hashes to SHA-256 of the empty string.
 */
export function merkleRoot(leafHashesHex: readonly string[]): Hash {
  if (leafHashesHex.length === 0) return sha256Hex('');
  return rootOf(leafHashesHex.map((h) => Buffer.from(h, 'hex'))).toString('hex') as Hash;
}

/** Audit path for the leaf at `index` (RFC 6962 section 2.1.1), siblings from the bottom up. */
export function merkleProof(leafHashesHex: readonly string[], index: number): Hash[] {
  if (!Number.isInteger(index) || index < 0 || index >= leafHashesHex.length) {
    throw new RangeError(`leaf index ${index} is outside a tree of ${leafHashesHex.length} leaves`);
  }
  const path: Buffer[] = [];
  const walk = (leaves: readonly Buffer[], at: number): void => {
    if (leaves.length === 1) return;
    const k = splitPoint(leaves.length);
    if (at < k) {
      walk(leaves.slice(0, k), at);
      path.push(rootOf(leaves.slice(k)));
    } else {
      walk(leaves.slice(k), at - k);
      path.push(rootOf(leaves.slice(0, k)));
    }
  };
  walk(
    leafHashesHex.map((h) => Buffer.from(h, 'hex')),
    index,
  );
  return path.map((b) => b.toString('hex') as Hash);
}

/** Checks that the leaf at `index` of a `size`-leaf tree is included under `root` (RFC 9162 2.1.3.2). */
export function verifyMerkleProof(
  leafHashHex: string,
  index: number,
  size: number,
  proof: readonly string[],
  root: string,
): boolean {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leafHash(Buffer.from(leafHashHex, 'hex'));
  for (const siblingHex of proof) {
    if (sn === 0) return false;
    const sibling = Buffer.from(siblingHex, 'hex');
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(sibling, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, sibling);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && r.toString('hex') === root;
}
