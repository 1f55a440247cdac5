import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadNetworkDir, readUserIdentity, writeNetworkDir, type LoadedNetwork } from '../config/index.js';
import { logDir } from '../local/paths.js';
import { readLocalState } from '../local/state.js';
import { chainnodeCommand } from '../local/supervisor.js';
import { generateNetwork, localAddresses } from '../network/index.js';
import { ChainnodeClient } from '../sdk/index.js';
import type { NodeProcess } from './load.js';
import { postmasterPid } from './proc.js';

/** How long a new network may take to answer on every node, linked to every other member. */
export const START_TIMEOUT_MS = 180_000;
/** How long the supervisor may take to stop nodes and PostgreSQL before it is killed. */
export const STOP_TIMEOUT_MS = 60_000;
const STATUS_TIMEOUT_MS = 3_000;
const POLL_MS = 250;

/** A network under test: a temporary one the harness started, or a running `up --detach` network. */
export interface BenchNetwork {
  readonly dir: string;
  readonly temporary: boolean;
  readonly network: LoadedNetwork;
  readonly nodes: readonly NodeProcess[];
  readonly postgresPid: number | null;
  /** The nodes' database (contains a password: never printed). */
  readonly databaseUrl: string;
  /** A client for `node` acting as `org`'s `role` user. */
  client(node: string, org: string, role: 'admin' | 'client'): Promise<ChainnodeClient>;
  /** Stops a temporary network (nodes, then PostgreSQL) and removes its directory; no-op otherwise. */
  stop(): Promise<void>;
}

export interface TemporaryNetworkOptions {
  readonly orderers: number;
  readonly orgs: number;
  readonly peersPerOrg: number;
  readonly host: string;
  readonly basePort: number;
  /** Keep the directory (logs, chain) after the run; it is printed. */
  readonly keep: boolean;
  readonly onProgress?: (healthy: number, total: number) => void;
  /** Gives up starting (and stops what started) when this aborts. */
  readonly signal?: AbortSignal;
}

/**
 * Starts a network as `chainnode network init` + `chainnode up` do, in a fresh temporary
 * directory: the same generated material, and the same supervisor process (one embedded
 * PostgreSQL, one process per node), run with `--parent <this pid>` as a foreground `up` runs it,
 * so it stops by itself if this process dies without cleaning up. `stop()` does what `chainnode
 * down` does and removes the directory.
 */
export async function startTemporaryNetwork(options: TemporaryNetworkOptions): Promise<BenchNetwork> {
  const dir = await mkdtemp(join(tmpdir(), 'chainnode-bench-'));
  // mkdtemp makes it 0700; PostgreSQL (run as 'postgres' when we are root) must traverse it.
  await chmod(dir, 0o755);
  let supervisor: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    if (supervisor !== undefined) await stopSupervisor(supervisor);
    if (!options.keep) await rm(dir, { recursive: true, force: true });
  };
  try {
    await writeNetworkDir(
      dir,
      await generateNetwork({
        orderers: options.orderers,
        orgs: options.orgs,
        peersPerOrg: options.peersPerOrg,
        networkId: 'bench',
        address: localAddresses(options.host, options.basePort),
      }),
    );
    await mkdir(logDir(dir), { recursive: true });
    const out = openSync(join(logDir(dir), 'supervisor.log'), 'a');
    const cli = chainnodeCommand();
    // DATABASE_URL is cleared: the network gets its own embedded PostgreSQL (fsync on, as
    // production), never a schema in someone's existing database.
    const child = spawn(
      cli.command,
      [...cli.args, '--dir', dir, 'supervise', '--parent', String(process.pid)],
      { stdio: ['ignore', out, out], env: { ...process.env, DATABASE_URL: '' } },
    );
    supervisor = child;
    closeSync(out);
    const network = await loadNetworkDir(dir);
    const bench = describe(dir, network, true, stop);
    await waitUntilLinked(
      bench,
      async () => {
        if (options.signal?.aborted === true) return 'interrupted while the network was starting';
        if (child.exitCode !== null || child.signalCode !== null) return 'the network failed to start';
        // A node that exited (a port in use, a bad database) is not restarted: fail now.
        const nodes = Object.entries((await readLocalState(dir))?.nodes ?? {});
        const dead = nodes.find(([, n]) => n.state === 'exited');
        return dead === undefined
          ? null
          : `${dead[0]} exited with code ${String(dead[1].exitCode)} while the network was starting`;
      },
      options.onProgress,
    );
    // The pids are known once the supervisor has launched every node.
    const state = await readLocalState(dir);
    if (state === null) throw new Error(`the network in ${dir} did not record its state`);
    return {
      ...bench,
      nodes: bench.nodes.map((n) => ({ ...n, pid: state.nodes[n.name]?.pid ?? null })),
      postgresPid: await postmasterPid(join(dir, 'postgres', 'pgdata')),
      databaseUrl: state.databaseUrl,
    };
  } catch (e) {
    // The directory goes with the network: keep what its logs say about the failure.
    const why = options.keep ? '' : await logTail(dir);
    await stop();
    if (e instanceof Error)
      e.message = options.keep
        ? `${e.message}; logs in ${logDir(dir)}`
        : `${e.message}${why === '' ? '' : `; the logs said: ${why}`} (--keep keeps the network's logs)`;
    throw e;
  }
}

