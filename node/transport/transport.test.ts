import { afterEach, describe, expect, it } from '@jest/globals';
import { SigningKey, VerifyingKey } from '../crypto/index.js';
import { SigningDomain } from '../protocol/index.js';
import type { NetworkMaterial } from '../network/index.js';
import type { PeerIdentity } from './auth.js';
import { localNetwork, nodeOf, startNode, waitFor } from './local-network.js';
import { Inbox, LogCapture, WAIT_MS } from './test-harness.js';
import type { Transport, TransportLimits } from './transport.js';

// Real TLS 1.3 sockets on loopback between real Transports, each with its generated node identity.

/** Fast reconnects and heartbeats so a test sees a restart within a fraction of a second. */
const FAST: Partial<TransportLimits> = {
  reconnectBaseMs: 20,
  reconnectMaxMs: 200,
  heartbeatIntervalMs: 100,
  deadPeerTimeoutMs: 2_000,
};

const running: Transport[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map(async (t) => t.close()));
});

interface Node {
  readonly name: string;
  readonly transport: Transport;
  readonly inbox: Inbox;
  readonly logs: LogCapture;
  readonly ups: PeerIdentity[];
  readonly downs: { peer: PeerIdentity; reason: string }[];
}

async function start(material: NetworkMaterial, name: string): Promise<Node> {
  const inbox = new Inbox();
  const logs = new LogCapture();
  const ups: PeerIdentity[] = [];
  const downs: { peer: PeerIdentity; reason: string }[] = [];
  const transport = await startNode(material, name, {
    onMessage: inbox.onMessage,
    onPeerUp: (peer) => ups.push(peer),
    onPeerDown: (peer, reason) => downs.push({ peer, reason }),
    logger: logs,
    limits: FAST,
  });
  running.push(transport);
  return { name, transport, inbox, logs, ups, downs };
}

async function fullMesh(nodes: readonly Node[]): Promise<void> {
  await waitFor(
    () => nodes.every((n) => n.transport.connectedPeers().length === nodes.length - 1),
    WAIT_MS,
    `a full mesh of ${nodes.length} nodes`,
  );
}

/** A message signed with the sender's node key, as consensus messages are. */
function signedMessage(material: NetworkMaterial, from: string, text: string): Buffer {
  const bytes = Buffer.from(text);
  const signature = SigningKey.fromPem(nodeOf(material, from).keyPem).sign(SigningDomain.consensus, bytes);
  return Buffer.from(JSON.stringify({ text, signature }));
}

function verifiedText(material: NetworkMaterial, from: PeerIdentity, payload: Buffer): string | undefined {
  const { text, signature } = JSON.parse(payload.toString()) as { text: string; signature: string };
  const cert = [...material.config.orderers, ...material.config.peers].find(
    (m) => m.name === from.name,
  )?.cert;
  if (cert === undefined) return undefined;
  return VerifyingKey.fromCertificate(cert).verify(SigningDomain.consensus, Buffer.from(text), signature)
    ? text
    : undefined;
}

async function exchangeSignedMessages(material: NetworkMaterial, nodes: readonly Node[]): Promise<void> {
  for (const sender of nodes) {
    for (const receiver of nodes) {
      if (receiver === sender) continue;
      const text = `from ${sender.name} to ${receiver.name}`;
      expect(sender.transport.send(receiver.name, signedMessage(material, sender.name, text))).toBe('queued');
    }
  }
  for (const receiver of nodes) {
    for (const sender of nodes) {
      if (receiver === sender) continue;
      const text = `from ${sender.name} to ${receiver.name}`;
      const message = await receiver.inbox.waitFor(
        (m) => verifiedText(material, m.from, m.payload) === text,
        `${receiver.name} to receive "${text}"`,
      );
      const entry = nodeOf(material, sender.name);
      expect(message.from).toEqual({ name: sender.name, org: entry.entry.org, role: entry.role });
    }
  }
}

