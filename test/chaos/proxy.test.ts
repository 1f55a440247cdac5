import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { localNetwork, startNode, waitFor } from '../../node/transport/local-network.js';
import type { Transport } from '../../node/transport/index.js';
import { FaultProxy } from './proxy.js';

// The relay the chaos runner puts between nodes: transparent until impaired, and what each
// impairment does to a TCP stream; then real mutual-TLS transports linking through relays.

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A TCP echo server on loopback. */
async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(
    () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  );
  return { server, port: (server.address() as { port: number }).port };
}

async function relayTo(port: number): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({
    label: 'test',
    listenHost: '127.0.0.1',
    target: { host: '127.0.0.1', port },
  });
  closers.push(() => proxy.close());
  return proxy;
}

/** A client that collects what it receives. */
async function client(
  proxy: FaultProxy,
): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = connect({ host: proxy.host, port: proxy.port });
  socket.on('error', () => undefined);
  let text = '';
  let closed = false;
  socket.on('data', (b: Buffer) => (text += b.toString()));
  socket.on('close', () => (closed = true));
  // A refusing relay resets the connection: connected, then closed, or closed at once.
  await new Promise((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', resolve);
  });
  closers.push(async () => {
    socket.destroy();
    await Promise.resolve();
  });
  return { socket, received: () => text, closed: () => closed };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('FaultProxy', () => {
  it('relays both ways, holds a cut direction without losing a byte, and releases it in order', async () => {
    const { port } = await echoServer();
    const proxy = await relayTo(port);
    const c = await client(proxy);
    c.socket.write('hello ');
    await waitFor(() => c.received() === 'hello ', 5_000, 'echo');
    proxy.impair('f1', { cut: 'backward' });
    c.socket.write('while ');
    c.socket.write('cut');
    await sleep(200);
    expect(c.received()).toBe('hello ');
    proxy.release('f1');
    await waitFor(() => c.received() === 'hello while cut', 5_000, 'held bytes after the heal');
  });

  it('keeps a direction cut while any fault still cuts it', async () => {
    const { port } = await echoServer();
    const proxy = await relayTo(port);
    const c = await client(proxy);
    proxy.impair('a', { cut: 'forward' });
    proxy.impair('b', { cut: 'both' });
    c.socket.write('x');
    proxy.release('b');
    await sleep(150);
    expect(c.received()).toBe('');
    expect(proxy.faulty).toBe(true);
    proxy.release('a');
    await waitFor(() => c.received() === 'x', 5_000, 'released');
    expect(proxy.faulty).toBe(false);
  });

  it('delays chunks and keeps their order', async () => {
    const { port } = await echoServer();
    const proxy = await relayTo(port);
    const c = await client(proxy);
    proxy.impair('d', { delay: { direction: 'forward', ms: 150, jitterMs: 100 } });
    const started = Date.now();
    for (let i = 0; i < 20; i++) c.socket.write(`${i},`);
    const expected = Array.from({ length: 20 }, (_, i) => `${i},`).join('');
    await waitFor(() => c.received() === expected, 5_000, 'every chunk');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('resets connections, and refuses new ones while the server is "down"', async () => {
    const { port } = await echoServer();
    const proxy = await relayTo(port);
    const c = await client(proxy);
    proxy.reset();
    await waitFor(() => c.closed(), 5_000, 'reset');
    proxy.impair('down', { refuse: true });
    const refused = await client(proxy);
    await waitFor(() => refused.closed(), 5_000, 'refused');
    proxy.release('down');
    const again = await client(proxy);
    again.socket.write('back');
    await waitFor(() => again.received() === 'back', 5_000, 'relay after the outage');
    expect(proxy.stats.resets).toBeGreaterThanOrEqual(2);
  });
});

describe('transport through relays (dialAddress)', () => {
  it('links over mutual TLS through the relay, drops with a cut and comes back after it heals', async () => {
    const material = await localNetwork({ orderers: 2 });
    // orderer0 < orderer1: orderer0 dials, through the relay.
    const a = material.config.orderers[0]!.name;
    const target = material.config.orderers[1]!;
    const b = target.name;
    const proxy = await relayTo(target.port);
    const fast = {
      heartbeatIntervalMs: 100,
      deadPeerTimeoutMs: 600,
      reconnectBaseMs: 20,
      reconnectMaxMs: 200,
      handshakeTimeoutMs: 500,
    };
    const transports: Transport[] = [];
    closers.push(async () => {
      await Promise.all(transports.map((t) => t.close()));
    });
    const received: string[] = [];
    transports.push(
      await startNode(material, b, {
        onMessage: (_from, payload) => received.push(payload.toString()),
        limits: fast,
      }),
    );
    transports.push(
      await startNode(material, a, {
        onMessage: () => undefined,
        limits: fast,
        dialAddress: (member) => (member === b ? { host: proxy.host, port: proxy.port } : undefined),
      }),
    );
    const [ta] = transports.slice(1) as [Transport];
    await waitFor(() => ta.connectedPeers().length === 1, 10_000, 'link through the relay');
    expect(proxy.stats.connections).toBeGreaterThanOrEqual(1);
    ta.send(b, Buffer.from('one'));
    await waitFor(() => received.includes('one'), 10_000, 'first message');

    proxy.impair('cut', { cut: 'both' });
    await waitFor(() => ta.connectedPeers().length === 0, 10_000, 'dead link detected');
    proxy.release('cut');
    await waitFor(() => ta.connectedPeers().length === 1, 10_000, 'link back after the heal');
    ta.send(b, Buffer.from('two'));
    await waitFor(() => received.includes('two'), 10_000, 'message after the heal');
  });
});
