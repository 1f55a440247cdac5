import { sha256Hex, type Envelope, type Hash, type WriteEntry } from '../protocol/index.js';
import { invokeEnvelope, type Signer } from './invoke.js';

/** The sketch's trade: ISIN, buyer and seller as SHA-256 hashes, price and volume. */
export interface Trade {
  readonly isin: Hash;
  readonly buyer: Hash;
  readonly seller: Hash;
  readonly price: number;
  readonly volume: number;
}

/** A deterministic stream of plausible trades (Danish ISINs, a few buyers and sellers). */
export function sampleTrade(i: number): Trade {
  return {
    isin: sha256Hex(`DK00605349${String(i % 100).padStart(2, '0')}`),
    buyer: sha256Hex(`buyer-${i % 7}`),
    seller: sha256Hex(`seller-${i % 5}`),
    price: 20 + (i % 10),
    volume: 100 * (1 + (i % 40)),
  };
}

/** A signed `trade.record` transaction whose write set records `trade` under `trade~<txId>`. */
export function tradeEnvelope(
  client: Signer,
  endorsers: readonly Signer[],
  trade: Trade,
  extraWrites: readonly WriteEntry[] = [],
): Envelope {
  return invokeEnvelope(client, endorsers, {
    contract: 'trade',
    fn: 'record',
    args: [trade.isin, trade.buyer, trade.seller, String(trade.price), String(trade.volume)],
    outcome: (txId) => ({
      rwset: {
        reads: [],
        writes: [
          { ns: 'trade', key: `trade~${txId}`, value: Buffer.from(JSON.stringify(trade)).toString('base64') },
          ...extraWrites,
        ],
      },
      result: txId,
      events: [{ name: 'TradeRecorded', payload: txId }],
    }),
  });
}
