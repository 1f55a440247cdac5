import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNetworkDir } from '../../node/config/index.js';
import { dropSchema, testDatabaseUrl, uniqueSchema } from '../support/database.js';
import { runChainnode } from '../support/processes.js';

/** Runs `chainnode` as a user would: a child process, its exit code and its two streams. */
const chainnode = runChainnode;

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'chainnode-cli-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('chainnode network init', () => {
  it('writes a loadable, signed network with 0600 private keys and prints no key material', async () => {
    const out = join(work, 'net');
    const result = await chainnode([
      'network',
      'init',
      '--orderers',
      '4',
      '--orgs',
      '2',
      '--peers-per-org',
      '1',
      '--out',
      out,
      '--json',
    ]);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as { nodes: { name: string; role: string }[] };
    expect(summary.nodes.map((n) => n.name)).toEqual([
      'orderer0',
      'orderer1',
      'orderer2',
      'orderer3',
      'peer0-org1',
      'peer0-org2',
    ]);
    expect(result.stdout + result.stderr).not.toContain('PRIVATE KEY');

    const keys = (await listFiles(out)).filter((f) => f.endsWith('key.pem'));
    // 2 CAs + 4 orderers + 2 peers + 2 admins + 2 clients
    expect(keys).toHaveLength(12);
    for (const key of keys) expect((await stat(key)).mode & 0o777).toBe(0o600);

    const network = await loadNetworkDir(out);
    expect(network.config.orderers).toHaveLength(4);
    expect(network.config.peers.map((p) => p.org)).toEqual(['org1', 'org2']);
  });

  it('refuses to overwrite an existing network, in one line with a non-zero exit', async () => {
    const out = join(work, 'twice');
    expect((await chainnode(['network', 'init', '--orderers', '1', '--orgs', '1', '--out', out])).code).toBe(
      0,
    );
    const again = await chainnode(['network', 'init', '--orderers', '1', '--orgs', '1', '--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toContain('network.yaml already exists');
  });

  it('names a bad flag value, an unknown flag and an unknown command', async () => {
    const zero = await chainnode(['network', 'init', '--orderers', '0', '--out', join(work, 'zero')]);
    expect(zero.code).not.toBe(0);
    expect(zero.stderr).toContain('expected an integer from 1 to 64, got "0"');
    const flag = await chainnode(['network', 'init', '--colour', 'blue']);
    expect(flag.code).not.toBe(0);
    expect(flag.stderr).toContain("unknown option '--colour'");
    const command = await chainnode(['frobnicate']);
    expect(command.code).not.toBe(0);
    expect(command.stderr).toContain("unknown command 'frobnicate'");
  });
});

describe('chainnode devchain and verify', () => {
  const schema = uniqueSchema('demo');
  let dir: string;
  beforeAll(() => {
    dir = join(work, schema);
  });
  afterAll(async () => {
    await dropSchema(schema);
  });

  it('records trades in certified blocks, prints the latest block and continues the same chain when run again', async () => {
    const env = { DATABASE_URL: testDatabaseUrl() };
    const first = await chainnode(
      ['--dir', dir, 'devchain', '--blocks', '2', '--trades-per-block', '3', '--schema', schema],
      env,
    );
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('Blocks loaded 3 from external PostgreSQL');
    expect(first.stdout).not.toContain(env.DATABASE_URL);
    expect(first.stdout).toMatch(/"ISIN": "[0-9a-f]{64}"/);
    expect(first.stdout).toContain('verify: ok, 3 blocks and 7 transactions rechecked');

    const second = await chainnode(
      ['--dir', dir, 'devchain', '--blocks', '2', '--trades-per-block', '3', '--schema', schema],
      env,
    );
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('(max index=4)');

    const verify = await chainnode(['--dir', dir, 'verify', '--schema', schema, '--json'], env);
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout)).toEqual([
      expect.objectContaining({ schema, ok: true, blocks: 5, transactions: 13 }),
    ]);
  });
});
