import { ValidationCode, type Block, type StateVersion } from '../protocol/index.js';

export interface StateWrite {
  readonly ns: string;
  readonly key: string;
  /** null deletes the key. */
  readonly value: Buffer | null;
  readonly version: StateVersion;
}

/**
 * The world-state effect of a block: the writes of its VALID invoke transactions in block
 * order, collapsed to the last write per key (a later transaction in the block overwrites an
 * earlier one). Derived from the block itself, so state can never disagree with the chain.
 */
export function blockStateWrites(block: Block, codes: readonly number[]): StateWrite[] {
  const last = new Map<string, StateWrite>();
  block.transactions.forEach((envelope, txIndex) => {
    if (codes[txIndex] !== ValidationCode.VALID || envelope.payload.type !== 'invoke') return;
    for (const w of envelope.payload.response.rwset.writes) {
      const value = w.value === null ? null : Buffer.from(w.value, 'base64');
      // NUL separates namespace from key: names cannot contain it, so pairs never collide.
      last.set(`${w.ns}\u0000${w.key}`, {
        ns: w.ns,
        key: w.key,
        value,
        version: { height: block.header.height, txIndex },
      });
    }
  });
  return [...last.values()];
}
