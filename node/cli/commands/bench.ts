import type { Command } from 'commander';
import { benchCrypto } from '../../bench/crypto.js';
import { benchLedger } from '../../bench/ledger.js';
import { round } from '../../bench/stats.js';
import { benchTransport } from '../../transport/index.js';
import { printJson, progressBar, table } from '../output.js';
import { integerOption } from '../parse.js';

export function registerBench(program: Command): void {
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
