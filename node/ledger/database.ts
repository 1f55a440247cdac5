import { join } from 'node:path';
import { startEmbeddedPostgres } from './embedded-postgres.js';

export interface DatabaseHandle {
  /** Contains credentials: never log it. */
  readonly url: string;
  /** Where it came from, safe to print. */
  readonly description: string;
  stop(): Promise<void>;
}

/**
 * The PostgreSQL a command or node uses: `DATABASE_URL` (or an explicit URL) when given,
 * otherwise an embedded server whose data lives in `<dir>/postgres`, so nothing needs to be
 * installed. The embedded server belongs to this process and stops with it.
 */
export async function openDatabase(options: {
  dir: string;
  databaseUrl?: string | undefined;
  onLog?: (line: string) => void;
}): Promise<DatabaseHandle> {
  const url = options.databaseUrl ?? process.env.DATABASE_URL;
  if (url !== undefined && url !== '') {
    return { url, description: `external PostgreSQL ${redactUrl(url)}`, stop: () => Promise.resolve() };
  }
  const dataDir = join(options.dir, 'postgres');
  const server = await startEmbeddedPostgres({
    dir: dataDir,
    ...(options.onLog ? { onLog: options.onLog } : {}),
  });
  return {
    url: server.url,
    description: `embedded PostgreSQL in ${dataDir} (127.0.0.1:${server.port})`,
    stop: () => server.stop(),
  };
}

/** postgres://user:secret@host/db -> postgres://user:***@host/db, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable database URL>';
  }
}

/** One schema per node, so a whole local network can share one database. */
export function nodeSchema(nodeName: string): string {
  return `chainnode_${nodeName.replaceAll('-', '_')}`;
}
