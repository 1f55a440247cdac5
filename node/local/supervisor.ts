import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadLatestConfig, loadNetworkDir } from '../config/index.js';
import { openDatabase, type DatabaseHandle } from '../ledger/index.js';
import { serveControl, type ControlReply, type ControlRequest, type SupervisedNodes } from './control.js';
import { logDir, nodeLogFile } from './paths.js';
import { clearLocalState, processAlive, writeLocalState, type LocalState } from './state.js';

/** A node given this long to stop on SIGTERM before it is killed. */
export const NODE_STOP_GRACE_MS = 15_000;
/** How often a foreground network checks that its `up` process still lives. */
export const PARENT_CHECK_MS = 1_000;

interface Child {
  process: ChildProcess | null;
  state: LocalState['nodes'][string]['state'];
  exitCode: number | null;
}

/** How to run `chainnode` again from this process: same Node flags (e.g. tsx) and entry script. */
export function chainnodeCommand(): { command: string; args: string[] } {
  const script = process.argv[1];
  if (script === undefined) throw new Error('cannot tell how chainnode was started');
  return { command: process.execPath, args: [...process.execArgv, script] };
}

/**
 * Runs a whole local network: one PostgreSQL (embedded in <dir>/postgres unless DATABASE_URL is
 * set) and one child process per node of network.yaml, each logging to <dir>/logs/<node>.log.
 * It records what runs in <dir>/run/state.json, and on SIGTERM/SIGINT stops the nodes first,
 * then the database. `chainnode up` starts it; `chainnode down` signals it.
 */
export async function superviseLocalNetwork(
  dir: string,
  logger: Logger,
  options: { parentPid?: number } = {},
): Promise<void> {
  const network = await loadNetworkDir(dir);
  // The members now: genesis plus the committed config updates (nodes added and removed since).
  const latest = await loadLatestConfig(dir, network.config);
  await mkdir(logDir(dir), { recursive: true });
  // Listening first: a failure here must not leave a database running.
  let handleControl: (request: ControlRequest) => Promise<ControlReply> = () =>
    Promise.reject(new Error('the network is starting'));
  const controlServer = await serveControl(dir, (request) => handleControl(request));
  const database: DatabaseHandle = await openDatabase({ dir }).catch((e: unknown) => {
    controlServer.close();
    throw e;
  });
  const children = new Map<string, Child>();
  const names = [...latest.orderers, ...latest.peers].map((n) => n.name as string);
  const cli = chainnodeCommand();
  let stopping = false;

  const nodeStates = (): SupervisedNodes =>
    Object.fromEntries(
      [...children].map(([name, c]) => [
        name,
        { pid: c.process?.pid ?? null, state: c.state, exitCode: c.exitCode },
      ]),
    );

  // Saves run one after another (node exits can come in bursts), and stop once shutting down.
  let saving: Promise<void> = Promise.resolve();
  const save = (): Promise<void> => {
    saving = saving
      .then(async () => {
        if (stopping) return;
        await writeLocalState(dir, {
          supervisorPid: process.pid,
          startedAtMs: Date.now(),
          databaseUrl: database.url,
          databaseDescription: database.description,
          nodes: nodeStates(),
        });
      })
      .catch((e: unknown) => {
        logger.error({ err: e }, 'cannot record the network state');
      });
    return saving;
  };

  const launch = (name: string): void => {
    const log = createWriteStream(nodeLogFile(dir, name), { flags: 'a' });
    const child = spawn(
      cli.command,
      [...cli.args, 'node', 'start', '--config', join(dir, 'network.yaml'), '--name', name],
      {
        env: { ...process.env, DATABASE_URL: database.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    const entry: Child = { process: child, state: 'running', exitCode: null };
    children.set(name, entry);
    child.once('exit', (code, signal) => {
      entry.process = null;
      entry.exitCode = code;
      // A node asked to stop (API or `node stop`) exits 0; anything else is worth a warning.
      entry.state = code === 0 ? 'stopped' : 'exited';
      if (!stopping) logger[code === 0 ? 'info' : 'warn']({ node: name, code, signal }, 'node exited');
      void save();
    });
  };

  /** Stops one node (SIGTERM, SIGKILL after the grace period) and forgets it. */
  const stopChild = async (name: string): Promise<void> => {
    const child = children.get(name);
    const p = child?.process ?? null;
    if (p !== null) {
      const exited = new Promise<void>((done) =>
        p.once('exit', () => {
          done();
        }),
      );
      p.kill('SIGTERM');
      const killer = setTimeout(() => p.kill('SIGKILL'), NODE_STOP_GRACE_MS);
      await exited.finally(() => {
        clearTimeout(killer);
      });
    }
    children.delete(name);
    await save();
  };

  // `chainnode node add|remove|rotate` and `org add`: what runs (asked before any change is
  // submitted), start a node just added to the configuration, stop one just removed from it.
  handleControl = async (request: ControlRequest): Promise<ControlReply> => {
    if (stopping) throw new Error('the network is stopping');
    if (request.op === 'status') return { nodes: nodeStates() };
    if (request.op === 'stop') {
      if (!children.has(request.name)) throw new Error(`${request.name} is not run by this network`);
      logger.info({ node: request.name }, 'stopping node (control request)');
      await stopChild(request.name);
      return {};
    }
    const config = await loadLatestConfig(dir, network.config);
    if (![...config.orderers, ...config.peers].some((n) => n.name === request.name))
      throw new Error(`${request.name} is not in the network's configuration (config-updates/)`);
    if (children.get(request.name)?.process != null) throw new Error(`${request.name} is already running`);
    logger.info({ node: request.name }, 'starting node (control request)');
    launch(request.name);
    await save();
    return {};
  };

  for (const name of names) launch(name);
  await save();
  logger.info({ nodes: names.length, database: database.description }, 'local network started');

  await new Promise<void>((resolve) => {
    const shutdown = (): void => {
      if (stopping) return;
      stopping = true;
      logger.info({}, 'stopping local network');
      controlServer.close();
      const exits = [...children.values()].flatMap((c) => {
        const p = c.process;
        if (p === null) return [];
        const exited = new Promise<void>((done) => {
          p.once('exit', () => {
            done();
          });
        });
        p.kill('SIGTERM');
        const killer = setTimeout(() => {
          p.kill('SIGKILL');
        }, NODE_STOP_GRACE_MS);
        return [
          exited.finally(() => {
            clearTimeout(killer);
          }),
        ];
      });
      void Promise.all([...exits, saving])
        .then(() => database.stop())
        .then(() => clearLocalState(dir))
        .catch((e: unknown) => {
          logger.error({ err: e }, 'unclean stop');
          process.exitCode = 1;
        })
        .finally(resolve);
    };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
    // Started in the foreground by `up`: if `up` dies without stopping us (killed), stop too,
    // rather than leave a network running that nobody started on purpose.
    const parentPid = options.parentPid;
    if (parentPid !== undefined) {
      const watch = setInterval(() => {
        if (!processAlive(parentPid)) {
          clearInterval(watch);
          logger.warn({ parentPid }, 'the `up` process that started this network is gone');
          shutdown();
        }
      }, PARENT_CHECK_MS);
      watch.unref();
    }
  });
  logger.info({}, 'local network stopped');
}
