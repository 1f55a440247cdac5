import { beforeAll, describe, expect, it } from '@jest/globals';
import { checkCommitCertificate, type ConsensusCrypto } from '../../node/consensus/index.js';
import { CertificateKeyCache } from '../../node/crypto/index.js';
import type { NodeName } from '../../node/protocol/index.js';
import { Simulation } from './sim.js';
import {
  optionsFor,
  reconfigOptions,
  simFixture,
  staticOptions,
  type SimFixture,
  type SimMode,
} from './scenarios.js';

/*
 * The deterministic simulator. Each seed drives real consensus cores through a seeded schedule
 * of drops, delays, duplicates, reordering, partitions, crashes with restarts from persisted
 * records, and up to f Byzantine orderers; safety is checked after every commit and liveness
 * after the network heals. Two modes: 'static' (the genesis orderers order everything) and
 * 'reconfig' (config transactions add and remove orderers during the chaos; cores hand over at
 * every config block, removed orderers follow the chain, added ones start a core).
 *
 * Replay one seed:                 SIM_SEED=1234 npm test -- test/simulator
 *                                  SIM_MODE=reconfig SIM_SEED=1234 npm test -- test/simulator
 * Run more seeds (every mode):     SIM_SEEDS=100000 npm test -- test/simulator   (or npm run sim)
 * One mode only:                   SIM_MODE=reconfig SIM_SEEDS=5000 npm test -- test/simulator
 * Other seeds:                     SIM_SEED_START=50000 SIM_SEEDS=5000 npm test -- test/simulator
 * Many seeds, every failure listed (no Jest): node --import tsx test/simulator/main.ts --help
 * Trace one orderer's view/height changes: SIM_TRACE=2 SIM_SEED=1234 npm test -- test/simulator
 */

let fixture: SimFixture;

beforeAll(async () => {
  fixture = await simFixture();
});

const single = process.env.SIM_SEED;
const modeEnv = process.env.SIM_MODE ?? 'all';
if (!['all', 'static', 'reconfig'].includes(modeEnv))
  throw new Error(`SIM_MODE must be all, static or reconfig, got ${modeEnv}`);
const modes: SimMode[] = modeEnv === 'all' ? ['static', 'reconfig'] : [modeEnv as SimMode];
/** Seeds per mode in CI: about 55 s for the static mode, 30 s for reconfiguration. */
const DEFAULT_SEEDS: Record<SimMode, number> = { static: 1500, reconfig: 300 };
const seedsFor = (mode: SimMode): number => Number(process.env.SIM_SEEDS ?? DEFAULT_SEEDS[mode]);
const seedStart = Number(process.env.SIM_SEED_START ?? 1);

describe('simulator', () => {
  if (single !== undefined) {
    const mode: SimMode = modeEnv === 'reconfig' ? 'reconfig' : 'static';
    it(`replays seed ${single} (${mode})`, () => {
      const seed = Number(single);
      const result = new Simulation(optionsFor(mode, fixture, seed)).run();
      console.log(JSON.stringify({ seed, mode, ...result, chains: undefined }));
    });
    return;
  }

  it('produces commit certificates that checkCommitCertificate accepts (real ECDSA keys)', () => {
    const { net } = fixture;
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
    const result = new Simulation({
      ...staticOptions(fixture, 42),
      n: 4,
      byzantine: 1,
      chaosTicks: 100,
      crypto,
      wire: true,
    }).run();
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

  it('reconfigures over the wire: config blocks pass the message schemas', () => {
    // Seed 5: n = 4 without Byzantine orderers; encoding every message checks that the
    // simulator's config envelopes are valid protocol documents.
    const result = new Simulation({ ...reconfigOptions(fixture, 5), wire: true }).run();
    expect(result.reconfigurations).toBeGreaterThan(0);
    expect(result.epochHandovers).toBeGreaterThan(0);
  });

  for (const mode of modes) {
    const seeds = seedsFor(mode);
    it(`keeps safety and liveness across ${seeds} seeds (${mode})`, () => {
      const started = Date.now();
      let finalTxs = 0;
      let viewChanges = 0;
      let reconfigurations = 0;
      let handovers = 0;
      for (let seed = seedStart; seed < seedStart + seeds; seed++) {
        try {
          const result = new Simulation(optionsFor(mode, fixture, seed)).run();
          finalTxs += result.finalTxs;
          viewChanges += result.viewChanges;
          reconfigurations += result.reconfigurations;
          handovers += result.epochHandovers;
        } catch (error) {
          const env = mode === 'static' ? '' : `SIM_MODE=${mode} `;
          throw new Error(
            `${(error as Error).message}\nreplay: ${env}SIM_SEED=${seed} npm test -- test/simulator`,
            { cause: error },
          );
        }
      }
      console.log(
        `simulator (${mode}): ${seeds} seeds in ${Date.now() - started} ms, ${finalTxs} final transactions, ` +
          `${viewChanges} view changes` +
          (mode === 'reconfig' ? `, ${reconfigurations} reconfigurations, ${handovers} core handovers` : ''),
      );
      expect(finalTxs).toBeGreaterThan(0);
      if (mode === 'reconfig' && seeds >= 20) expect(reconfigurations).toBeGreaterThan(seeds / 2);
    }, 1_200_000);
  }
});
