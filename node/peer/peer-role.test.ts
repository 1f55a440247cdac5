import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { writeNetworkDir } from '../config/index.js';
import { loadSampleContract } from '../contracts/index.js';
import { SigningKey } from '../crypto/index.js';
import { generateNetwork, localAddresses, type NetworkMaterial } from '../network/index.js';
import { ChainNode } from '../node/index.js';
import { ValidationCode } from '../protocol/index.js';
import { signProposal, signTransaction, type ClientIdentity } from '../sdk/index.js';
import { dropSchema, testDatabaseUrl, uniqueSchema } from '../../test/support/database.js';
import { LocalOrdering } from '../../test/support/local-ordering.js';
import { randomLoopback } from '../../test/support/processes.js';
import { PeerError } from './errors.js';
import { PeerRole } from './peer-role.js';

let dir: string;
let material: NetworkMaterial;
const nodes: ChainNode[] = [];
const schemas: string[] = [];
let peers: PeerRole[];
let ordering: LocalOrdering;
let client: ClientIdentity;

async function startNode(name: string): Promise<ChainNode> {
  const schema = uniqueSchema(name.replaceAll('-', '_'));
  schemas.push(schema);
  const node = await ChainNode.start({
    networkFile: join(dir, 'network.yaml'),
    name,
    databaseUrl: testDatabaseUrl(),
    schema,
    logger: pino({ level: 'silent' }),
  });
  nodes.push(node);
  return node;
}

/** What a client SDK does for one submit: propose, let the gateway endorse, sign, submit, wait. */
async function submit(via: PeerRole, contract: string, fn: string, args: string[]) {
  const proposal = signProposal(client, { contract, fn, args });
  const payload = await via.gateway.endorse(proposal);
  return via.gateway.submit(signTransaction(client, proposal, payload));
}

function evaluate(via: PeerRole, contract: string, fn: string, args: string[]): Promise<string> {
  return via.gateway.evaluate(signProposal(client, { contract, fn, args }));
}

