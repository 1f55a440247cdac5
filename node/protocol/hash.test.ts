import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { merkleProof, merkleRoot, sha256Hex, verifyMerkleProof } from './hash.js';

const leaf = (i: number): string => sha256Hex(`tx-${i}`);

describe('Merkle tree (RFC 6962)', () => {
  it('hashes the empty tree to SHA-256 of nothing and one leaf with the 0x00 prefix', () => {
    expect(merkleRoot([])).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(merkleRoot([leaf(0)])).toBe(
      sha256Hex(Buffer.concat([Buffer.from([0]), Buffer.from(leaf(0), 'hex')])),
    );
  });

  it('splits at the largest power of two below n, as RFC 6962 defines', () => {
    const l = [0, 1, 2].map((i) => Buffer.concat([Buffer.from([0]), Buffer.from(leaf(i), 'hex')]));
    const h = (b: Buffer): Buffer => Buffer.from(sha256Hex(b), 'hex');
    const left = h(Buffer.concat([Buffer.from([1]), h(l[0] as Buffer), h(l[1] as Buffer)]));
    const expected = sha256Hex(Buffer.concat([Buffer.from([1]), left, h(l[2] as Buffer)]));
    expect(merkleRoot([leaf(0), leaf(1), leaf(2)])).toBe(expected);
  });

  it('proves the inclusion of every leaf of trees of every size up to 70', () => {
    for (let size = 1; size <= 70; size++) {
      const leaves = Array.from({ length: size }, (_, i) => leaf(i));
      const root = merkleRoot(leaves);
      for (let i = 0; i < size; i++) {
        expect(verifyMerkleProof(leaves[i] as string, i, size, merkleProof(leaves, i), root)).toBe(true);
      }
    }
  });

  it('rejects a proof for another leaf, index or root (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 200 }), fc.nat(), fc.nat(), (size, a, b) => {
        const i = a % size;
        const j = b % size;
        const leaves = Array.from({ length: size }, (_, k) => leaf(k));
        const root = merkleRoot(leaves);
        const proof = merkleProof(leaves, i);
        if (j !== i) {
          expect(verifyMerkleProof(leaves[j] as string, i, size, proof, root)).toBe(false);
          expect(verifyMerkleProof(leaves[i] as string, j, size, proof, root)).toBe(false);
        }
        expect(verifyMerkleProof(leaves[i] as string, i, size, proof, sha256Hex('other root'))).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});
