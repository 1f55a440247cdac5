import { afterEach, describe, expect, it } from '@jest/globals';
import type { TLSSocket } from 'node:tls';
import { PROTOCOL_VERSION } from '../protocol/index.js';
import { encodeHello } from './hello.js';
import { localNetwork, nodeOf, startNode, waitFor } from './local-network.js';
import { closed, LogCapture, rawTlsClient, WAIT_MS } from './test-harness.js';
import type { SendResult, Transport } from './transport.js';

// orderer1 sends to a raw client holding orderer0's identity that completes HELLO and then stops
// reading: the TCP and TLS buffers fill, `write` returns false, and from then on the queue must
// hold at most its bounds while everything else is dropped and counted.

const QUEUE_FRAMES_MAX = 64;
const QUEUE_BYTES_MAX = 1024 * 1024;
const PAYLOAD_BYTES = 64 * 1024;
/** 128 MiB offered: far more than loopback socket buffers (a few MiB) plus the queue can absorb. */
const MESSAGES = 2_048;

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function stalledLink(
  writeStallTimeoutMs: number,
): Promise<{ sender: Transport; client: TLSSocket; logs: LogCapture }> {
  const material = await localNetwork({ orderers: 2 });
  const logs = new LogCapture();
  const sender = await startNode(material, 'orderer1', {
    onMessage: () => undefined,
    logger: logs,
    limits: {
      queueFramesMax: QUEUE_FRAMES_MAX,
      queueBytesMax: QUEUE_BYTES_MAX,
      heartbeatIntervalMs: 100,
      deadPeerTimeoutMs: 60_000,
      writeStallTimeoutMs,
    },
  });
  cleanup.push(async () => sender.close());
  const orderer0 = nodeOf(material, 'orderer0');
  const client = await rawTlsClient({
    port: sender.address.port,
    certPem: orderer0.entry.cert,
    keyPem: orderer0.keyPem,
  });
  cleanup.push(async () => {
    client.destroy();
    await closed(client);
  });
  client.write(
    encodeHello({ version: PROTOCOL_VERSION, networkId: material.config.networkId, name: 'orderer0' }),
  );
  await waitFor(() => sender.connectedPeers().length === 1, WAIT_MS, 'the link to the raw client');
  client.pause();
  return { sender, client, logs };
}

describe('backpressure', () => {
  it('keeps the queue of a peer that stops reading within its bounds and counts every drop', async () => {
    const { sender } = await stalledLink(120_000);
    const payload = Buffer.alloc(PAYLOAD_BYTES, 1);
    const results = new Map<SendResult, number>();
    let queuedBytesMax = 0;
    let queuedFramesMax = 0;
    for (let i = 0; i < MESSAGES; i += 1) {
      const result = sender.send('orderer0', payload);
      results.set(result, (results.get(result) ?? 0) + 1);
      const peer = sender.metrics().peers[0]!;
      queuedBytesMax = Math.max(queuedBytesMax, peer.queuedBytes);
      queuedFramesMax = Math.max(queuedFramesMax, peer.queuedFrames);
      // Let the socket write and fill the kernel buffers, as a real sender's event loop would.
      if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const metrics = sender.metrics();
    expect(queuedBytesMax).toBeLessThanOrEqual(QUEUE_BYTES_MAX);
    expect(queuedFramesMax).toBeLessThanOrEqual(QUEUE_FRAMES_MAX);
    expect(results.get('dropped-full') ?? 0).toBeGreaterThan(MESSAGES / 2);
    expect(metrics.framesDropped).toBe(results.get('dropped-full'));
    expect(metrics.peers[0]!.framesDropped).toBe(results.get('dropped-full'));
    // What left the process is bounded by what the stalled socket could take, not by what was offered.
    expect(metrics.bytesOut).toBeLessThan((MESSAGES * PAYLOAD_BYTES) / 2);
    expect(metrics.connectedPeers).toBe(1);
  });

  it('closes the link of a peer that has not read for the write-stall timeout', async () => {
    const { sender, logs } = await stalledLink(300);
    const payload = Buffer.alloc(PAYLOAD_BYTES, 2);
    await waitFor(
      () => {
        sender.send('orderer0', payload);
        return sender.metrics().closedLinks.TRANSPORT_PEER_STALLED === 1;
      },
      WAIT_MS,
      'the write-stall timeout',
    );
    expect(logs.messages('warn').some((m) => m.includes('has not read for'))).toBe(true);
    expect(sender.metrics().connectedPeers).toBe(0);
  });
});
