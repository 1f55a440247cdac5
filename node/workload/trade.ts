import { randomBytes } from 'node:crypto';
import type { SigningKey } from '../crypto/index.js';
import {
  canonicalBytes,
  proposalTxId,
  PROTOCOL_VERSION,
  sha256Hex,
  SigningDomain,
  type Envelope,
  type Hash,
  type Identity,
  type InvokePayload,
  type Proposal,
  type ProposalResponse,
  type WriteEntry,
} from '../protocol/index.js';

/** The sketch's trade: ISIN, buyer and seller as SHA-256 hashes, price and volume. */
export interface Trade {
  readonly isin: Hash;
  readonly buyer: Hash;
  readonly seller: Hash;
  readonly price: number;
  readonly volume: number;
}

export interface Signer {
  readonly identity: Identity;
  readonly key: SigningKey;
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

/**
 * A fully signed `trade.record` transaction as the execute phase would produce it: the client's
 * proposal, the write set recording the trade, and one endorsement per endorser. Used by the
 * benchmarks and the demo to exercise the ledger without running contracts.
 */
export function tradeEnvelope(
  client: Signer,
  endorsers: readonly Signer[],
  trade: Trade,
  extraWrites: readonly WriteEntry[] = [],
): Envelope {
  const proposal: Proposal = {
    version: PROTOCOL_VERSION,
    contract: 'trade',
    fn: 'record',
    args: [trade.isin, trade.buyer, trade.seller, String(trade.price), String(trade.volume)],
    nonce: randomBytes(24).toString('hex'),
    creator: client.identity,
    timestampMs: Date.now(),
  };
  const txId = proposalTxId(proposal);
  const response: ProposalResponse = {
    version: PROTOCOL_VERSION,
    proposalHash: txId as string as Hash,
    rwset: {
      reads: [],
      writes: [
        { ns: 'trade', key: `trade~${txId}`, value: Buffer.from(JSON.stringify(trade)).toString('base64') },
        ...extraWrites,
      ],
    },
    result: txId,
    events: [{ name: 'TradeRecorded', payload: txId }],
  };
  const responseBytes = canonicalBytes(response);
  const endorsements = endorsers.map((e) => ({
    endorser: e.identity,
    signature: e.key.sign(SigningDomain.response, responseBytes),
  }));
  const payload: InvokePayload = {
    version: PROTOCOL_VERSION,
    type: 'invoke',
    txId,
    proposal,
    response,
    endorsements,
  };
  return { payload, signature: client.key.sign(SigningDomain.envelope, canonicalBytes(payload)) };
}
