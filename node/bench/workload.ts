import type { CallSpec } from '../sdk/index.js';
import { sampleTrade } from '../workload/index.js';

/** The sample contracts the harness can drive (contracts/*.js). */
export const BENCH_CONTRACTS = ['kv', 'asset-transfer', 'trade'] as const;
export type BenchContract = (typeof BENCH_CONTRACTS)[number];

export function isBenchContract(name: string): name is BenchContract {
  return (BENCH_CONTRACTS as readonly string[]).includes(name);
}

/**
 * Transaction `seq` of a run: every call writes fresh keys (`key` is unique per harness run and
 * sequence number), so no two transactions conflict and every INVALID result is a real fault.
 *
 *   kv              put(key, value)                      value: `payload` bytes
 *   asset-transfer  CreateAsset(id, color, 5, bench, 100) color: `payload` bytes (reads id first)
 *   trade           record(isin, buyer, seller, price, volume) — fixed size (three SHA-256 hashes)
 */
export function benchCall(
  contract: BenchContract,
  deployedAs: string,
  key: string,
  payloadBytes: number,
  seq: number,
): CallSpec {
  const fill = 'x'.repeat(payloadBytes);
  switch (contract) {
    case 'kv':
      return { contract: deployedAs, fn: 'put', args: [key, fill] };
    case 'asset-transfer':
      return { contract: deployedAs, fn: 'CreateAsset', args: [key, fill, '5', 'bench', '100'] };
    case 'trade': {
      const t = sampleTrade(seq);
      return {
        contract: deployedAs,
        fn: 'record',
        args: [t.isin, t.buyer, t.seller, String(t.price), String(t.volume)],
      };
    }
  }
}
