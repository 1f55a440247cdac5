import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { benchContracts } from '../../contracts/bench.js';
import { benchCrypto } from '../../bench/crypto.js';
import { runBenchmark, type BenchOptions, type BenchResult } from '../../bench/harness.js';
import { benchLedger } from '../../bench/ledger.js';
import { parsePolicy } from '../../sdk/index.js';
import { renderReport } from '../../bench/report.js';
import { round } from '../../bench/stats.js';
import { BENCH_CONTRACTS, isBenchContract } from '../../bench/workload.js';
import { DEFAULT_HOST, DEFAULT_ORDERERS, DEFAULT_ORGS, DEFAULT_PEERS_PER_ORG } from '../../network/index.js';
import { benchTransport } from '../../transport/index.js';
import { resolveNetworkDir } from '../network-dir.js';
import { printJson, progressBar, table } from '../output.js';
import { integerOption } from '../parse.js';

/** A temporary benchmark network's first port: away from `up`'s default 7050 so both can run. */
export const BENCH_BASE_PORT = 27_050;
const MICRO_SUITES = ['crypto', 'ledger', 'transport', 'contracts'] as const;

interface NetworkBenchOpts {
  network?: string;
  orderers: number;
  orgs: number;
  peersPerOrg: number;
  host: string;
  basePort: number;
  keep?: boolean;
  policy?: string;
  contract: string;
  payload: number;
  mode: string;
  load: string;
  clients?: number;
  minClients: number;
  maxClients: number;
  stepDuration: number;
  rate?: number;
  arrival: string;
  maxInFlight: number;
  warmup: number;
  duration: number;
  micro: boolean;
  out?: string;
  json?: boolean;
}

