// Many simulator seeds without Jest, every failure listed (Jest stops at the first):
//   node --import tsx test/simulator/main.ts --mode reconfig --seeds 5000 --start 1
//   node --import tsx test/simulator/main.ts --mode static --seed 1234      (one seed, its result)
// Exits 0 when every seed passed, 1 when any failed (each failure prints its replay command).
import { Command, InvalidArgumentError, Option } from 'commander';
import { Simulation } from './sim.js';
import { optionsFor, simFixture, type SimMode } from './scenarios.js';

function count(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

const program = new Command('sim')
  .description('deterministic consensus simulator: seeded chaos, safety and liveness checks')
  .addOption(
    new Option('--mode <mode>', 'static membership or reconfiguration')
      .choices(['static', 'reconfig'])
      .default('reconfig'),
  )
  .option('--seeds <n>', 'how many seeds', count, 1000)
  .option('--start <n>', 'first seed', count, 1)
  .option('--seed <n>', 'run this one seed and print its result', count)
  .option('--max-failures <n>', 'stop after this many failures', count, 50);
program.parse();
const opts = program.opts<{
  mode: SimMode;
  seeds: number;
  start: number;
  seed?: number;
  maxFailures: number;
}>();

const fixture = await simFixture();
if (opts.seed !== undefined) {
  const result = new Simulation(optionsFor(opts.mode, fixture, opts.seed)).run();
  console.log(JSON.stringify({ seed: opts.seed, mode: opts.mode, ...result, chains: undefined }));
  process.exit(0);
}

const started = Date.now();
const failures: number[] = [];
let reconfigurations = 0;
for (let seed = opts.start; seed < opts.start + opts.seeds; seed++) {
  try {
    reconfigurations += new Simulation(optionsFor(opts.mode, fixture, seed)).run().reconfigurations;
  } catch (error) {
    failures.push(seed);
    const message = (error as Error).message;
    // The metrics dump is long: the headline says what broke, the replay shows the rest.
    const cut = message.indexOf('; metrics ');
    console.log(`FAIL ${cut > 0 ? message.slice(0, cut) : message}`);
    console.log(`  replay: node --import tsx test/simulator/main.ts --mode ${opts.mode} --seed ${seed}`);
    if (failures.length >= opts.maxFailures) break;
  }
  if ((seed - opts.start + 1) % 500 === 0)
    console.log(`... ${seed - opts.start + 1} seeds, ${failures.length} failed, ${Date.now() - started} ms`);
}
console.log(
  `simulator (${opts.mode}): seeds ${opts.start}..${opts.start + opts.seeds - 1}, ${failures.length} failed` +
    (failures.length > 0 ? ` (${failures.join(', ')})` : '') +
    `, ${reconfigurations} reconfigurations, ${Date.now() - started} ms`,
);
process.exit(failures.length > 0 ? 1 : 0);
