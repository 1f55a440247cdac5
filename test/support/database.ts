import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server the global setup started (or the user's DATABASE_URL). */
export function testDatabaseUrl(): string {
  const url = process.env.CHAINNODE_TEST_DATABASE_URL;
  if (url === undefined || url === '')
    throw new Error('CHAINNODE_TEST_DATABASE_URL is not set: run tests with `npm test`');
  return url;
}

/** A schema name no other test uses, so test files can run in parallel on one server. */
export function uniqueSchema(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: testDatabaseUrl() });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
