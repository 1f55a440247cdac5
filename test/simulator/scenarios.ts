import type { Block, Envelope, NodeName } from '../../node/protocol/index.js';
import { makeTestNetwork, sampleTrade, tradeEnvelope, type TestNetwork } from '../support/chain-fixture.js';
import { fakeConfigEnvelope, type SimOptions } from './sim.js';

/** What every seed shares: a generated network's genesis block and signed trade envelopes. */
export interface SimFixture {
  readonly net: TestNetwork;
  readonly genesis: Block;
  readonly envelopes: readonly Envelope[];
}

const ENVELOPES = 400;

export async function simFixture(): Promise<SimFixture> {
  const net = await makeTestNetwork({ orderers: 4 });
  const envelopes = Array.from({ length: ENVELOPES }, (_, i) => tradeEnvelope(net, sampleTrade(i)));
  return { net, genesis: net.genesis, envelopes };
}

export type SimMode = 'static' | 'reconfig';

/** n and Byzantine count for a seed: mostly n = 4 with f = 1, some n = 7 (f = 2) and n = 1. */
export function shape(seed: number): { n: number; byzantine: number } {
  const r = seed % 20;
  if (r === 0) return { n: 1, byzantine: 0 };
  if (r <= 3) return { n: 7, byzantine: 2 };
  if (r <= 5) return { n: 4, byzantine: 0 };
  return { n: 4, byzantine: 1 };
}

/** A fixed membership (the genesis orderers order everything): the original simulator. */
export function staticOptions(fixture: SimFixture, seed: number): SimOptions {
  const { n, byzantine } = shape(seed);
  return {
    seed,
    n,
    byzantine,
    chaosTicks: 150,
    livenessTicks: 3_000,
    txsBeforeGst: 20,
    txsAfterGst: 6,
    envelopes: fixture.envelopes,
    genesis: fixture.genesis,
  };
}

/**
 * Reconfiguration: a pool of n + 2 orderers of which the first n are the genesis members; up to
 * three changes (add or remove one orderer, keeping f's bound) during a longer chaos, and
 * sometimes one more right after healing.
 */
export function reconfigOptions(fixture: SimFixture, seed: number): SimOptions {
  const { n, byzantine } = shape(seed);
  const { net } = fixture;
  return {
    ...staticOptions(fixture, seed),
    n,
    byzantine,
    chaosTicks: 300,
    livenessTicks: 4_000,
    txsBeforeGst: 30,
    reconfig: {
      spares: 2,
      changes: 3,
      afterGst: 0.3,
      configEnvelope: (members: readonly NodeName[], sequence: number) =>
        fakeConfigEnvelope(net.config, net.admin.identity, members, sequence),
    },
  };
}

export function optionsFor(mode: SimMode, fixture: SimFixture, seed: number): SimOptions {
  return mode === 'reconfig' ? reconfigOptions(fixture, seed) : staticOptions(fixture, seed);
}