export function registerBench(program: Command): void {
  const bench = program
    .command('bench')
    .description(
      'benchmark a network: closed-loop peak and open-loop latency, per-phase latency, CPU and memory per node, the physical limit (`bench micro` for micro-benchmarks)',
    )
    .option(
      '--network <dir>',
      'measure the local network running from DIR (`up --detach`); also taken from --dir',
    )
    .option('--orderers <n>', 'orderers of the temporary network', integerOption(1, 64), DEFAULT_ORDERERS)
    .option('--orgs <n>', 'organisations of the temporary network', integerOption(1, 64), DEFAULT_ORGS)
    .option('--peers-per-org <n>', 'peers per organisation', integerOption(1, 64), DEFAULT_PEERS_PER_ORG)
    .option('--host <host>', 'loopback address of the temporary network', DEFAULT_HOST)
    .option(
      '--base-port <port>',
      'first port of the temporary network',
      integerOption(1, 63_000),
      BENCH_BASE_PORT,
    )
    .option('--keep', 'keep the temporary network directory (logs, chain) and print it')
    .option(
      '--policy <policy>',
      "endorsement policy of the benchmark contract: AND(org1,org2), OR(…), OutOf(k,…), an org, or JSON (default: the network's)",
    )
    .option('--contract <name>', `sample contract to call: ${BENCH_CONTRACTS.join(' | ')}`, 'kv')
    .option(
      '--payload <bytes>',
      'bytes of each value written (kv, asset-transfer)',
      integerOption(0, 1_000_000),
      64,
    )
    .option('--mode <mode>', 'full (endorse, order, validate) or order (pre-endorsed kv writes)', 'full')
    .option('--load <kinds>', 'closed, open or closed,open', 'closed,open')
    .option(
      '--clients <n>',
      'closed loop at this many clients (default: search for the peak)',
      integerOption(1, 100_000),
    )
    .option('--min-clients <n>', 'first step of the peak search', integerOption(1, 100_000), 4)
    .option(
      '--max-clients <n>',
      'last step of the peak search (steps double)',
      integerOption(1, 100_000),
      256,
    )
    .option('--step-duration <s>', 'measured seconds of each search step', integerOption(1, 3_600), 8)
    .option(
      '--rate <tx/s>',
      'open loop: offered transactions per second (default: 80% of the closed-loop peak)',
      integerOption(1, 10_000_000),
    )
    .option('--arrival <kind>', 'open loop: uniform or poisson arrivals', 'uniform')
    .option(
      '--max-in-flight <n>',
      'open loop: transactions waiting at once before due ones are shed',
      integerOption(1, 1_000_000),
      20_000,
    )
    .option('--warmup <s>', 'unmeasured seconds of load before each run', integerOption(0, 600), 3)
    .option(
      '--duration <s>',
      'measured seconds of the closed-loop peak and open-loop runs',
      integerOption(1, 3_600),
      20,
    )
    .option('--no-micro', 'skip the micro-benchmarks of the bounds and the physical limit')
    .option(
      '--out <file>',
      'result file (default: ./bench-results/<timestamp>.json; not written under --json unless given)',
    )
    .option('--json', 'print the result JSON on stdout instead of the tables')
    .action(async (opts: NetworkBenchOpts, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ dir?: string }>();
      const existing = opts.network ?? globals.dir;
      for (const flag of ['orderers', 'orgs', 'peersPerOrg', 'host', 'basePort', 'keep'])
        if (existing !== undefined && cmd.getOptionValueSource(flag) === 'cli')
          process.stderr.write(
            `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ignored: measuring the running network in ${existing}\n`,
          );
      const loads = opts.load.split(',').map((s) => s.trim());
      if (loads.length === 0 || loads.some((l) => l !== 'closed' && l !== 'open'))
        throw new Error(`--load must be closed, open or closed,open, got ${opts.load}`);
      if (!isBenchContract(opts.contract))
        throw new Error(`--contract must be one of ${BENCH_CONTRACTS.join(', ')}, got ${opts.contract}`);
      if (opts.mode !== 'full' && opts.mode !== 'order')
        throw new Error(`--mode must be full or order, got ${opts.mode}`);
      if (opts.arrival !== 'uniform' && opts.arrival !== 'poisson')
        throw new Error(`--arrival must be uniform or poisson, got ${opts.arrival}`);
      if (!loads.includes('closed') && opts.rate === undefined)
        throw new Error('--load open needs --rate (the default rate is 80% of the closed-loop peak)');
      if (opts.maxClients < opts.minClients) throw new Error('--max-clients must be at least --min-clients');
      const options: BenchOptions = {
        target:
          existing !== undefined
            ? { kind: 'existing', dir: resolve(existing) }
            : {
                kind: 'temporary',
                orderers: opts.orderers,
                orgs: opts.orgs,
                peersPerOrg: opts.peersPerOrg,
                host: opts.host,
                basePort: opts.basePort,
                keep: opts.keep === true,
              },
        policy: opts.policy === undefined ? null : parsePolicy(opts.policy),
        contract: opts.contract,
        payloadBytes: opts.payload,
        mode: opts.mode,
        closed: !loads.includes('closed')
          ? null
          : opts.clients !== undefined
            ? { clients: opts.clients }
            : { search: { from: opts.minClients, max: opts.maxClients, stepSeconds: opts.stepDuration } },
        open: loads.includes('open') ? { rate: opts.rate ?? 'auto', arrival: opts.arrival } : null,
        warmupSeconds: opts.warmup,
        durationSeconds: opts.duration,
        maxInFlight: opts.maxInFlight,
        micro: opts.micro,
      };
      await runAndReport(options, { json: opts.json === true, out: opts.out });
    });

  bench
    .command('micro')
    .description(
      'micro-benchmarks: ECDSA sign/verify, SHA-256, PostgreSQL block commits, mTLS messaging, contract calls',
    )
    .argument('[suite]', `${MICRO_SUITES.join(' | ')} | all`, 'all')
    .option(
      '--tx-per-run <n>',
      'transactions committed per block size in the ledger suite',
      integerOption(100, 10_000_000),
      20_000,
    )
    .option('--database-url <url>', 'PostgreSQL to use instead of an embedded one (or DATABASE_URL)')
    .option('--json', 'print results as JSON on stdout')
    // `bench` has a --json of its own, which commander gives the parent: read both.
    .action((suite: string, _opts: MicroOpts, cmd: Command) =>
      runMicro(suite, cmd.optsWithGlobals<MicroOpts>()),
    );
  // The suites' former spellings, `chainnode bench crypto` etc.
  for (const suite of ['crypto', 'ledger', 'transport'] as const) {
    bench
      .command(suite, { hidden: true })
      .option(
        '--tx-per-run <n>',
        'transactions per block size (ledger)',
        integerOption(100, 10_000_000),
        20_000,
      )
      .option('--database-url <url>', 'PostgreSQL to use instead of an embedded one')
      .option('--json', 'print results as JSON on stdout')
      .action((_opts: MicroOpts, cmd: Command) => runMicro(suite, cmd.optsWithGlobals<MicroOpts>()));
  }

  program
    .command('bench-e2e')
    .description(
      'closed-loop load against the running local network in --dir (`chainnode bench --network DIR --clients N --load closed`)',
    )
    .option(
      '--mode <mode>',
      'full (endorse + order + validate) or order (pre-endorsed: order + validate)',
      'full',
    )
    .option('--concurrency <n>', 'concurrent clients', integerOption(1, 10_000), 64)
    .option('--duration <s>', 'measured seconds', integerOption(1, 3_600), 20)
    .option('--warmup <s>', 'seconds of load before measuring', integerOption(0, 600), 3)
    .option('--payload <bytes>', 'bytes of each value written', integerOption(0, 100_000), 64)
    .option('--json', 'print the result as JSON')
    .action(
      async (
        opts: {
          mode: string;
          concurrency: number;
          duration: number;
          warmup: number;
          payload: number;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        if (opts.mode !== 'full' && opts.mode !== 'order')
          throw new Error(`--mode must be full or order, got ${opts.mode}`);
        await runAndReport(
          {
            target: { kind: 'existing', dir: resolveNetworkDir(cmd.optsWithGlobals<{ dir?: string }>().dir) },
            policy: null,
            contract: 'kv',
            payloadBytes: opts.payload,
            mode: opts.mode,
            closed: { clients: opts.concurrency },
            open: null,
            warmupSeconds: opts.warmup,
            durationSeconds: opts.duration,
            maxInFlight: 20_000,
            micro: false,
          },
          { json: opts.json === true, out: undefined, writeDefault: false },
        );
      },
    );
}