/** Waits (bounded) until `peer` has committed up to `height`. */
async function reach(peer: PeerRole, height: number): Promise<void> {
  if (peer.node.chainHead.height >= height) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${peer.node.name} stuck at ${peer.node.chainHead.height}, wanted ${height}`));
    }, 20_000);
    const check = (): void => {
      if (peer.node.chainHead.height >= height) {
        clearTimeout(timer);
        peer.committer.off('block', check);
        resolve();
      }
    };
    peer.committer.on('block', check);
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chainnode-peer-'));
  const { host, basePort } = randomLoopback();
  material = await generateNetwork({
    orderers: 1,
    orgs: 2,
    peersPerOrg: 1,
    address: localAddresses(host, basePort),
  });
  await writeNetworkDir(dir, material);
  const orderer = await startNode('orderer0');
  ordering = new LocalOrdering(orderer);
  peers = await Promise.all(
    ['peer0-org1', 'peer0-org2'].map(async (n) => PeerRole.attach(await startNode(n))),
  );
  const user = material.users.find((u) => u.org === 'org1' && u.role === 'client')!;
  client = { identity: { org: user.org, cert: user.certPem }, key: SigningKey.fromPem(user.keyPem) };
  // Both peers must be linked to each other (for endorsements) and to the orderer.
  for (const p of peers) {
    const deadline = Date.now() + 20_000;
    while (p.node.connectedPeers().length < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
  }
});

afterAll(async () => {
  for (const p of peers) p.stop();
  await Promise.all(nodes.map((n) => n.stop()));
  await Promise.all(schemas.map(dropSchema));
  await rm(dir, { recursive: true, force: true });
});

describe('peers: endorse, order, validate, commit (execute-order-validate)', () => {
  it('deploys asset-transfer under AND(org1, org2) through the gateway, on both peers', async () => {
    const code = loadSampleContract('asset-transfer').source;
    const outcome = await submit(peers[0]!, 'lifecycle', 'deploy', ['asset-transfer', '1.0', code]);
    expect(outcome.code).toBe(ValidationCode.VALID);
    await reach(peers[1]!, outcome.height);
    const payload = await peers[1]!.gateway.endorse(
      signProposal(client, { contract: 'asset-transfer', fn: 'AssetExists', args: ['asset1'] }),
    );
    expect(payload.endorsements.map((e) => e.endorser.org).sort()).toEqual(['org1', 'org2']);
  });

  it('runs the asset lifecycle: create, read, update, transfer, exists, list, delete', async () => {
    const p = peers[0]!;
    const created = await submit(p, 'asset-transfer', 'CreateAsset', [
      'asset1',
      'blue',
      '5',
      'Tomoko',
      '300',
    ]);
    expect(created.code).toBe(ValidationCode.VALID);
    expect(JSON.parse(await evaluate(p, 'asset-transfer', 'ReadAsset', ['asset1']))).toMatchObject({
      ID: 'asset1',
      Owner: 'Tomoko',
    });
    expect(
      (await submit(p, 'asset-transfer', 'UpdateAsset', ['asset1', 'red', '6', 'Tomoko', '350'])).code,
    ).toBe(ValidationCode.VALID);
    const transferred = await submit(p, 'asset-transfer', 'TransferAsset', ['asset1', 'Max']);
    expect(transferred.code).toBe(ValidationCode.VALID);
    // The other org's peer commits the same block moments later.
    await reach(peers[1]!, transferred.height);
    const read = JSON.parse(await evaluate(peers[1]!, 'asset-transfer', 'ReadAsset', ['asset1']));
    expect(read).toMatchObject({ ID: 'asset1', Color: 'red', Owner: 'Max' });
    expect(await evaluate(p, 'asset-transfer', 'AssetExists', ['asset1'])).toBe('true');
    expect(JSON.parse(await evaluate(p, 'asset-transfer', 'GetAllAssets', []))).toHaveLength(1);
    expect((await submit(p, 'asset-transfer', 'DeleteAsset', ['asset1'])).code).toBe(ValidationCode.VALID);
    expect(await evaluate(p, 'asset-transfer', 'AssetExists', ['asset1'])).toBe('false');
  });

  it('commits exactly one of two concurrent transfers of the same asset; the other is an MVCC conflict', async () => {
    const p = peers[0]!;
    await submit(p, 'asset-transfer', 'CreateAsset', ['asset2', 'green', '1', 'Ann', '10']);
    const [a, b] = [
      signProposal(client, { contract: 'asset-transfer', fn: 'TransferAsset', args: ['asset2', 'Bob'] }),
      signProposal(client, { contract: 'asset-transfer', fn: 'TransferAsset', args: ['asset2', 'Carol'] }),
    ];
    // Both are endorsed against the same state before either is ordered.
    const [pa, pb] = await Promise.all([p.gateway.endorse(a), p.gateway.endorse(b)]);
    const outcomes = await Promise.all([
      p.gateway.submit(signTransaction(client, a, pa)),
      p.gateway.submit(signTransaction(client, b, pb)),
    ]);
    expect(outcomes.map((o) => o.code).sort()).toEqual([
      ValidationCode.VALID,
      ValidationCode.MVCC_READ_CONFLICT,
    ]);
    const owner = JSON.parse(await evaluate(p, 'asset-transfer', 'ReadAsset', ['asset2'])).Owner as string;
    expect(owner).toBe(outcomes[0].code === ValidationCode.VALID ? 'Bob' : 'Carol');
  });

  it('gives a clear error and commits nothing for a contract error, an endless loop or a memory bomb', async () => {
    const p = peers[0]!;
    const before = p.node.chainHead.height;
    await expect(submit(p, 'asset-transfer', 'ReadAsset', ['nope'])).rejects.toThrow(
      /the asset nope does not exist/,
    );
    const bad = `export function spin() { for (;;) {} }\nexport function bomb() { const a = []; for (;;) a.push('x'.repeat(1024)); }`;
    expect((await submit(p, 'lifecycle', 'deploy', ['bad', '1', bad])).code).toBe(ValidationCode.VALID);
    await reach(peers[1]!, p.node.chainHead.height);
    const afterDeploy = p.node.chainHead.height;
    await expect(submit(p, 'bad', 'spin', [])).rejects.toMatchObject({
      code: 'PEER_CONTRACT_FAILED',
      message: expect.stringMatching(/step limit|STEP_LIMIT|steps/i),
    });
    await expect(submit(p, 'bad', 'bomb', [])).rejects.toMatchObject({
      code: 'PEER_CONTRACT_FAILED',
      message: expect.stringMatching(/memory/i),
    });
    await expect(submit(p, 'nosuch', 'f', [])).rejects.toBeInstanceOf(PeerError);
    expect(p.node.chainHead.height).toBe(afterDeploy);
    expect(afterDeploy).toBe(before + 1);
  });

  it('leaves both peers with identical chains and world state', async () => {
    await ordering.settled();
    await reach(peers[1]!, peers[0]!.node.chainHead.height);
    expect(peers[1]!.node.chainHead).toEqual(peers[0]!.node.chainHead);
    const [a, b] = await Promise.all(
      peers.map((p) => p.node.store.rangeState('asset-transfer', { start: '' })),
    );
    expect(b).toEqual(a);
    for (const p of peers) expect(await p.node.store.verify()).toMatchObject({ ok: true });
  });

  it('refuses to submit when endorsers disagree (diverged state), and commits nothing', async () => {
    // Make org2's peer believe in an asset org1's peer has never seen, behind the ledger's back.
    const org2Schema = schemas[2]!;
    const admin = new pg.Client({ connectionString: testDatabaseUrl() });
    await admin.connect();
    try {
      await admin.query(
        `INSERT INTO "${org2Schema}".state (namespace, key, value, version_height, version_tx) VALUES ('asset-transfer', 'ghost', $1, 1, 0)`,
        [
          Buffer.from(
            JSON.stringify({ ID: 'ghost', Color: 'grey', Size: 1, Owner: 'Nobody', AppraisedValue: 1 }),
          ),
        ],
      );
    } finally {
      await admin.end();
    }
    const before = peers[0]!.node.chainHead.height;
    await expect(submit(peers[0]!, 'asset-transfer', 'AssetExists', ['ghost'])).rejects.toMatchObject({
      code: 'PEER_ENDORSEMENTS_DIVERGE',
    });
    expect(peers[0]!.node.chainHead.height).toBe(before);
  });
});
