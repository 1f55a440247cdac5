import { beforeAll, describe, expect, it } from '@jest/globals';
import { checkCommitCertificate, type ConsensusCrypto } from '../../node/consensus/index.js';
import { CertificateKeyCache } from '../../node/crypto/index.js';
import type { Block, Envelope, NodeName } from '../../node/protocol/index.js';
import { makeTestNetwork, sampleTrade, tradeEnvelope, type TestNetwork } from '../support/chain-fixture.js';
import { Simulation, type SimOptions } from './sim.js';

/*
 * The deterministic simulator. Each seed drives n real consensus cores through a seeded
 * schedule of drops, delays, duplicates, reordering, partitions, crashes with restarts from
 * persisted records, and up to f Byzantine orderers; safety is checked after every commit and
 * liveness after the network heals. Replay one seed:   SIM_SEED=1234 npm test -- test/simulator
 * Run more seeds:                                     SIM_SEEDS=100000 npm test -- test/simulator
 * Other seeds:                                        SIM_SEED_START=50000 SIM_SEEDS=5000 npm test -- test/simulator
 * Trace one orderer's view/height changes:            SIM_TRACE=2 SIM_SEED=1234 npm test -- test/simulator
 */

const ENVELOPES = 400;
let envelopes: Envelope[];
let genesis: Block;
let net: TestNetwork;

beforeAll(async () => {
  net = await makeTestNetwork({ orderers: 4 });
  genesis = net.genesis;
  envelopes = Array.from({ length: ENVELOPES }, (_, i) => tradeEnvelope(net, sampleTrade(i)));
});

function options(seed: number, n: number, byzantine: number): SimOptions {
  return {
    seed,
    n,
    byzantine,
    chaosTicks: 150,
    livenessTicks: 3_000,
    txsBeforeGst: 20,
    txsAfterGst: 6,
    envelopes,
    genesis,
  };
}

const single = process.env.SIM_SEED;
const seeds = Number(process.env.SIM_SEEDS ?? 1500);
const seedStart = Number(process.env.SIM_SEED_START ?? 1);

/** n and Byzantine count for a seed: mostly n = 4 with f = 1, some n = 7 (f = 2) and n = 1. */
function shape(seed: number): { n: number; byzantine: number } {
  const r = seed % 20;
  if (r === 0) return { n: 1, byzantine: 0 };
  if (r <= 3) return { n: 7, byzantine: 2 };
  if (r <= 5) return { n: 4, byzantine: 0 };
  return { n: 4, byzantine: 1 };
}

describe('simulator', () => {
  if (single !== undefined) {
    it(`replays seed ${single}`, () => {
      const seed = Number(single);
      const { n, byzantine } = shape(seed);
      const result = new Simulation(options(seed, n, byzantine)).run();
      console.log(JSON.stringify({ seed, ...result, chains: undefined }));
    });
    return;
  }

  it('produces commit certificates that checkCommitCertificate accepts (real ECDSA keys)', () => {
    const keys = new CertificateKeyCache();
    const crypto = (name: NodeName): ConsensusCrypto => {
      const self = net.orderers.find((o) => o.name === name);
      if (self === undefined) throw new Error(`no orderer ${name}`);
      return {
        sign: (domain, bytes) => self.key.sign(domain, bytes),
        verify: (signer, domain, bytes, signature) => {
          const member = net.config.orderers.find((o) => o.name === signer);
          return member !== undefined && keys.get(member.cert).verify(domain, bytes, signature);
        },
      };
    };
    const result = new Simulation({ ...options(42, 4, 1), chaosTicks: 100, crypto, wire: true }).run();
    let checked = 0;
    result.chains.forEach((chain, i) => {
      if (result.byzantine.includes(`orderer${i}` as NodeName)) return;
      for (const { block, certificate } of chain) {
        expect(checkCommitCertificate(certificate, block.header, net.config.orderers, keys)).toBeNull();
        checked++;
      }
    });
    expect(checked).toBeGreaterThan(10);
  });

  it(`keeps safety and liveness across ${seeds} seeds`, () => {
    const started = Date.now();
    let finalTxs = 0;
    let viewChanges = 0;
    for (let seed = seedStart; seed < seedStart + seeds; seed++) {
      const { n, byzantine } = shape(seed);
      try {
        const result = new Simulation(options(seed, n, byzantine)).run();
        finalTxs += result.finalTxs;
        viewChanges += result.viewChanges;
      } catch (error) {
        throw new Error(`${(error as Error).message}\nreplay: SIM_SEED=${seed} npm test -- test/simulator`, {
          cause: error,
        });
      }
    }
    console.log(
      `simulator: ${seeds} seeds in ${Date.now() - started} ms, ${finalTxs} final transactions, ${viewChanges} view changes`,
    );
    expect(finalTxs).toBeGreaterThan(0);
  }, 600_000);
});
