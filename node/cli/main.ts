#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerBench } from './commands/bench.js';
import { registerClientCommands, registerNodeStop } from './commands/client.js';
import { registerConfig } from './commands/config.js';
import { registerMembership } from './commands/membership.js';
import { registerLocalNetwork } from './commands/local.js';
import { registerDevchain } from './commands/devchain.js';
import { registerExplorer } from './commands/explorer.js';
import { registerNetworkInit } from './commands/network-init.js';
import { registerNode } from './commands/node.js';
import { registerShell } from './commands/shell.js';
import { registerVerify } from './commands/verify.js';
import { errorLine } from './errors.js';

const program = new Command('chainnode')
  .description(
    'Chainnode: a permissioned BFT ledger — nodes over mutual TLS, a hash-linked chain in PostgreSQL',
  )
  .option('--dir <dir>', 'network directory (default: $CHAINNODE_DIR or ./.chainnode)')
  .option('--identity <org/role>', "identity to act as (default: the first org's admin)")
  .option('--debug', 'print stack traces of errors')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerNetworkInit(program.command('network').description('create and inspect network configurations'));
registerLocalNetwork(program);
const nodeCommand = registerNode(program);
registerNodeStop(nodeCommand);
registerMembership(program, nodeCommand);
registerConfig(program);
registerClientCommands(program);
registerShell(program);
registerDevchain(program);
registerVerify(program);
registerBench(program);
registerExplorer(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // commander has already printed its one-line message (or the help/version text).
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`${errorLine(error, program.opts<{ debug?: boolean }>().debug === true)}\n`);
    process.exitCode = 1;
  }
}