describe('Transport mesh', () => {
  it('links an orderer and a peer and carries signed messages both ways with the authenticated sender', async () => {
    const material = await localNetwork({ orderers: 1, orgs: 1, peersPerOrg: 1 });
    const nodes = [await start(material, 'orderer0'), await start(material, 'peer0-org1')];
    await fullMesh(nodes);
    await exchangeSignedMessages(material, nodes);
    expect(nodes[0]!.ups).toEqual([{ name: 'peer0-org1', org: 'org1', role: 'peer' }]);
    expect(nodes[1]!.transport.metrics()).toMatchObject({ connectedPeers: 1, framesDropped: 0 });
  });

  it('connects four orderers of two organisations into a full mesh where every node hears every other', async () => {
    const material = await localNetwork({ orderers: 4, orgs: 2 });
    const nodes = await Promise.all(material.orderers.map(async (o) => start(material, o.entry.name)));
    await fullMesh(nodes);
    await exchangeSignedMessages(material, nodes);
    for (const node of nodes) {
      const metrics = node.transport.metrics();
      expect(metrics.connectedPeers).toBe(3);
      expect(metrics.refusedConnections).toEqual({});
      expect(metrics.framesIn).toBeGreaterThanOrEqual(3 + 3); // three HELLOs and three messages at least
    }
  });

  it('broadcasts to every connected member', async () => {
    const material = await localNetwork({ orderers: 3 });
    const nodes = await Promise.all(material.orderers.map(async (o) => start(material, o.entry.name)));
    await fullMesh(nodes);
    expect(nodes[1]!.transport.broadcast(Buffer.from('to all'))).toEqual({ queued: 2, dropped: 0 });
    for (const node of [nodes[0]!, nodes[2]!]) {
      const message = await node.inbox.waitFor((m) => m.payload.toString() === 'to all', 'the broadcast');
      expect(message.from.name).toBe('orderer1');
    }
  });

  it('answers send() for a non-member, itself, and an oversized payload without queueing', async () => {
    const material = await localNetwork({ orderers: 2 });
    const node = await start(material, 'orderer0');
    expect(node.transport.send('orderer9', Buffer.from('x'))).toBe('unknown-peer');
    expect(node.transport.send('orderer0', Buffer.from('x'))).toBe('unknown-peer');
    expect(node.transport.send('orderer1', Buffer.alloc(16 * 1024 * 1024 + 1024))).toBe('oversized');
    // A member that is down gets its messages when its link comes up.
    expect(node.transport.send('orderer1', Buffer.from('early'))).toBe('queued');
    const other = await start(material, 'orderer1');
    await other.inbox.waitFor((m) => m.payload.toString() === 'early', 'the message queued before the link');
  });

  it('reconnects to a node killed without GOODBYE and restarted on the same port, from both dial directions', async () => {
    const material = await localNetwork({ orderers: 3 });
    const nodes = await Promise.all(material.orderers.map(async (o) => start(material, o.entry.name)));
    await fullMesh(nodes);
    const [first, middle, last] = nodes as [Node, Node, Node];

    await middle.transport.destroy();
    await waitFor(
      () => first.transport.connectedPeers().length === 1 && last.transport.connectedPeers().length === 1,
      WAIT_MS,
      'the others to see orderer1 gone',
    );
    expect(first.downs.map((d) => d.peer.name)).toContain('orderer1');

    // orderer0 must redial orderer1; the restarted orderer1 must dial orderer2.
    const restarted = await start(material, 'orderer1');
    const mesh = [first, restarted, last];
    await fullMesh(mesh);
    await exchangeSignedMessages(material, mesh);
  });

  it('tells the others about a clean shutdown with GOODBYE', async () => {
    const material = await localNetwork({ orderers: 2 });
    const nodes = [await start(material, 'orderer0'), await start(material, 'orderer1')];
    await fullMesh(nodes);
    await nodes[1]!.transport.close();
    await waitFor(() => nodes[0]!.downs.length === 1, WAIT_MS, 'orderer0 to see orderer1 leave');
    expect(nodes[0]!.downs[0]).toEqual({
      peer: { name: 'orderer1', org: 'org1', role: 'orderer' },
      reason: 'TRANSPORT_PEER_CLOSED',
    });
    expect(nodes[0]!.logs.messages('info').some((m) => m.includes('said GOODBYE'))).toBe(true);
    expect(nodes[1]!.transport.send('orderer0', Buffer.from('late'))).toBe('closed');
  });

  it('drops the link of a member removed by a configuration change, and relinks when it is added back', async () => {
    const material = await localNetwork({ orderers: 3 });
    const nodes = await Promise.all(material.orderers.map(async (o) => start(material, o.entry.name)));
    await fullMesh(nodes);
    const without = {
      ...material.config,
      sequence: 1,
      orderers: material.config.orderers.filter((o) => o.name !== 'orderer2'),
    };
    nodes[0]!.transport.updateConfig(without);
    nodes[1]!.transport.updateConfig(without);
    await waitFor(
      () =>
        nodes[0]!.transport.connectedPeers().length === 1 &&
        nodes[2]!.transport.connectedPeers().length === 0,
      WAIT_MS,
      'orderer2 to be cut off',
    );
    expect(nodes[0]!.transport.send('orderer2', Buffer.from('x'))).toBe('unknown-peer');
    expect(nodes[0]!.transport.metrics().closedLinks).toMatchObject({ TRANSPORT_MEMBER_REMOVED: 1 });

    const back = { ...material.config, sequence: 2 };
    nodes[0]!.transport.updateConfig(back);
    nodes[1]!.transport.updateConfig(back);
    await fullMesh(nodes);
    await exchangeSignedMessages(material, nodes);
  });

  it('refuses a configuration of another network', async () => {
    const material = await localNetwork({ orderers: 1 });
    const node = await start(material, 'orderer0');
    expect(() => {
      node.transport.updateConfig({ ...material.config, networkId: 'other' });
    }).toThrow(expect.objectContaining({ code: 'TRANSPORT_BAD_OPTIONS' }));
  });

  it('closes a link on which nothing arrives within the dead-peer timeout', async () => {
    const material = await localNetwork({ orderers: 2 });
    const logs = new LogCapture();
    const silent = await startNode(material, 'orderer0', {
      onMessage: () => undefined,
      logger: logs,
      // Heartbeats far apart: to orderer1 it looks dead.
      limits: { ...FAST, heartbeatIntervalMs: 60_000, deadPeerTimeoutMs: 120_000 },
    });
    running.push(silent);
    const watcher = await start(material, 'orderer1');
    await waitFor(() => watcher.ups.length === 1, WAIT_MS, 'the link');
    watcher.transport.updateConfig(material.config); // a no-op change must not disturb the link
    await waitFor(
      () => watcher.transport.metrics().closedLinks.TRANSPORT_PEER_TIMEOUT === 1,
      WAIT_MS,
      'the dead-peer timeout',
    );
    expect(watcher.logs.messages('warn').some((m) => m.includes('dead-peer timeout 2000 ms'))).toBe(true);
  });
});
