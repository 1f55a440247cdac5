import { spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { NETWORK_FILE, writeNetworkDir } from '../../config/index.js';
import { loadSampleContract, SAMPLE_CONTRACTS } from '../../contracts/index.js';
import { logDir } from '../../local/paths.js';
import { chainnodeCommand, superviseLocalNetwork } from '../../local/supervisor.js';
import { processAlive, readLocalState } from '../../local/state.js';
import { pollUntil, StopWaiting } from '../../local/wait.js';
import {
  DEFAULT_BASE_PORT,
  DEFAULT_HOST,
  DEFAULT_ORDERERS,
  DEFAULT_ORGS,
  DEFAULT_PEERS_PER_ORG,
  generateNetwork,
  localAddresses,
} from '../../network/index.js';
import { ClientError } from '../../sdk/index.js';
import { sampleTrade } from '../../workload/index.js';
import { cliContext, type CliContext } from '../context.js';
import { resolveNetworkDir } from '../network-dir.js';
import { printJson, progressBar, sketchBlockJson, type SketchTrade } from '../output.js';
import { integerOption } from '../parse.js';
import { networkStatus, statusTable } from './client.js';

/** How long `up` waits for every node to answer. */
export const UP_TIMEOUT_MS = 120_000;
/** How long `down` waits for the supervisor to stop everything. */
export const DOWN_TIMEOUT_MS = 60_000;
/** Deploys the shipped samples that are not deployed yet (version 1). */
async function deploySamples(ctx: CliContext): Promise<string[]> {
  const client = await ctx.client();
  const deployed: string[] = [];
  for (const name of SAMPLE_CONTRACTS) {
    try {
      await client.deploy(name, loadSampleContract(name).source, { version: '1' });
      deployed.push(name);
    } catch (e) {
      if (!(e instanceof ClientError && /already deployed/.test(e.message))) throw e;
    }
  }
  return deployed;
}

/** The sketch's blockchaintest, on the running network: record trades, print the latest block. */
async function recordDemoTrades(ctx: CliContext, count: number): Promise<void> {
  const client = await ctx.client();
  const firstHeight = ((await client.status()) as { height: number }).height;
  for (let i = 0; i < count; i++) {
    const t = sampleTrade(firstHeight + i);
    await client.submit({
      contract: 'trade',
      fn: 'record',
      args: [t.isin, t.buyer, t.seller, String(t.price), String(t.volume)],
    });
  }
  const latest = (await client.block('latest')) as {
    hash: string;
    header: { height: number; timestampMs: number; prevHash: string };
    transactions: { txId: string }[];
  };
  const lastTx = latest.transactions.at(-1);
  const trade =
    lastTx === undefined
      ? undefined
      : (JSON.parse(
          await client.evaluate({ contract: 'trade', fn: 'get', args: [lastTx.txId] }),
        ) as SketchTrade);
  const view = sketchBlockJson(
    {
      hash: latest.hash,
      height: latest.header.height,
      timestampMs: latest.header.timestampMs,
      prevHash: latest.header.prevHash,
    },
    trade,
  );
  process.stdout.write(
    `Blocks loaded ${latest.header.height + 1} (max index=${latest.header.height})\n${view}\n`,
  );
}

export function registerLocalNetwork(program: Command): void {
  program
    .command('up')
    .description(
      'run a local network: init it if needed, start one PostgreSQL and every node, deploy the samples',
    )
    .option('--orderers <n>', 'orderers, for a new network', integerOption(1, 64), DEFAULT_ORDERERS)
    .option('--orgs <n>', 'organisations, for a new network', integerOption(1, 64), DEFAULT_ORGS)
    .option(
      '--peers-per-org <n>',
      'peers per organisation, for a new network',
      integerOption(1, 64),
      DEFAULT_PEERS_PER_ORG,
    )
    .option('--host <host>', 'loopback address for a new network', DEFAULT_HOST)
    .option('--base-port <port>', 'first port for a new network', integerOption(1, 63_000), DEFAULT_BASE_PORT)
    .option('--detach', 'return once the network is up; stop it with `chainnode down`')
    .option('--no-samples', 'do not deploy the sample contracts (kv, trade, asset-transfer)')
    .option('--demo', 'record trades and print the latest block, as the 2018 sketch did')
    .option('--json', 'print the status as JSON')
    .action(
      async (
        opts: {
          orderers: number;
          orgs: number;
          peersPerOrg: number;
          host: string;
          basePort: number;
          detach?: boolean;
          samples: boolean;
          demo?: boolean;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const dir = resolveNetworkDir(cmd.optsWithGlobals<{ dir?: string }>().dir);
        if (await readLocalState(dir))
          throw new Error(
            `a local network is already running from ${dir} (chainnode status; chainnode down)`,
          );
        if (!existsSync(join(dir, NETWORK_FILE))) {
          process.stderr.write(`creating network in ${dir}\n`);
          await writeNetworkDir(
            dir,
            await generateNetwork({
              orderers: opts.orderers,
              orgs: opts.orgs,
              peersPerOrg: opts.peersPerOrg,
              address: localAddresses(opts.host, opts.basePort),
            }),
          );
        }
        await mkdir(logDir(dir), { recursive: true });
        const out = openSync(join(logDir(dir), 'supervisor.log'), 'a');
        const cli = chainnodeCommand();
        const supervisor = spawn(
          cli.command,
          [
            ...cli.args,
            '--dir',
            dir,
            'supervise',
            ...(opts.detach === true ? [] : ['--parent', String(process.pid)]),
          ],
          {
            detached: opts.detach === true,
            stdio: ['ignore', out, out],
          },
        );
        if (opts.detach === true) supervisor.unref();
        const exited = new Promise<number | null>((resolve) => supervisor.once('exit', resolve));

        const ctx = await cliContext(cmd);
        const total = ctx.nodes().length;
        const bar = progressBar('starting nodes', total, process.stderr.isTTY && opts.json !== true);
        await pollUntil('every node to answer', UP_TIMEOUT_MS, async () => {
          if (supervisor.exitCode !== null)
            throw new StopWaiting(
              new Error(`the network failed to start; see ${join(logDir(dir), 'supervisor.log')}`),
            );
          const rows = await networkStatus(ctx);
          bar.update(rows.filter((r) => r.healthy).length);
          // Ready means serving and linked to every other member: endorsement needs the mesh.
          return rows.every((r) => r.healthy && r.linkedPeers === total - 1) ? rows : undefined;
        });
        bar.stop();
        if (opts.samples) {
          const deployed = await deploySamples(ctx);
          if (deployed.length > 0) process.stderr.write(`deployed contracts: ${deployed.join(', ')}\n`);
        }
        if (opts.demo === true) await recordDemoTrades(ctx, 5);
        const rows = await networkStatus(ctx);
        if (opts.json === true) printJson(rows);
        else process.stdout.write(`${statusTable(rows)}\nlogs: ${logDir(dir)}\n`);
        // Hints go to stderr under --json so stdout stays one JSON document.
        const hint = opts.json === true ? process.stderr : process.stdout;
        if (opts.detach === true) {
          hint.write('stop it with: chainnode down\n');
          return;
        }
        // Ctrl-C in a terminal reaches the whole process group; a signal sent to this process
        // alone is relayed. Either way the supervisor stops nodes first, then PostgreSQL.
        const stop = (): void => {
          if (supervisor.exitCode === null) supervisor.kill('SIGTERM');
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        hint.write('running; press Ctrl-C to stop\n');
        const code = await exited;
        process.stdout.write('stopped\n');
        if (code !== 0) process.exitCode = 1;
      },
    );

  program
    .command('down')
    .description('stop the local network started by `up` (nodes first, then PostgreSQL)')
    .action(async (_opts: unknown, cmd: Command) => {
      const dir = resolveNetworkDir(cmd.optsWithGlobals<{ dir?: string }>().dir);
      const state = await readLocalState(dir);
      if (state === null) {
        process.stdout.write(`no local network is running from ${dir}\n`);
        return;
      }
      process.kill(state.supervisorPid, 'SIGTERM');
      await pollUntil('the network to stop', DOWN_TIMEOUT_MS, () =>
        Promise.resolve(processAlive(state.supervisorPid) ? undefined : true),
      );
      process.stdout.write('local network stopped\n');
    });

  // Internal: the long-running process behind `up`.
  program
    .command('supervise', { hidden: true })
    .option('--parent <pid>', 'stop when this process is gone (a foreground `up`)', integerOption(1, 2 ** 31))
    .action(async (opts: { parent?: number }, cmd: Command) => {
      const dir = resolveNetworkDir(cmd.optsWithGlobals<{ dir?: string }>().dir);
      await superviseLocalNetwork(dir, pino({ base: { component: 'supervisor' } }), {
        parentPid: opts.parent,
      });
    });
}
