import { Option, type Command } from 'commander';
import { addNode, addOrg, removeNode, rotateNodes } from '../../local/membership.js';
import { cliContext } from '../context.js';
import { printJson } from '../output.js';
import { integerOption } from '../parse.js';
import { reconfigurer } from './config.js';

const TIMEOUT_HELP = 'seconds to wait for a new node to catch up';
const TIMEOUT_S_MAX = 86_400;
const TIMEOUT_S_DEFAULT = 180;

/**
 * Shortcuts for a local network started by `chainnode up`, whose directory holds every
 * organisation's CA and admin keys: `node add|remove|rotate` and `org add` do what
 * `config propose/sign/submit` plus certificate issuance and process management would.
 * Progress goes to stderr (with seconds since the start); the result to stdout.
 */
export function registerMembership(program: Command, node: Command): void {
  node
    .command('add')
    .description(
      'add an orderer (learner, then promoted once caught up) or a peer to the running local network',
    )
    .addOption(
      new Option('--role <role>', "the new node's role").choices(['orderer', 'peer']).makeOptionMandatory(),
    )
    .option('--org <org>', "the node's organisation (default: the identity's)")
    .option('--name <name>', 'node name (default: the next free orderer<N> or peer<N>-<org>)')
    .option('--host <host>', "address to listen on (default: the network's)")
    .option('--timeout <s>', TIMEOUT_HELP, integerOption(1, TIMEOUT_S_MAX), TIMEOUT_S_DEFAULT)
    .option('--json', 'print the new node entry as JSON')
    .action(
      async (
        opts: {
          role: 'orderer' | 'peer';
          org?: string;
          name?: string;
          host?: string;
          timeout: number;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const ctx = await cliContext(cmd);
        const entry = await addNode(reconfigurer(ctx), ctx.network.config, {
          role: opts.role,
          org: opts.org,
          name: opts.name,
          host: opts.host,
          timeoutMs: opts.timeout * 1000,
        });
        if (opts.json === true) printJson({ ...entry, cert: undefined, role: opts.role });
        else
          process.stdout.write(
            `${entry.name} added (${opts.role}, ${entry.org}, api https://${entry.host}:${entry.apiPort})\n`,
          );
      },
    );

  node
    .command('remove')
    .description(
      'remove a node from the running local network (config update; refused if the quorum would not be available), then stop it',
    )
    .argument('<name>')
    .option('--json', 'print the configuration sequence and the remaining members as JSON')
    .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const ctx = await cliContext(cmd);
      const config = await removeNode(reconfigurer(ctx), ctx.network.config, name);
      if (opts.json === true)
        printJson({
          removed: name,
          sequence: config.sequence,
          orderers: config.orderers.map((o) => ({ name: o.name, voting: o.learner !== true })),
          peers: config.peers.map((p) => p.name),
        });
      else process.stdout.write(`${name} removed\n`);
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
      integerOption(1, TIMEOUT_S_MAX),
      TIMEOUT_S_DEFAULT,
    )
    .option('--json', "print the rotated nodes and their new certificates' expiry as JSON")
    .action(
      async (
        names: string[],
        opts: { all?: boolean; newKey?: boolean; timeout: number; json?: boolean },
        cmd: Command,
      ) => {
        const ctx = await cliContext(cmd);
        if (opts.all === true && names.length > 0) throw new Error('give node names or --all, not both');
        const targets = opts.all === true ? ctx.nodes().map((n) => n.name as string) : names;
        if (targets.length === 0) throw new Error('name the nodes to rotate, or --all');
        const config = await rotateNodes(reconfigurer(ctx), ctx.network.config, targets, {
          newKey: opts.newKey === true,
          timeoutMs: opts.timeout * 1000,
        });
        if (opts.json === true)
          printJson({
            rotated: targets,
            newKey: opts.newKey === true,
            sequence: config.sequence,
          });
        else process.stdout.write(`rotated: ${targets.join(', ')}\n`);
      },
    );

  const org = program.command('org').description('organisations of a local network');
  org
    .command('add')
    .description('create a new organisation (CA, admin, client), add it and its peers, start them')
    .argument('<name>')
    .option('--peers <n>', 'peers to create', integerOption(0, 16), 1)
    .option('--host <host>', "address for its peers (default: the network's)")
    .option('--timeout <s>', TIMEOUT_HELP, integerOption(1, TIMEOUT_S_MAX), TIMEOUT_S_DEFAULT)
    .option('--json', 'print the organisation, its peers and the configuration sequence as JSON')
    .action(
      async (
        name: string,
        opts: { peers: number; host?: string; timeout: number; json?: boolean },
        cmd: Command,
      ) => {
        const ctx = await cliContext(cmd);
        const config = await addOrg(reconfigurer(ctx), ctx.network.config, {
          name,
          peers: opts.peers,
          host: opts.host,
          timeoutMs: opts.timeout * 1000,
        });
        const peers = config.peers.filter((p) => p.org === name);
        if (opts.json === true)
          printJson({
            org: name,
            sequence: config.sequence,
            peers: peers.map((p) => ({ name: p.name, host: p.host, port: p.port, apiPort: p.apiPort })),
          });
        else
          process.stdout.write(
            `organisation ${name} added${peers.length > 0 ? ` with ${peers.map((p) => p.name).join(', ')}` : ''}\n`,
          );
      },
    );
}
