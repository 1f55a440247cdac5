import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import { startApiServer } from '../../api/index.js';
import { ChainNode } from '../../node/index.js';
import { OrdererRole } from '../../orderer/index.js';
import { PeerRole } from '../../peer/index.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/**
 * `chainnode node start --config DIR/network.yaml --name orderer0`: the sketch's
 * `chainnode.py <config> <node number>`. Logs JSON lines (pino) on stdout and stops cleanly
 * on SIGTERM or SIGINT; a second signal forces the exit.
 */
export function registerNode(program: Command): Command {
  const node = program.command('node').description('run a node of a network');
  node
    .command('start')
    .description('start one node: its PostgreSQL-backed chain and its mutual-TLS links')
    .requiredOption('--config <file>', 'the network.yaml of the network')
    .requiredOption('--name <name>', 'this node, as named in network.yaml')
    .option(
      '--database-url <url>',
      'PostgreSQL to use (or DATABASE_URL); default: embedded, under the network directory',
    )
    .option('--schema <schema>', "PostgreSQL schema for this node's tables (default chainnode_<name>)")
    .option('--data-dir <dir>', 'where the embedded PostgreSQL keeps its data')
    .option('--no-verify', 'skip rechecking the stored chain at start-up')
    .option('--log-level <level>', `one of ${LOG_LEVELS.join(', ')}`, process.env.LOG_LEVEL ?? 'info')
    .action(
      async (opts: {
        config: string;
        name: string;
        databaseUrl?: string;
        schema?: string;
        dataDir?: string;
        verify: boolean;
        logLevel: string;
      }) => {
        if (!LOG_LEVELS.includes(opts.logLevel)) throw new Error(`unknown log level "${opts.logLevel}"`);
        const logger = pino({ level: opts.logLevel, base: { node: opts.name } });
        const node = await ChainNode.start({
          networkFile: opts.config,
          name: opts.name,
          databaseUrl: opts.databaseUrl,
          schema: opts.schema,
          dataDir: opts.dataDir,
          verifyOnStart: opts.verify,
          logger,
        });
        const running = await attachRoleAndApi(node, logger).catch(async (e: unknown) => {
          // Half-started: close what is open, or the links and database would keep the process alive.
          await node.stop();
          throw e;
        });
        await new Promise<void>((resolve) => {
          let signals = 0;
          const onSignal = (signal: NodeJS.Signals): void => {
            signals += 1;
            if (signals > 1) {
              logger.warn({ signal }, 'second signal: exiting without a clean stop');
              process.exit(130);
            }
            logger.info({ signal }, 'signal received');
            running.stop().then(resolve, (e: unknown) => {
              logger.error({ err: e }, 'unclean stop');
              process.exitCode = 1;
              resolve();
            });
          };
          process.on('SIGTERM', onSignal);
          process.on('SIGINT', onSignal);
        });
      },
    );
  return node;
}

/** The role's work (consensus, or commit/endorse/gateway) and the HTTP API, stopped in reverse order. */
async function attachRoleAndApi(node: ChainNode, logger: Logger): Promise<{ stop(): Promise<void> }> {
  const role = node.role === 'orderer' ? await OrdererRole.attach(node) : await PeerRole.attach(node);
  const entry = [...node.config.orderers, ...node.config.peers].find((n) => n.name === node.name);
  try {
    const api = await startApiServer({
      node,
      orderer: role instanceof OrdererRole ? role : undefined,
      peer: role instanceof PeerRole ? role : undefined,
      certPem: entry?.cert ?? '',
      keyPem: node.key.toPem(),
      logger: logger.child({ component: 'api' }),
      onStopRequested: () => process.kill(process.pid, 'SIGTERM'),
    });
    return {
      stop: async () => {
        await api.close();
        role.stop();
        await node.stop();
      },
    };
  } catch (e) {
    role.stop();
    throw e;
  }
}
