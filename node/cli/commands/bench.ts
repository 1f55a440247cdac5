import type { Command } from 'commander';
import { benchCrypto } from '../../bench/crypto.js';
import { benchLedger } from '../../bench/ledger.js';
import { benchEndToEnd } from '../../bench/e2e.js';
import { round } from '../../bench/stats.js';
import { readLocalState } from '../../local/state.js';
import { cliContext } from '../context.js';
import { benchTransport } from '../../transport/index.js';
import { printJson, progressBar, table } from '../output.js';
import { integerOption } from '../parse.js';

export function registerBench(program: Command): void {
  registerEndToEnd(program);
  program
    .command('bench')
    .description('micro-benchmarks: ECDSA sign/verify, SHA-256, PostgreSQL block commits, mTLS messaging')
    .argument('[suite]', 'crypto | ledger | transport | all', 'all')
    .option(
      '--tx-per-run <n>',
      'transactions committed per block size in the ledger suite',
      integerOption(100, 10_000_000),
      20_000,
    )
    .option('--database-url <url>', 'PostgreSQL to use instead of an embedded one (or DATABASE_URL)')
    .option('--json', 'print results as JSON on stdout')
    .action(async (suite: string, opts: { txPerRun: number; databaseUrl?: string; json?: boolean }) => {
      if (!['crypto', 'ledger', 'transport', 'all'].includes(suite)) {
        throw new Error(`unknown bench suite "${suite}" (crypto, ledger, transport, all)`);
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
    });
}

/** `chainnode bench e2e`: closed-loop load against the running local network in --dir. */
function registerEndToEnd(program: Command): void {
  program
    .command('bench-e2e')
    .description(
      'end-to-end throughput and latency against the running local network (start it with `chainnode up --detach`)',
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
        const ctx = await cliContext(cmd);
        const state = await readLocalState(ctx.dir);
        if (state === null)
          throw new Error(`no local network is running from ${ctx.dir}: chainnode up --detach first`);
        const pids = Object.fromEntries(Object.entries(state.nodes).map(([n, s]) => [n, s.pid]));
        const total = opts.duration * 1000;
        const bar = progressBar(`load (${opts.mode})`, total, process.stderr.isTTY && opts.json !== true);
        const r = await benchEndToEnd(ctx.network, ctx.dir, await ctx.client(), pids, {
          mode: opts.mode,
          concurrency: opts.concurrency,
          durationMs: total,
          warmupMs: opts.warmup * 1000,
          payloadBytes: opts.payload,
          onProgress: (doneMs) => {
            bar.update(Math.min(doneMs, total));
          },
        });
        bar.stop();
        if (opts.json === true) {
          printJson(r);
          return;
        }
        process.stdout.write(
          `${table(
            [
              'mode',
              'clients',
              'committed tx/s',
              'p50 ms',
              'p90 ms',
              'p99 ms',
              'max ms',
              'invalid',
              'errors',
            ],
            [
              [
                r.mode,
                r.concurrency,
                round(r.tps, 0),
                r.latency.p50,
                r.latency.p90,
                r.latency.p99,
                r.latency.max,
                r.invalid,
                r.errors,
              ],
            ],
          )}\n${table(['node', 'CPU s'], Object.entries(r.nodeCpuSeconds))}\n`,
        );
      },
    );
}
