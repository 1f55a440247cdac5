import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainnodeProcess, randomLoopback, runChainnode } from '../support/processes.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chainnode-quickstart-'));
  await chmod(dir, 0o755);
});

afterAll(async () => {
  // Whatever happened above, leave no network running.
  await runChainnode(['--dir', dir, 'down']);
  await rm(dir, { recursive: true, force: true });
});

/** What `npm start` runs after building: `chainnode up --demo`, in the foreground, stopped with Ctrl-C. */
async function npmStartOnce(extra: string[]): Promise<string> {
  const proc = ChainnodeProcess.start('npm start', ['--dir', dir, 'up', '--demo', ...extra], {
    DATABASE_URL: '',
  });
  await proc.waitFor((l) => l.msg === 'running; press Ctrl-C to stop', 180_000, 'the network to run');
  const exit = await proc.stop('SIGINT');
  expect(exit.code).toBe(0);
  return proc.lines.map((l) => l.msg ?? '').join('\n');
}

describe('the README quickstart (npm start)', () => {
  it('package.json start runs `up --demo`, as the README says', () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toMatch(/up --demo$/);
    expect(readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8')).toContain(
      'npm ci && npm start',
    );
  });

  it('brings up the network, prints the latest block as the sketch did, stops on Ctrl-C and continues the chain next time', async () => {
    const { host, basePort } = randomLoopback();
    const first = await npmStartOnce(['--host', host, '--base-port', String(basePort)]);
    const height = Number(/Blocks loaded \d+ \(max index=(\d+)\)/.exec(first)?.[1]);
    expect(height).toBeGreaterThanOrEqual(8); // 3 deployments + 5 trades after genesis
    expect(first).toMatch(/"ISIN": "[0-9a-f]{64}"/);
    expect(first).toContain('stopped');

    const second = await npmStartOnce([]);
    const again = Number(/Blocks loaded \d+ \(max index=(\d+)\)/.exec(second)?.[1]);
    expect(again).toBe(height + 5);
  });
});
