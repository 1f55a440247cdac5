import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadSampleContract } from '../../node/contracts/index.js';
import type { PeerRole } from '../../node/peer/index.js';
import { ValidationCode } from '../../node/protocol/index.js';
import { signProposal, signTransaction } from '../../node/sdk/index.js';
import { eventually, InProcessNetwork } from '../support/network-harness.js';

let net: InProcessNetwork;

async function submit(via: PeerRole, contract: string, fn: string, args: string[]) {
  const proposal = signProposal(net.client, { contract, fn, args });
  const payload = await via.gateway.endorse(proposal);
  return via.gateway.submit(signTransaction(net.client, proposal, payload));
}

beforeAll(async () => {
  net = await InProcessNetwork.start({
    orderers: 4,
    orgs: 2,
    logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
  });
  await eventually(
    () => [...net.peers.values()].every((p) => p.node.connectedPeers().length === 5),
    20_000,
    'full mesh',
  );
});

afterAll(async () => {
  await net.stop();
});

describe('a BFT network: 4 orderers, 2 orgs with a peer each', () => {
  it('orders, validates and commits transactions endorsed by both orgs', async () => {
    const deployed = await submit(net.peer(), 'lifecycle', 'deploy', [
      'kv',
      '1',
      loadSampleContract('kv').source,
    ]);
    expect(deployed.code).toBe(ValidationCode.VALID);
    // Each gateway reports its own peer's commit; the other peer follows within moments.
    await eventually(
      () => [...net.peers.values()].every((p) => p.node.chainHead.height >= deployed.height),
      20_000,
      'deploy everywhere',
    );
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        submit(net.peer(i % 2 === 0 ? 'peer0-org1' : 'peer0-org2'), 'kv', 'put', [`k${i}`, `v${i}`]),
      ),
    );
    expect(results.map((r) => r.code)).toEqual(Array(20).fill(ValidationCode.VALID));
  });

  it('ends with identical block hashes on every node and verify passing everywhere', async () => {
    const nodes = [...net.orderers.values(), ...net.peers.values()].map((r) => r.node);
    const top = Math.max(...nodes.map((n) => n.chainHead.height));
    await eventually(
      () => nodes.every((n) => n.chainHead.height === top),
      20_000,
      'all nodes at the same height',
    );
    expect(new Set(nodes.map((n) => n.chainHead.hash)).size).toBe(1);
    for (const n of nodes) expect(await n.store.verify()).toMatchObject({ ok: true, blocks: top + 1 });
  });

  it('keeps an orderer ordering when its database committed a block but the answer was lost', async () => {
    const orderer = net.orderers.get('orderer1')!;
    const store = orderer.node.store;
    const append = store.appendBlock.bind(store);
    let lost = 0;
    // The commit reaches PostgreSQL; the connection drops before the answer (as the chaos
    // runner's db-down does at the wrong moment). The retry finds the block stored.
    store.appendBlock = async (input) => {
      const head = await append(input);
      if (lost++ === 0) throw new Error('Connection terminated unexpectedly');
      return head;
    };
    try {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => submit(net.peer(), 'kv', 'put', [`lost${i}`, `v${i}`])),
      );
      expect(results.map((r) => r.code)).toEqual(Array(10).fill(ValidationCode.VALID));
      // Later blocks go through its store as usual.
      for (let i = 0; i < 3; i++) {
        expect((await submit(net.peer(), 'kv', 'put', [`after${i}`, 'v'])).code).toBe(ValidationCode.VALID);
      }
      await eventually(() => lost >= 2, 20_000, 'orderer1 to store a block after the lost answer');
      const top = net.peer().node.chainHead;
      await eventually(
        () => orderer.node.chainHead.height >= top.height,
        20_000,
        'orderer1 at the head after the lost answer',
      );
      expect((await store.getBlock(top.height))?.hash).toBe(top.hash);
      // Still voting: its core lives on.
      expect(orderer.metrics()).toBeDefined();
    } finally {
      store.appendBlock = append;
    }
  });

  it('keeps a peer committing when its database committed a block but the answer was lost', async () => {
    const peer = net.peer('peer0-org2');
    const store = peer.node.store;
    const append = store.appendBlock.bind(store);
    let lost = 0;
    store.appendBlock = async (input) => {
      const head = await append(input);
      if (lost++ === 0) throw new Error('Connection terminated unexpectedly');
      return head;
    };
    try {
      for (let i = 0; i < 3; i++) {
        expect((await submit(net.peer(), 'kv', 'put', [`peer-lost${i}`, 'v'])).code).toBe(
          ValidationCode.VALID,
        );
      }
      const top = net.peer().node.chainHead;
      await eventually(() => peer.node.chainHead.height >= top.height, 20_000, 'peer0-org2 at the head');
      expect(lost).toBeGreaterThanOrEqual(2);
      expect((await store.getBlock(top.height))?.hash).toBe(top.hash);
      // Its world state has the writes of the block whose answer was lost.
      expect(
        await peer.gateway.evaluate(
          signProposal(net.client, { contract: 'kv', fn: 'get', args: ['peer-lost0'] }),
        ),
      ).toBe('"v"');
    } finally {
      store.appendBlock = append;
    }
  });
});
