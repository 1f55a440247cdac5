import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type RunningPostgres } from '../../node/ledger/embedded-postgres.js';

declare global {
  var chainnodeTestPostgres: { server: RunningPostgres; dir: string } | undefined;
}

/**
 * One real PostgreSQL server for the whole test run: `DATABASE_URL` when the user gives one,
 * otherwise an embedded server in a fresh temporary directory. Tests isolate themselves with a
 * schema each (see test/support/database.ts).
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== '') {
    process.env.CHAINNODE_TEST_DATABASE_URL = process.env.DATABASE_URL;
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'chainnode-test-pg-'));
  // fsync off only because this cluster is thrown away after the run; nodes keep it on.
  const server = await startEmbeddedPostgres({ dir, settings: { fsync: 'off', max_connections: '300' } });
  globalThis.chainnodeTestPostgres = { server, dir };
  process.env.CHAINNODE_TEST_DATABASE_URL = server.url;
}
