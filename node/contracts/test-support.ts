import { sha256Hex } from '../protocol/index.js';
import type { SimulationRequest } from './runtime.js';
import type { StateReader } from './state.js';

/** A request with plausible defaults; tests override what they are about. */
export function request(
  contract: string,
  fn: string,
  args: readonly string[],
  state: StateReader,
  overrides: Partial<SimulationRequest> = {},
): SimulationRequest {
  return {
    contract,
    fn,
    args,
    caller: { org: 'org1', role: 'client', name: 'alice' },
    // JSON, not join: the fuzz test passes non-strings on purpose, to see the runtime refuse them.
    txId: sha256Hex(`${contract}.${fn}(${JSON.stringify(args)})`),
    timestampMs: 1_700_000_000_000,
    state,
    ...overrides,
  };
}

export function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
