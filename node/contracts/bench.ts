import { ContractInstance, ContractRuntime, DEFAULT_CONTRACT_LIMITS } from './runtime.js';
import { loadSampleContract } from './samples.js';
import { newSandbox } from './sandbox.js';
import { InMemoryState } from './state.js';

export interface ContractBenchResult {
  /** kv.put through ContractRuntime.simulate, one warm context per contract (the production path). */
  readonly callsPerSec: number;
  /** The same call with a fresh QuickJS runtime + context (prelude, freeze, compile) per call. */
  readonly coldCallsPerSec: number;
  /** New sandboxes (a QuickJS WebAssembly instance with its own memory) per second. */
  readonly sandboxesPerSec: number;
  readonly warmCalls: number;
  readonly coldCalls: number;
}

/** Wall time each measurement runs for, in milliseconds: long enough to smooth JIT warm-up. */
const BENCH_PHASE_MS = 1_000;

const CALLER = { org: 'org1', role: 'client', name: 'bench' } as const;
const TX_ID = 'b'.repeat(64);

/** Measures contract calls per second, warm and cold, on this machine. */
export async function benchContracts(): Promise<ContractBenchResult> {
  const runtime = await ContractRuntime.create();
  const { source } = loadSampleContract('kv');
  runtime.install('kv', source);
  const state = new InMemoryState();
  const request = (i: number) => ({
    contract: 'kv',
    fn: 'put',
    args: [`key-${i % 1000}`, `value-${i}`],
    caller: CALLER,
    txId: TX_ID,
    timestampMs: 1_700_000_000_000,
    state,
  });
  try {
    for (let i = 0; i < 1_000; i++) runtime.simulate(request(i));
    let warmCalls = 0;
    let start = performance.now();
    while (performance.now() - start < BENCH_PHASE_MS) {
      runtime.simulate(request(warmCalls));
      warmCalls++;
    }
    const callsPerSec = Math.round((warmCalls * 1000) / (performance.now() - start));

    const sandbox = await newSandbox(DEFAULT_CONTRACT_LIMITS.memoryBytesMax);
    let coldCalls = 0;
    start = performance.now();
    while (performance.now() - start < BENCH_PHASE_MS) {
      const instance = ContractInstance.create(sandbox, 'kv', source, DEFAULT_CONTRACT_LIMITS);
      instance.call(request(coldCalls));
      instance.dispose();
      coldCalls++;
    }
    const coldCallsPerSec = Math.round((coldCalls * 1000) / (performance.now() - start));

    let sandboxes = 0;
    start = performance.now();
    while (performance.now() - start < BENCH_PHASE_MS) {
      await newSandbox(DEFAULT_CONTRACT_LIMITS.memoryBytesMax);
      sandboxes++;
    }
    const sandboxesPerSec = Math.round((sandboxes * 1000) / (performance.now() - start));
    return { callsPerSec, coldCallsPerSec, sandboxesPerSec, warmCalls, coldCalls };
  } finally {
    runtime.dispose();
  }
}
