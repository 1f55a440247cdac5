import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomLoopback, runChainnode, type CommandResult } from '../support/processes.js';

let dir: string;

/** `chainnode --dir DIR ...` as a user types it (DATABASE_URL cleared: `up` runs its own PostgreSQL). */
function chainnode(...args: string[]): Promise<CommandResult> {
  return runChainnode(['--dir', dir, ...args], { DATABASE_URL: '' });
}

/** Types `lines` into `chainnode shell` and returns everything it printed. */
function shellSession(lines: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '../../node/cli/main.ts'), '--dir', dir, 'shell'],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', () => {
      resolve(out);
    });
    child.stdin.end(`${lines.join('\n')}\n`);
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chainnode-journey-'));
  // The embedded PostgreSQL runs as user 'postgres' when tests run as root: it must traverse dir.
  await chmod(dir, 0o755);
});

afterAll(async () => {
  await chainnode('down');
  await rm(dir, { recursive: true, force: true });
});

describe('the CLI, driven as a user would', () => {
  it('network init -> up --detach -> contract deploy -> invoke / query -> block -> verify -> node stop -> status -> down', async () => {
    const { host, basePort } = randomLoopback();
    const init = await chainnode(
      'network',
      'init',
      '--orderers',
      '4',
      '--orgs',
      '2',
      '--host',
      host,
      '--base-port',
      String(basePort),
    );
    expect(init.code).toBe(0);

    const up = await chainnode('up', '--detach', '--json');
    expect(up.stderr).toContain('deployed contracts: trade, asset-transfer, kv');
    expect(up.code).toBe(0);
    const nodes = JSON.parse(up.stdout) as { name: string; healthy: boolean }[];
    expect(nodes.map((n) => [n.name, n.healthy])).toEqual(
      ['orderer0', 'orderer1', 'orderer2', 'orderer3', 'peer0-org1', 'peer0-org2'].map((n) => [n, true]),
    );

    const source = join(dir, 'counter.js');
    await writeFile(
      source,
      'export function bump(ctx, key) { const n = Number(ctx.get(key) ?? 0) + 1; ctx.put(key, String(n)); return n; }\nexport function read(ctx, key) { return Number(ctx.get(key) ?? 0); }\n',
    );
    const deploy = await chainnode('contract', 'deploy', 'counter', source);
    expect(deploy.stdout).toMatch(/contract counter 1: committed \(VALID\)/);

    expect((await chainnode('invoke', 'counter', 'bump', 'hits')).stdout).toMatch(
      /committed \(VALID\) in block \d+.*\nresult: 1/s,
    );
    const second = await chainnode(
      '--identity',
      'org2/client',
      'invoke',
      'counter',
      'bump',
      'hits',
      '--json',
    );
    expect(JSON.parse(second.stdout)).toMatchObject({ validation: 'VALID', result: '2' });
    expect((await chainnode('query', 'counter', 'read', 'hits')).stdout.trim()).toBe('2');

    const block = JSON.parse((await chainnode('block', 'latest', '--json')).stdout) as {
      header: { height: number };
      transactions: { contract: string; validation: string }[];
    };
    expect(block.transactions).toEqual([
      expect.objectContaining({ contract: 'counter', validation: 'VALID' }),
    ]);

    const verify = await chainnode('verify', '--json');
    expect(verify.code).toBe(0);
    const reports = JSON.parse(verify.stdout) as { ok: boolean; blocks: number }[];
    expect(reports).toHaveLength(6);
    expect(reports.every((r) => r.ok && r.blocks === block.header.height + 1)).toBe(true);

    // The sketch's interactive CLI: commands to a node, switching nodes, errors that do not end it.
    const shell = await shellSession([
      'query counter read hits',
      'use peer0-org2',
      'query counter read hits',
      'frobnicate',
      'use nosuch',
      'exit',
    ]);
    expect(shell).toContain('chainnode(peer0-org1)> 2');
    expect(shell).toContain('now talking to peer0-org2');
    expect(shell).toContain('chainnode(peer0-org2)> 2');
    expect(shell).toContain('unknown command "frobnicate" (try help)');
    expect(shell).toContain('unknown node nosuch');

    expect((await chainnode('node', 'stop', 'orderer3')).stdout).toContain('orderer3 is stopping');
    let status: { name: string; healthy: boolean }[] = [];
    for (let attempt = 0; attempt < 40; attempt++) {
      status = JSON.parse((await chainnode('status', '--json')).stdout) as typeof status;
      if (status.find((s) => s.name === 'orderer3')?.healthy === false) break;
    }
    expect(status.find((s) => s.name === 'orderer3')?.healthy).toBe(false);
    // f = 1: three orderers still order.
    expect((await chainnode('invoke', 'counter', 'bump', 'hits')).stdout).toMatch(/committed \(VALID\)/);

    const down = await chainnode('down');
    expect(down.stdout).toContain('local network stopped');
    expect((await chainnode('status', '--json')).code).toBe(1);
  });

  it('gives one clear line and a non-zero exit for a bad contract file, an unknown node and a wrong identity', async () => {
    const missing = await chainnode('contract', 'deploy', 'x', join(dir, 'nope.js'));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('cannot read');
    const unknownNode = await chainnode('query', 'kv', 'get', 'k', '--node', 'peer9');
    expect(unknownNode.stderr).toContain('no node named peer9');
    const badIdentity = await chainnode('--identity', 'org1/root', 'status');
    expect(badIdentity.stderr).toContain('--identity must be <org>/<admin|client>');
    expect(badIdentity.stderr).not.toMatch(/\n\s+at /);
  });
});
