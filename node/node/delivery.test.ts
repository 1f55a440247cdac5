import { beforeAll, describe, expect, it } from '@jest/globals';
import pino from 'pino';
import {
  certifiedBlock,
  genesisHead,
  makeTestNetwork,
  sampleTrade,
  tradeEnvelope,
  type TestNetwork,
} from '../../test/support/chain-fixture.js';
import type { ChainStore, StoredBlock } from '../ledger/index.js';
import { blockHash, type Block, type CommitCertificate } from '../protocol/index.js';
import type { SendResult } from '../transport/index.js';
import { DeliveryServer } from './delivery.js';
import { decodeNodeMessage } from './messages.js';

let net: TestNetwork;
const chain: { block: Block; commitCertificate: CommitCertificate }[] = [];

beforeAll(async () => {
  net = await makeTestNetwork({ orderers: 4 });
  let prev = genesisHead(net);
  for (let i = 0; i < 5; i++) {
    const certified = certifiedBlock(net, prev, [tradeEnvelope(net, sampleTrade(i))]);
    chain.push(certified);
    prev = { height: certified.block.header.height, hash: blockHash(certified.block.header) };
  }
});

/** A store holding `chain` that counts reads, and a delivery server in front of it. */
function serverWith(committedInMemory: number): {
  server: DeliveryServer;
  sent: Buffer[];
  reads: number[];
} {
  const reads: number[] = [];
  const sent: Buffer[] = [];
  const store = {
    getBlock: (height: number): Promise<StoredBlock | null> => {
      reads.push(height);
      const found = chain[height - 1];
      return Promise.resolve(
        found === undefined
          ? null
          : ({
              block: found.block,
              commitCertificate: found.commitCertificate,
            } as StoredBlock),
      );
    },
  } as unknown as ChainStore;
  const server = new DeliveryServer(
    store,
    (_to, body): SendResult => {
      sent.push(body);
      return 'queued';
    },
    pino({ level: 'silent' }),
  );
  // The last `committedInMemory` blocks were committed while this server ran.
  for (const { block, commitCertificate } of chain.slice(chain.length - committedInMemory))
    server.committed(block, commitCertificate);
  return { server, sent, reads };
}

async function delivered(sent: Buffer[], count: number): Promise<number[]> {
  for (let i = 0; i < 100 && sent.length < count; i++) await new Promise((r) => setImmediate(r));
  return sent.map((bytes) => {
    const message = decodeNodeMessage(bytes);
    if (message.type !== 'block') throw new Error(`expected a block, got ${message.type}`);
    return message.block.header.height;
  });
}

describe('DeliveryServer', () => {
  it('serves blocks committed while it ran from memory, older ones from the store, in order', async () => {
    const { server, sent, reads } = serverWith(2);
    server.request('peer0-org1', 1, 5);
    expect(await delivered(sent, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(reads).toEqual([1, 2, 3]);
  });

  it('sends the same bytes from memory as it would from the store', async () => {
    const fromMemory = serverWith(5);
    const fromStore = serverWith(0);
    fromMemory.server.request('peer0-org1', 1, 5);
    fromStore.server.request('peer0-org1', 1, 5);
    await delivered(fromMemory.sent, 5);
    await delivered(fromStore.sent, 5);
    expect(fromMemory.reads).toEqual([]);
    expect(Buffer.concat(fromMemory.sent).equals(Buffer.concat(fromStore.sent))).toBe(true);
  });

  it('waits for a block that is not final yet and sends it once committed', async () => {
    const { server, sent } = serverWith(0);
    const next = certifiedBlock(net, { height: 5, hash: blockHash(chain[4]!.block.header) }, []);
    try {
      server.request('peer0-org1', 6, 1);
      expect(await delivered(sent, 1)).toEqual([]);
      chain.push(next);
      server.committed(next.block, next.commitCertificate);
      expect(await delivered(sent, 1)).toEqual([6]);
    } finally {
      chain.pop();
    }
  });
});
