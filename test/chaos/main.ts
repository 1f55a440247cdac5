// `npm run chaos -- --duration 120 --seed 42`: a chaos run with real processes (see runner.ts).
// Exits 0 when every check passed, 1 on any violation (the seed to replay is printed), 2 when
// the run itself could not complete.
import { randomInt } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import { FAULT_KINDS, isFaultKind, type FaultKind } from './faults.js';
import { formatSummary, killAllNodes, runChaos } from './runner.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function faultKinds(value: string): FaultKind[] {
  const kinds = value.split(',').filter((k) => k !== '');
  const unknown = kinds.filter((k) => !isFaultKind(k));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown fault kinds: ${unknown.join(', ')}`);
  return kinds.filter(isFaultKind);
}

const program = new Command('chaos')
  .description('chaos run: a local 4-orderer network under load and seeded faults, then safety checks')
  .option('--duration <seconds>', 'how long faults are injected', positiveInt, 120)
  .option('--seed <n>', 'schedule seed (default: random, printed)', positiveInt)
  .option('--workers <n>', 'concurrent clients', positiveInt, 4)
  .option('--database-url <url>', 'PostgreSQL to use (or DATABASE_URL); default: an embedded one')
  .option('--log-dir <dir>', "where the nodes' logs and the histories go (default: a new temp dir)")
  .option(
    '--settle-timeout <seconds>',
    'how long a node may take to recover after its fault',
    positiveInt,
    60,
  )
  .option('--converge-timeout <seconds>', 'bound on heads converging after the last heal', positiveInt, 60)
  .option(
    '--exclude <kinds>',
    `fault kinds never to draw, comma-separated (${FAULT_KINDS.join(', ')})`,
    faultKinds,
    [],
  )
  .option('--json', 'print the summary as JSON instead of tables');

program.parse();
const opts = program.opts<{
  duration: number;
  seed?: number;
  workers: number;
  databaseUrl?: string;
  logDir?: string;
  settleTimeout: number;
  convergeTimeout: number;
  exclude: FaultKind[];
  json?: boolean;
}>();
const seed = opts.seed ?? randomInt(2 ** 31);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping every node (seed ${seed})\n`);
    killAllNodes();
    process.exit(130);
  });
}

try {
  const summary = await runChaos({
    seed,
    durationS: opts.duration,
    workers: opts.workers,
    settleTimeoutMs: opts.settleTimeout * 1_000,
    convergeTimeoutMs: opts.convergeTimeout * 1_000,
    exclude: opts.exclude,
    ...(opts.databaseUrl === undefined ? {} : { databaseUrl: opts.databaseUrl }),
    ...(opts.logDir === undefined ? {} : { logDir: opts.logDir }),
  });
  process.stdout.write(
    (opts.json === true ? JSON.stringify(summary, null, 2) : formatSummary(summary)) + '\n',
  );
  process.exitCode = summary.violations.length === 0 ? 0 : 1;
} catch (e) {
  process.stderr.write(`chaos run failed (seed ${seed}): ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 2;
}
