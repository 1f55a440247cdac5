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
});
