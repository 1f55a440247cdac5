import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { dropSchema, testDatabaseUrl, uniqueSchema } from '../support/database.js';
import { ChainnodeProcess, randomLoopback, runChainnode, type LogLine } from '../support/processes.js';

const NODES = ['orderer0', 'orderer1', 'orderer2', 'orderer3', 'peer0-org1', 'peer0-org2'];

let work: string;
let networkFile: string;
const schemaOf = new Map<string, string>();
const processes = new Map<string, ChainnodeProcess>();

function startNode(name: string): ChainnodeProcess {
  const proc = ChainnodeProcess.start(
    name,
    ['node', 'start', '--config', networkFile, '--name', name, '--schema', schemaOf.get(name)!],
    { DATABASE_URL: testDatabaseUrl() },
  );
  processes.set(name, proc);
  return proc;
}

const statusFrom = (peer: string) => (l: LogLine) => l.msg === 'peer status' && l.peer === peer;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'chainnode-cluster-'));
  const { host, basePort } = randomLoopback();
  const init = await runChainnode([
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
    '--out',
    work,
  ]);
  if (init.code !== 0) throw new Error(`network init failed: ${init.stderr}`);
  networkFile = join(work, 'network.yaml');
  for (const name of NODES) schemaOf.set(name, uniqueSchema(name.replaceAll('-', '_')));
});

afterAll(async () => {
  await Promise.all([...processes.values()].map((p) => p.stop('SIGKILL')));
  await Promise.all([...schemaOf.values()].map(dropSchema));
  await rm(work, { recursive: true, force: true });
});

describe('node processes over mutual TLS', () => {
  it('six nodes start, connect into a full mesh and exchange signed status messages', async () => {
    for (const name of NODES) startNode(name);
    await Promise.all(
      NODES.map((n) => processes.get(n)!.waitFor((l) => l.msg === 'node ready', 60_000, 'node ready')),
    );
    for (const name of NODES) {
      const proc = processes.get(name)!;
      for (const other of NODES.filter((o) => o !== name)) {
        const status = await proc.waitFor(statusFrom(other), 30_000, `a status from ${other}`);
        expect(status.height).toBe(0);
      }
    }
    const heads = NODES.map((n) => processes.get(n)!.lines.find((l) => l.msg === 'node ready')!.headHash);
    expect(new Set(heads).size).toBe(1);
  });

  it('a node killed and restarted is reconnected to by the others without intervention', async () => {
    const victim = processes.get('orderer2')!;
    const others = NODES.filter((n) => n !== 'orderer2').map((n) => processes.get(n)!);
    const statusesBefore = others.map((p) => p.count(statusFrom('orderer2')));
    await victim.stop('SIGKILL');
    await Promise.all(
      others.map((p) =>
        p.waitFor((l) => l.msg === 'peer down' && l.peer === 'orderer2', 30_000, 'peer down'),
      ),
    );

    const restarted = startNode('orderer2');
    await restarted.waitFor((l) => l.msg === 'node ready', 60_000, 'node ready');
    await Promise.all(
      others.map((p, i) =>
        p.waitFor(
          () => p.count(statusFrom('orderer2')) > statusesBefore[i]!,
          30_000,
          'a new status from orderer2',
        ),
      ),
    );
    expect(restarted.count((l) => l.msg === 'stored chain verified')).toBe(1);
  });

  it('stops cleanly on SIGTERM: goodbye to peers, database closed, exit code 0', async () => {
    const proc = processes.get('peer0-org2')!;
    const exit = await proc.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(proc.count((l) => l.msg === 'node stopped')).toBe(1);
    await processes
      .get('orderer0')!
      .waitFor((l) => l.msg === 'peer down' && l.peer === 'peer0-org2', 30_000, 'peer down');
  });

  it('refuses to start on a tampered database and names the bad block', async () => {
    const proc = processes.get('orderer3')!;
    await proc.stop('SIGTERM');
    const client = new pg.Client({ connectionString: testDatabaseUrl() });
    await client.connect();
    try {
      await client.query('SET session_replication_role = replica');
      await client.query(
        `UPDATE "${schemaOf.get('orderer3')!}".blocks SET header = convert_to(replace(convert_from(header, 'UTF8'), '"genesis"', '"mallory"'), 'UTF8') WHERE height = 0`,
      );
    } finally {
      await client.end();
    }
    const again = startNode('orderer3');
    const exit = await again.exited;
    expect(exit.code).toBe(1);
    expect(again.stderr.join('\n')).toContain('stored chain fails verification at block 0: stored hash');
  });
});