/** The last error lines of a network's logs (JSON lines of level ≥ 50, or plain text), for a failure message. */
async function logTail(dir: string): Promise<string> {
  const lines: string[] = [];
  try {
    for (const file of await readdir(logDir(dir))) {
      const text = await readFile(join(logDir(dir), file), 'utf8');
      for (const line of text.split('\n').slice(-200)) {
        let level = 50;
        let msg = line;
        try {
          const parsed = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
          level = parsed.level ?? 30;
          msg = `${parsed.msg ?? ''}${parsed.err?.message === undefined ? '' : `: ${parsed.err.message}`}`;
        } catch {
          // not JSON: PostgreSQL or a crash, worth showing
        }
        if (level >= 50 && msg.trim() !== '') lines.push(`${file.replace(/\.log$/, '')}: ${msg.trim()}`);
      }
    }
  } catch {
    return '';
  }
  return lines.slice(-3).join(' | ').slice(0, 1000);
}

/** A local network already running from `dir` (`chainnode up --detach`): measured, never stopped. */
export async function targetNetwork(dir: string): Promise<BenchNetwork> {
  const state = await readLocalState(dir);
  if (state === null)
    throw new Error(
      `no local network is running from ${dir}: start it with \`chainnode --dir ${dir} up --detach\`, or leave out --network/--dir to benchmark a temporary network`,
    );
  const network = await loadNetworkDir(dir);
  const bench = describe(dir, network, false, () => Promise.resolve());
  return {
    ...bench,
    nodes: bench.nodes.map((n) => ({ ...n, pid: state.nodes[n.name]?.pid ?? null })),
    postgresPid: await postmasterPid(join(dir, 'postgres', 'pgdata')),
    databaseUrl: state.databaseUrl,
  };
}

function describe(
  dir: string,
  network: LoadedNetwork,
  temporary: boolean,
  stop: () => Promise<void>,
): BenchNetwork {
  const { config } = network;
  const caCerts = config.orgs.flatMap((o) => o.caCerts);
  const all = [...config.orderers, ...config.peers];
  const users = new Map<string, { certPem: string; keyPem: string }>();
  const client = async (node: string, org: string, role: 'admin' | 'client'): Promise<ChainnodeClient> => {
    const entry = all.find((n) => n.name === node);
    if (entry === undefined) throw new Error(`no node ${node} in the network`);
    const key = `${org}/${role}`;
    let user = users.get(key);
    if (user === undefined) {
      user = await readUserIdentity(dir, org, role);
      users.set(key, user);
    }
    return ChainnodeClient.connect({
      url: `https://${entry.host}:${String(entry.apiPort)}`,
      certPem: user.certPem,
      keyPem: user.keyPem,
      caCerts,
    });
  };
  return {
    dir,
    temporary,
    network,
    nodes: all.map((n) => ({
      name: n.name,
      role: config.orderers.includes(n) ? 'orderer' : 'peer',
      org: n.org,
      pid: null,
    })),
    postgresPid: null,
    databaseUrl: '',
    client,
    stop,
  };
}

/** Every node answers /status and has a link up with every other member (endorsement needs the mesh). */
async function waitUntilLinked(
  net: BenchNetwork,
  /** Why starting failed, or null while it may still succeed. */
  failed: () => Promise<string | null>,
  onProgress?: (healthy: number, total: number) => void,
): Promise<void> {
  const admin = net.network.config.orgs[0]?.name ?? 'org1';
  const clients = await Promise.all(net.nodes.map((n) => net.client(n.name, admin, 'admin')));
  const total = clients.length;
  const deadline = Date.now() + START_TIMEOUT_MS;
  try {
    for (;;) {
      const problem = await failed();
      if (problem !== null) throw new Error(problem);
      const ready = await Promise.all(
        clients.map(async (c) => {
          try {
            const s = (await Promise.race([
              c.status(),
              sleep(STATUS_TIMEOUT_MS, undefined, { ref: false }).then(() => {
                throw new Error('status timed out');
              }),
            ])) as { connectedPeers: string[] };
            return s.connectedPeers.length === total - 1;
          } catch {
            return false;
          }
        }),
      );
      const up = ready.filter(Boolean).length;
      onProgress?.(up, total);
      if (up === total) return;
      if (Date.now() > deadline)
        throw new Error(
          `the network in ${net.dir} was not up within ${START_TIMEOUT_MS / 1000} s (${up}/${total} nodes linked)`,
        );
      await sleep(POLL_MS);
    }
  } finally {
    for (const c of clients) c.close();
  }
}

async function stopSupervisor(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  child.kill('SIGTERM');
  const killer = setTimeout(() => {
    child.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(killer);
}
