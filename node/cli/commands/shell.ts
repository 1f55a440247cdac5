import { existsSync, readFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { cliContext, type CliContext } from '../context.js';
import { networkStatus, statusTable } from './client.js';

/** Lines of history kept across sessions, in <dir>/.shell_history. */
export const SHELL_HISTORY_MAX = 1_000;

const HELP = `commands:
  use <node>                          talk to another node (the sketch's ":<port>," prefix)
  status                              every node: role, height, leader, health
  invoke <contract> <fn> [args...]    submit a transaction and wait for its result
  query <contract> <fn> [args...]     read-only call on the current node
  block <height|hash|latest>          show a block
  stop <node>                         stop a node (the sketch's "stop")
  help, exit
`;

/** Splits a line into words; double quotes group words with spaces. */
export function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

async function execute(ctx: CliContext, node: { current: string }, line: string): Promise<string> {
  const [command, ...args] = words(line);
  switch (command) {
    case undefined:
      return '';
    case 'help':
      return HELP;
    case 'use': {
      const name = args[0];
      if (name === undefined || !ctx.nodes().some((n) => n.name === name)) {
        return `unknown node ${name ?? ''}; nodes: ${ctx
          .nodes()
          .map((n) => n.name)
          .join(', ')}\n`;
      }
      node.current = name;
      return `now talking to ${name}\n`;
    }
    case 'status':
      return `${statusTable(await networkStatus(ctx))}\n`;
    case 'invoke': {
      const [contract, fn, ...rest] = args;
      if (contract === undefined || fn === undefined) return 'usage: invoke <contract> <fn> [args...]\n';
      const r = await (await ctx.client(node.current)).submit({ contract, fn, args: rest });
      return `${r.validation} in block ${r.height} (txId ${r.txId})${r.result === '' ? '' : `: ${r.result}`}\n`;
    }
    case 'query': {
      const [contract, fn, ...rest] = args;
      if (contract === undefined || fn === undefined) return 'usage: query <contract> <fn> [args...]\n';
      return `${await (await ctx.client(node.current)).evaluate({ contract, fn, args: rest })}\n`;
    }
    case 'block': {
      const b = (await (await ctx.client(node.current)).block(args[0] ?? 'latest')) as {
        hash: string;
        header: { height: number; txCount: number; prevHash: string };
      };
      return `block ${b.header.height}: ${b.header.txCount} transactions, hash ${b.hash}, previous ${b.header.prevHash}\n`;
    }
    case 'stop': {
      const name = args[0];
      if (name === undefined) return 'usage: stop <node>\n';
      await (await ctx.client(name)).stopNode();
      return `${name} is stopping\n`;
    }
    case 'exit':
    case 'quit':
      return '';
    default:
      return `unknown command "${command}" (try help)\n`;
  }
}

/**
 * `chainnode shell`: the sketch's interactive CLI. Commands go to the current node; `use`
 * switches nodes; history is kept in the network directory. Errors are printed, never fatal.
 */
export function registerShell(program: Command): void {
  program
    .command('shell')
    .description('an interactive prompt: send commands to a chosen node, switch nodes, with history')
    .option('--node <name>', 'node to start with (default: the first peer of your organisation)')
    .action(async (opts: { node?: string }, cmd: Command) => {
      const ctx = await cliContext(cmd);
      const node = {
        current:
          opts.node ??
          ctx.network.config.peers.find((p) => p.org === ctx.identity.org)?.name ??
          ctx.nodes()[0]?.name ??
          '',
      };
      const historyFile = join(ctx.dir, '.shell_history');
      const history = existsSync(historyFile)
        ? readFileSync(historyFile, 'utf8').split('\n').filter(Boolean).reverse().slice(0, SHELL_HISTORY_MAX)
        : [];
      const rl = createInterface({
        input: process.stdin,
        output: process.stdout,
        history,
        historySize: SHELL_HISTORY_MAX,
        terminal: process.stdin.isTTY,
      });
      const prompt = (): void => {
        rl.setPrompt(`chainnode(${node.current})> `);
        rl.prompt();
      };
      process.stdout.write(`connected as ${ctx.identity.org}/${ctx.identity.role}; type help\n`);
      prompt();
      for await (const line of rl) {
        const trimmed = line.trim();
        if (trimmed === 'exit' || trimmed === 'quit') break;
        if (trimmed !== '') await appendFile(historyFile, `${trimmed}\n`, { mode: 0o600 });
        try {
          process.stdout.write(await execute(ctx, node, trimmed));
        } catch (e) {
          process.stdout.write(`error: ${(e as Error).message}\n`);
        }
        prompt();
      }
      rl.close();
    });
}
