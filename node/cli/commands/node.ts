import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import { startApiServer } from '../../api/index.js';
import { ChainNode } from '../../node/index.js';
import { OrdererRole } from '../../orderer/index.js';
import { byzantineModeFromEnv, enableByzantine, type ByzantineMode } from '../../orderer/byzantine.js';
import { PeerRole } from '../../peer/index.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];
/**
 * Test-only: `{"orderer1": "127.0.0.9:40001", ...}` makes this node dial those members at those
 * addresses instead of network.yaml's (test/chaos puts fault-injecting relays there).
 */
const DIAL_OVERRIDES_ENV = 'CHAINNODE_DIAL_OVERRIDES';

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
        // Test-only, double opt-in; throws (refusing to start) on anything doubtful: byzantine.ts.
        const byzantine = byzantineModeFromEnv(process.env);
        const dialAddress = dialOverrides(process.env[DIAL_OVERRIDES_ENV]);
        if (dialAddress !== undefined)
          logger.warn(`dialing members at the addresses in ${DIAL_OVERRIDES_ENV} (test only)`);
        const node = await ChainNode.start({
          networkFile: opts.config,
          name: opts.name,
          databaseUrl: opts.databaseUrl,
          schema: opts.schema,
          dataDir: opts.dataDir,
          verifyOnStart: opts.verify,
          logger,
          dialAddress,
        });
        const running = await attachRoleAndApi(node, logger, byzantine).catch(async (e: unknown) => {
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

/** Parses CHAINNODE_DIAL_OVERRIDES; undefined (dial network.yaml's addresses) when unset. */
function dialOverrides(
  json: string | undefined,
): ((member: string) => { host: string; port: number } | undefined) | undefined {
  if (json === undefined || json === '') return undefined;
  const parsed = JSON.parse(json) as unknown;
  if (typeof parsed !== 'object' || parsed === null)
    throw new Error(`${DIAL_OVERRIDES_ENV} must be a JSON object`);
  const table = new Map<string, { host: string; port: number }>();
  for (const [member, address] of Object.entries(parsed)) {
    const match = typeof address === 'string' ? /^(.+):(\d+)$/.exec(address) : null;
    if (match === null) throw new Error(`${DIAL_OVERRIDES_ENV}: "${member}" needs "host:port"`);
    table.set(member, { host: match[1] ?? '', port: Number(match[2]) });
  }
  return (member) => table.get(member);
}

/** The role's work (consensus, or commit/endorse/gateway) and the HTTP API, stopped in reverse order. */
async function attachRoleAndApi(
  node: ChainNode,
  logger: Logger,
  byzantineMode?: ByzantineMode,
): Promise<{ stop(): Promise<void> }> {
  const byzantine = byzantineMode === undefined ? undefined : enableByzantine(node, byzantineMode, logger);
  const role =
    node.role === 'orderer' ? await OrdererRole.attach(node, { byzantine }) : await PeerRole.attach(node);
  // The newest entry the node knows: a node added (or given a new key) after the head it has
  // reached is in the directory's updates, not yet in its chain's configuration.
  const entry = node.selfEntry;
  try {
    const api = await startApiServer({
      node,
      orderer: role instanceof OrdererRole ? role : undefined,
      peer: role instanceof PeerRole ? role : undefined,
      certPem: entry.cert,
      host: entry.host,
      port: entry.apiPort,
      keyPem: node.key.toPem(),
      logger: logger.child({ component: 'api' }),
      onStopRequested: () => process.kill(process.pid, 'SIGTERM'),
    });
    return {
      stop: async () => {
        // The role first: it answers clients still waiting for a commit, whose open requests
        // would otherwise hold the API server open until they time out.
        role.stop();
        await api.close();
        await node.stop();
      },
    };
  } catch (e) {
    role.stop();
    throw e;
  }
}
