import type { CertificateKeyCache } from '../crypto/index.js';
import type { ChainStore } from '../ledger/index.js';
import type { Block, NetworkConfig, PolicyExpr } from '../protocol/index.js';
import type { MembershipVerifier } from './identities.js';
import { stateKey, type ValidationContext } from './validate.js';

/**
 * Reads, in two round trips, every committed fact validating `block` can need: the versions of
 * all keys its transactions read and which of its transaction ids the chain already holds.
 */
export async function prefetchValidationContext(
  store: ChainStore,
  block: Block,
  base: {
    config: NetworkConfig;
    members: MembershipVerifier;
    keys: CertificateKeyCache;
    contractPolicy: (contract: string) => PolicyExpr | null | undefined;
  },
): Promise<ValidationContext> {
  const reads = block.transactions.flatMap((e) =>
    e.payload.type === 'invoke' ? e.payload.response.rwset.reads : [],
  );
  const [versions, known] = await Promise.all([
    store.stateVersions(reads.map((r) => ({ ns: r.ns, key: r.key }))),
    store.knownTxIds(block.transactions.map((e) => e.payload.txId)),
  ]);
  return {
    ...base,
    committedVersion: (ns, key) => versions.get(stateKey(ns, key)) ?? null,
    isTxIdKnown: (txId) => known.has(txId),
  };
}
