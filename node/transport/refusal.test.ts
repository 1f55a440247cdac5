import { once } from 'node:events';
import { connect as tcpConnect } from 'node:net';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createOrgCa, issueNodeCert } from '../../certs/index.js';
import type { NetworkMaterial } from '../network/index.js';
import { PROTOCOL_VERSION } from '../protocol/index.js';
import type { TransportErrorCode } from './errors.js';
import { encodeFrame, FRAME_BYTES_MAX, FrameKind } from './frame.js';
import { encodeHello } from './hello.js';
import { localNetwork, nodeOf, startNode, waitFor } from './local-network.js';
import { closed, Inbox, LogCapture, rawTlsClient, WAIT_MS } from './test-harness.js';
import type { Transport } from './transport.js';

// Every bad input is refused with a reason naming its cause, and the good link orderer0 <-> orderer2
// keeps carrying messages after each. orderer1 is a member with no running node: impostors and
// misbehaving clients use its identity (it sorts below orderer2, so orderer2 accepts its dials).

const DAY_MS = 24 * 60 * 60 * 1000;
let material: NetworkMaterial;
let sender: Transport;
let target: Transport;
let targetLogs: LogCapture;
let senderLogs: LogCapture;
const inbox = new Inbox();
let roundTrips = 0;

beforeAll(async () => {
  // Back-dated, so the consortium CA can issue a certificate that has already expired.
  material = await localNetwork({
    orderers: 3,
    orgs: 2,
    peersPerOrg: 0,
    now: new Date(Date.now() - 10 * DAY_MS),
  });
  targetLogs = new LogCapture();
  senderLogs = new LogCapture();
  const limits = { reconnectBaseMs: 20, reconnectMaxMs: 200, helloTimeoutMs: 2_000 };
  target = await startNode(material, 'orderer2', { onMessage: inbox.onMessage, logger: targetLogs, limits });
  sender = await startNode(material, 'orderer0', { onMessage: () => undefined, logger: senderLogs, limits });
  await waitFor(() => target.connectedPeers().some((p) => p.name === 'orderer0'), WAIT_MS, 'the good link');
});

afterAll(async () => {
  await Promise.all([sender.close(), target.close()]);
});

async function goodLinkStillWorks(): Promise<void> {
  roundTrips += 1;
  const text = `still here ${roundTrips}`;
  expect(sender.send('orderer2', Buffer.from(text))).toBe('queued');
  const message = await inbox.waitFor((m) => m.payload.toString() === text, text);
  expect(message.from.name).toBe('orderer0');
}

async function expectRefused(code: TransportErrorCode, before: number, logged: RegExp): Promise<void> {
  await waitFor(
    () => (target.metrics().refusedConnections[code] ?? 0) === before + 1,
    WAIT_MS,
    `a refusal counted as ${code}`,
  );
  const warning = targetLogs.entries.find((e) => e.level === 'warn' && e.msg.includes(code));
  expect(warning?.msg).toMatch(/refused connection with 127\.0\.0\.1:\d+/);
  expect(warning?.msg).toMatch(logged);
  targetLogs.entries.length = 0;
  await goodLinkStillWorks();
}

function refusedCount(code: TransportErrorCode): number {
  return target.metrics().refusedConnections[code] ?? 0;
}

const orderer1 = (): { certPem: string; keyPem: string } => ({
  certPem: nodeOf(material, 'orderer1').entry.cert,
  keyPem: nodeOf(material, 'orderer1').keyPem,
});

const helloOf = (name: string, networkId = material.config.networkId): Buffer =>
  encodeHello({ version: PROTOCOL_VERSION, networkId, name });