/** Runs the benchmark with Ctrl-C handling, a progress bar, the tables or JSON, and the result file. */
async function runAndReport(
  options: BenchOptions,
  output: { json: boolean; out: string | undefined; writeDefault?: boolean },
): Promise<void> {
  const abort = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    signals += 1;
    if (signals > 1) process.exit(130);
    process.stderr.write('\ninterrupted: stopping the load and the network (Ctrl-C again to quit at once)\n');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const interactive = process.stderr.isTTY && !output.json;
  let bar: ReturnType<typeof progressBar> | undefined;
  let current = '';
  const stopBar = (): void => {
    bar?.stop();
    bar = undefined;
    current = '';
  };
  let result: BenchResult;
  try {
    result = await runBenchmark({
      ...options,
      signal: abort.signal,
      log: (line) => {
        stopBar();
        process.stderr.write(`${line}\n`);
      },
      progress: (label, done, total) => {
        if (!interactive) return;
        if (label !== current) {
          stopBar();
          bar = progressBar(label, total, true);
          current = label;
        }
        bar?.update(done);
      },
    });
  } finally {
    stopBar();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (abort.signal.aborted) {
    process.stderr.write('interrupted; the network was stopped\n');
    process.exitCode = 130;
    return;
  }
  const file =
    output.out ??
    (output.json || output.writeDefault === false
      ? undefined
      : join('bench-results', `${result.startedAt.replace(/[:.]/g, '-')}.json`));
  if (file !== undefined) {
    await mkdir(dirname(resolve(file)), { recursive: true });
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  }
  if (output.json) {
    printJson(result);
    return;
  }
  process.stdout.write(renderReport(result));
  if (result.network.dir !== null && result.network.temporary)
    process.stdout.write(`network kept in ${result.network.dir}\n`);
  if (file !== undefined) process.stdout.write(`result: ${file}\n`);
}

interface MicroOpts {
  txPerRun: number;
  databaseUrl?: string;
  json?: boolean;
}

async function runMicro(suite: string, opts: MicroOpts): Promise<void> {
  if (suite !== 'all' && !(MICRO_SUITES as readonly string[]).includes(suite)) {
    throw new Error(`unknown bench suite "${suite}" (${MICRO_SUITES.join(', ')}, all)`);
  }
  const runs = (name: string): boolean => suite === 'all' || suite === name;
  const result: Record<string, unknown> = {};
  const say = (text: string): void => {
    if (opts.json !== true) process.stdout.write(text);
  };
  if (runs('crypto')) {
    const c = benchCrypto();
    result.crypto = c;
    say(
      `${table(
        ['ECDSA P-256 sign/s', 'verify/s', 'SHA-256 MB/s', 'CPU s'],
        [
          [
            round(c.signPerSec, 0),
            round(c.verifyPerSec, 0),
            round(c.sha256MbPerSec, 0),
            round(c.cpuSeconds, 2),
          ],
        ],
      )}\n`,
    );
  }
  if (runs('contracts')) {
    const c = await benchContracts();
    result.contracts = c;
    say(
      `${table(['contract calls/s (warm kv.put)', 'cold calls/s (fresh runtime)'], [[c.callsPerSec, c.coldCallsPerSec]])}\n`,
    );
  }
  if (runs('ledger')) {
    let bar: ReturnType<typeof progressBar> | undefined;
    let current = '';
    const rows = await benchLedger({
      txPerRun: opts.txPerRun,
      ...(opts.databaseUrl !== undefined ? { databaseUrl: opts.databaseUrl } : {}),
      onProgress: (label, done, total) => {
        if (opts.json === true) return;
        if (label !== current) {
          bar?.stop();
          bar = progressBar(label, total);
          current = label;
        }
        bar?.update(done);
      },
    });
    bar?.stop();
    result.ledger = rows;
    say(
      `${table(
        ['tx/block', 'blocks', 'committed tx/s', 'MB/s', 'commit ms p50', 'p99', 'client CPU s'],
        rows.map((r) => [
          r.txPerBlock,
          r.blocks,
          round(r.txPerSec, 0),
          round(r.mbPerSec, 1),
          round(r.blockCommitMsP50, 1),
          round(r.blockCommitMsP99, 1),
          round(r.clientCpuSeconds, 2),
        ]),
      )}\n`,
    );
  }
  if (runs('transport')) {
    const t = await benchTransport();
    result.transport = t.rows;
    say(
      `${table(
        ['mTLS scenario', 'frame bytes', 'messages/s', 'MB/s'],
        t.rows.map((r) => [r.scenario, r.frameBytes, round(r.messagesPerSec, 0), round(r.mbPerSec, 1)]),
      )}\n`,
    );
  }
  if (opts.json === true) printJson(result);
}
