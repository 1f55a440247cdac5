import type { CertificateKeyCache } from '../crypto/index.js';
import type { ChainStore } from '../ledger/index.js';
import type { Block, NetworkConfig } from '../protocol/index.js';
import type { MembershipVerifier } from '../config/index.js';
import {
  contractDefinitionSchema,
  definitionKey,
  LIFECYCLE_CONTRACT,
  policyOf,
  type ContractDefinition,
} from './lifecycle.js';
import { stateKey, type ValidationContext } from './validate.js';

/** Deployed definitions of `contracts`, read from the lifecycle namespace in one round trip. */
export async function contractDefinitions(
  store: ChainStore,
  contracts: readonly string[],
): Promise<Map<string, ContractDefinition>> {
  const out = new Map<string, ContractDefinition>();
  const wanted = contracts.filter((c) => c !== LIFECYCLE_CONTRACT);
  const entries = await store.stateEntries(
    wanted.map((c) => ({ ns: LIFECYCLE_CONTRACT, key: definitionKey(c) })),
  );
  for (const [i, contract] of wanted.entries()) {
    const entry = entries[i];
    if (entry === null || entry === undefined) continue;
    const parsed = contractDefinitionSchema.safeParse(JSON.parse(entry.value.toString('utf8')));
    // A definition that does not parse was written by a valid lifecycle transaction, so it
    // cannot happen short of a bug or tampering: treat the contract as not deployed.
    if (parsed.success) out.set(contract, parsed.data);
  }
  return out;
}

/**
 * Reads, in two round trips, every committed fact validating `block` can need: the versions of
 * all keys its transactions read and which of its transaction ids the chain already holds.
 */
export async function prefetchValidationContext(
  store: ChainStore,
  block: Block,
  base: { config: NetworkConfig; members: MembershipVerifier; keys: CertificateKeyCache },
): Promise<ValidationContext> {
  const invokes = block.transactions.flatMap((e) => (e.payload.type === 'invoke' ? [e.payload] : []));
  const reads = invokes.flatMap((p) => p.response.rwset.reads);
  const contracts = [...new Set(invokes.map((p) => p.proposal.contract))];
  const [versions, known, definitions] = await Promise.all([
    store.stateVersions(reads.map((r) => ({ ns: r.ns, key: r.key }))),
    store.knownTxIds(block.transactions.map((e) => e.payload.txId)),
    contractDefinitions(store, contracts),
  ]);
  return {
    ...base,
    committedVersion: (ns, key) => versions.get(stateKey(ns, key)) ?? null,
    isTxIdKnown: (txId) => known.has(txId),
    contractPolicy: (contract) => policyOf(definitions.get(contract)),
  };
}