describe('refused connections', () => {
  it('refuses garbage bytes sent instead of HELLO by a member', async () => {
    const before = refusedCount('TRANSPORT_FRAME_UNKNOWN_KIND');
    const client = await rawTlsClient({ port: target.address.port, ...orderer1() });
    client.write(Buffer.from([0, 0, 0, 3, 0xee, 0x01, 0x02]));
    await closed(client);
    await expectRefused('TRANSPORT_FRAME_UNKNOWN_KIND', before, /unknown kind 238/);
  });

  it('refuses a frame over the cap', async () => {
    const before = refusedCount('TRANSPORT_FRAME_OVERSIZED');
    const client = await rawTlsClient({ port: target.address.port, ...orderer1() });
    const length = Buffer.alloc(4);
    length.writeUInt32BE(FRAME_BYTES_MAX + 1, 0);
    client.write(length);
    await closed(client);
    await expectRefused('TRANSPORT_FRAME_OVERSIZED', before, /exceeds FRAME_BYTES_MAX/);
  });

  it('closes an established link on garbage after HELLO', async () => {
    const before = target.metrics().closedLinks.TRANSPORT_FRAME_UNKNOWN_KIND ?? 0;
    const client = await rawTlsClient({ port: target.address.port, ...orderer1() });
    client.write(helloOf('orderer1'));
    await waitFor(
      () => target.connectedPeers().some((p) => p.name === 'orderer1'),
      WAIT_MS,
      'the impostor link',
    );
    client.write(Buffer.from([0, 0, 0, 1, 0x7f]));
    await closed(client);
    await waitFor(
      () => target.metrics().closedLinks.TRANSPORT_FRAME_UNKNOWN_KIND === before + 1,
      WAIT_MS,
      'the link closed for garbage',
    );
    await goodLinkStillWorks();
  });

  it('reports a frame truncated by the end of the stream', async () => {
    const before = refusedCount('TRANSPORT_FRAME_TRUNCATED');
    const client = await rawTlsClient({ port: target.address.port, ...orderer1() });
    const frame = helloOf('orderer1');
    client.end(frame.subarray(0, frame.length - 3));
    await closed(client);
    await expectRefused('TRANSPORT_FRAME_TRUNCATED', before, /ended inside a frame/);
  });

  it('refuses a HELLO naming another network', async () => {
    const before = refusedCount('TRANSPORT_HELLO_MISMATCH');
    const client = await rawTlsClient({ port: target.address.port, ...orderer1() });
    client.write(helloOf('orderer1', 'othernet'));
    await closed(client);
    await expectRefused('TRANSPORT_HELLO_MISMATCH', before, /network "othernet"/);
  });

  it('refuses a HELLO naming a node other than the certificate', async () => {
    const before = refusedCount('TRANSPORT_HELLO_MISMATCH');
    const client = await rawTlsClient({ port: target.address.port, ...orderer1() });
    client.write(helloOf('orderer0'));
    await closed(client);
    await expectRefused('TRANSPORT_HELLO_MISMATCH', before, /certificate is that of "orderer1"/);
  });

  it('refuses a plain TCP client that sends junk', async () => {
    const before = refusedCount('TRANSPORT_TLS_HANDSHAKE');
    const client = tcpConnect({ host: '127.0.0.1', port: target.address.port });
    client.on('error', () => undefined);
    await once(client, 'connect');
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed(client);
    await expectRefused('TRANSPORT_TLS_HANDSHAKE', before, /TRANSPORT_TLS_HANDSHAKE: .+/);
  });

  it('refuses a TLS client with no certificate', async () => {
    const before = refusedCount('TRANSPORT_NO_CERTIFICATE');
    const client = tls.connect({ host: '127.0.0.1', port: target.address.port, rejectUnauthorized: false });
    client.on('error', () => undefined);
    await closed(client);
    await expectRefused('TRANSPORT_NO_CERTIFICATE', before, /certificate/i);
  });

  it('refuses a certificate from a CA outside the consortium', async () => {
    const before = refusedCount('TRANSPORT_CERT_UNTRUSTED');
    const ca = await createOrgCa({ org: 'org9', validityDays: 30 });
    const stranger = await issueNodeCert({
      ca,
      org: 'org9',
      role: 'orderer',
      name: 'orderer1',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      validityDays: 30,
    });
    const client = tls.connect({
      host: '127.0.0.1',
      port: target.address.port,
      cert: stranger.certPem,
      key: stranger.keyPem,
      rejectUnauthorized: false,
    });
    client.on('error', () => undefined);
    await closed(client);
    await expectRefused('TRANSPORT_CERT_UNTRUSTED', before, /no consortium CA issued the certificate/);
  });

  it('refuses an expired certificate from a consortium CA, and says it expired', async () => {
    const before = refusedCount('TRANSPORT_CERT_EXPIRED');
    const ca = material.cas[0]!;
    const expired = await issueNodeCert({
      ca: { certPem: ca.certPem, keyPem: ca.keyPem },
      org: ca.org,
      role: 'orderer',
      name: 'orderer1',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      validityDays: 1,
      now: new Date(Date.now() - 5 * DAY_MS),
    });
    const client = tls.connect({
      host: '127.0.0.1',
      port: target.address.port,
      cert: expired.certPem,
      key: expired.keyPem,
      rejectUnauthorized: false,
    });
    client.on('error', () => undefined);
    await closed(client);
    await expectRefused('TRANSPORT_CERT_EXPIRED', before, /expired/);
  });

  it('refuses a valid consortium certificate of a node that is not a member', async () => {
    const before = refusedCount('TRANSPORT_NOT_MEMBER');
    const ca = material.cas[1]!;
    const outsider = await issueNodeCert({
      ca: { certPem: ca.certPem, keyPem: ca.keyPem },
      org: ca.org,
      role: 'orderer',
      name: 'orderer1',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      validityDays: 30,
    });
    const client = await rawTlsClient({ port: target.address.port, ...outsider });
    await closed(client);
    await expectRefused('TRANSPORT_NOT_MEMBER', before, /other than the one the configuration lists/);
  });

  it('refuses an identity whose role is not allowed on node links (an admin)', async () => {
    const before = refusedCount('TRANSPORT_ROLE_NOT_ALLOWED');
    const admin = material.users.find((u) => u.role === 'admin')!;
    const client = await rawTlsClient({
      port: target.address.port,
      certPem: admin.certPem,
      keyPem: admin.keyPem,
    });
    await closed(client);
    await expectRefused('TRANSPORT_ROLE_NOT_ALLOWED', before, /role "admin"/);
  });

  it('refuses a member dialing in the wrong direction', async () => {
    // orderer2 dials orderer3-and-up only; here orderer2's own server gets a dial from... orderer2 sorts
    // last, so a dial to orderer0 from the "orderer2" identity is the wrong way round.
    const before = sender.metrics().refusedConnections.TRANSPORT_WRONG_DIRECTION ?? 0;
    const client = await rawTlsClient({
      port: sender.address.port,
      certPem: nodeOf(material, 'orderer2').entry.cert,
      keyPem: nodeOf(material, 'orderer2').keyPem,
    });
    await closed(client);
    await waitFor(
      () => sender.metrics().refusedConnections.TRANSPORT_WRONG_DIRECTION === before + 1,
      WAIT_MS,
      'the wrong-direction refusal',
    );
    await goodLinkStillWorks();
  });

  it('as a client, refuses a server that is not the member it dialed', async () => {
    // A server with a valid consortium certificate squats orderer1's address; orderer0 dials it.
    const ca = material.cas[1]!;
    const squatter = await issueNodeCert({
      ca: { certPem: ca.certPem, keyPem: ca.keyPem },
      org: ca.org,
      role: 'orderer',
      name: 'orderer1',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      validityDays: 30,
    });
    const entry = nodeOf(material, 'orderer1').entry;
    const server = tls.createServer({ cert: squatter.certPem, key: squatter.keyPem, minVersion: 'TLSv1.3' });
    const sockets: tls.TLSSocket[] = [];
    server.on('secureConnection', (s: tls.TLSSocket) => sockets.push(s));
    server.on('tlsClientError', () => undefined);
    server.listen(entry.port, entry.host);
    await once(server, 'listening');
    try {
      const before = sender.metrics().refusedConnections.TRANSPORT_NOT_MEMBER ?? 0;
      await waitFor(
        () => (sender.metrics().refusedConnections.TRANSPORT_NOT_MEMBER ?? 0) > before,
        WAIT_MS,
        'orderer0 to refuse the squatter',
      );
      expect(
        senderLogs.messages('warn').some((m) => m.includes('not the configured certificate of "orderer1"')),
      ).toBe(true);
      expect(sender.connectedPeers().map((p) => p.name)).not.toContain('orderer1');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    }
    await goodLinkStillWorks();
  });
});

describe('message frames', () => {
  it('are all delivered in order over the good link', async () => {
    const texts = Array.from({ length: 100 }, (_, i) => `burst ${i}`);
    for (const text of texts) expect(sender.send('orderer2', Buffer.from(text))).toBe('queued');
    await inbox.waitFor((m) => m.payload.toString() === 'burst 99', 'the whole burst');
    const burst = inbox.received.map((m) => m.payload.toString()).filter((t) => t.startsWith('burst '));
    expect(burst).toEqual(texts);
    expect(encodeFrame(FrameKind.heartbeat)).toHaveLength(5);
  });
});
