import type { Command } from 'commander';
import { addNode, addOrg, removeNode, rotateNodes } from '../../local/membership.js';
import { cliContext } from '../context.js';
import { printJson } from '../output.js';
import { integerOption } from '../parse.js';
import { reconfigurer } from './config.js';

const TIMEOUT_HELP = 'seconds to wait for a new node to catch up';

/**
 * Shortcuts for a local network started by `chainnode up`, whose directory holds every
 * organisation's CA and admin keys: `node add|remove|rotate` and `org add` do what
 * `config propose/sign/submit` plus certificate issuance and process management would.
 */
export function registerMembership(program: Command, node: Command): void {
  node
    .command('add')
    .description(
      'add an orderer (learner, then promoted once caught up) or a peer to the running local network',
    )
    .requiredOption('--role <role>', 'orderer or peer')
    .option('--org <org>', "the node's organisation (default: the identity's)")
    .option('--name <name>', 'node name (default: the next free orderer<N> or peer<N>-<org>)')
    .option('--host <host>', "address to listen on (default: the network's)")
    .option('--timeout <s>', TIMEOUT_HELP, integerOption(1, 86_400), 180)
    .option('--json', 'print the new node entry as JSON')
    .action(
      async (
        opts: { role: string; org?: string; name?: string; host?: string; timeout: number; json?: boolean },
        cmd: Command,
      ) => {
        if (opts.role !== 'orderer' && opts.role !== 'peer')
          throw new Error(`--role must be orderer or peer, got "${opts.role}"`);
        const ctx = await cliContext(cmd);
        const entry = await addNode(reconfigurer(ctx), ctx.network.config, {
          role: opts.role,
          org: opts.org,
          name: opts.name,
          host: opts.host,
          timeoutMs: opts.timeout * 1000,
        });
        if (opts.json === true) printJson({ ...entry, cert: undefined });
        else
          process.stdout.write(
            `${entry.name} added (${opts.role}, ${entry.org}, api https://${entry.host}:${entry.apiPort})\n`,
          );
      },
    );

  node
    .command('remove')
    .description('remove a node from the running local network (config update), then stop it')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const ctx = await cliContext(cmd);
      await removeNode(reconfigurer(ctx), ctx.network.config, name);
      process.stdout.write(`${name} removed\n`);
    });

  node
    .command('rotate')
    .description(
      'renew node certificates (same key, adopted live) one node at a time through replace-cert updates; --new-key: new key pairs, each node restarted with its new key',
    )
    .argument('[names...]', 'nodes to rotate')
    .option('--all', 'every node of the network')
    .option('--new-key', 'issue a new key pair too (the node restarts with it and catches up)')
    .option(
      '--timeout <s>',
      'seconds to wait for a restarted node to catch up',
      integerOption(1, 86_400),
      180,
    )
    .action(
      async (names: string[], opts: { all?: boolean; newKey?: boolean; timeout: number }, cmd: Command) => {
        const ctx = await cliContext(cmd);
        if (opts.all === true && names.length > 0) throw new Error('give node names or --all, not both');
        const targets = opts.all === true ? ctx.nodes().map((n) => n.name as string) : names;
        if (targets.length === 0) throw new Error('name the nodes to rotate, or --all');
        await rotateNodes(reconfigurer(ctx), ctx.network.config, targets, {
          newKey: opts.newKey === true,
          timeoutMs: opts.timeout * 1000,
        });
        process.stdout.write(`rotated: ${targets.join(', ')}\n`);
      },
    );

  const org = program.command('org').description('organisations of a local network');
  org
    .command('add')
    .description('create a new organisation (CA, admin, client), add it and its peers, start them')
    .argument('<name>')
    .option('--peers <n>', 'peers to create', integerOption(0, 16), 1)
    .option('--host <host>', "address for its peers (default: the network's)")
    .option('--timeout <s>', TIMEOUT_HELP, integerOption(1, 86_400), 180)
    .action(async (name: string, opts: { peers: number; host?: string; timeout: number }, cmd: Command) => {
      const ctx = await cliContext(cmd);
      const config = await addOrg(reconfigurer(ctx), ctx.network.config, {
        name,
        peers: opts.peers,
        host: opts.host,
        timeoutMs: opts.timeout * 1000,
      });
      const peers = config.peers.filter((p) => p.org === name).map((p) => p.name);
      process.stdout.write(
        `organisation ${name} added${peers.length > 0 ? ` with ${peers.join(', ')}` : ''}\n`,
      );
    });
}
