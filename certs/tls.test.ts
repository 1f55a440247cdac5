import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import * as tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createOrgCa, issueNodeCert, issueUserCert } from './index.js';
import type { CertificateWithKey } from './index.js';

// Real handshakes through node's tls (OpenSSL): the point of these certificates is mutual TLS 1.3
// between nodes and from clients, so that is what is exercised, not a model of it.

let org1Ca: CertificateWithKey;
let org2Ca: CertificateWithKey;
let orderer: CertificateWithKey;

beforeAll(async () => {
  org1Ca = await createOrgCa({ org: 'org1', validityDays: 30 });
  org2Ca = await createOrgCa({ org: 'org2', validityDays: 30 });
  orderer = await issueNodeCert({
    ca: org1Ca,
    org: 'org1',
    role: 'orderer',
    name: 'orderer0',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    validityDays: 1,
  });
});

const servers: tls.Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        }),
    ),
  );
});

/** A TLS 1.3 server that demands a client certificate from one of `trusted`. */
async function startServer(identity: CertificateWithKey, trusted: readonly string[]): Promise<tls.Server> {
  const server = tls.createServer({
    key: identity.keyPem,
    cert: identity.certPem,
    ca: [...trusted],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  });
  servers.push(server);
  server.on('connection', (socket: Socket) => sockets.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

function connect(
  server: tls.Server,
  identity: CertificateWithKey,
  trusted: readonly string[],
): tls.TLSSocket {
  const client = tls.connect({
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    key: identity.keyPem,
    cert: identity.certPem,
    ca: [...trusted],
    minVersion: 'TLSv1.3',
  });
  sockets.push(client);
  return client;
}

/** Resolves with the client's error, if any, once the client socket has closed. */
async function clientOutcome(client: tls.TLSSocket): Promise<Error | undefined> {
  let failure: Error | undefined;
  client.on('error', (error: Error) => {
    failure = error;
  });
  // A TLS 1.3 client finishes its side of the handshake before the server has judged its
  // certificate, so a refusal only shows afterwards, as the connection being dropped.
  client.on('secureConnect', () => client.write('ping'));
  // Not events.once: it would reject on the very 'error' being waited for.
  await new Promise((resolve) => client.on('close', resolve));
  return failure;
}

describe('mutual TLS 1.3 with issued certificates', () => {
  it.each([
    ['a client certificate', 'client'],
    ['a peer node certificate', 'peer'],
  ] as const)('accepts %s from the same organisation', async (_case, role) => {
    const identity =
      role === 'client'
        ? await issueUserCert({ ca: org1Ca, org: 'org1', role, name: 'caller', validityDays: 1 })
        : await issueNodeCert({
            ca: org1Ca,
            org: 'org1',
            role,
            name: 'caller',
            dnsNames: ['peer0.org1'],
            ipAddresses: [],
            validityDays: 1,
          });
    const server = await startServer(orderer, [org1Ca.certPem]);
    const accepted = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;

    const client = connect(server, identity, [org1Ca.certPem]);
    await once(client, 'secureConnect');
    const [serverSide] = await accepted;

    expect(serverSide.authorized).toBe(true);
    expect(serverSide.getProtocol()).toBe('TLSv1.3');
    expect(serverSide.getPeerCertificate().subject).toMatchObject({ CN: 'caller', O: 'org1', OU: role });
    expect(client.authorized).toBe(true);
    expect(client.getPeerCertificate().subject).toMatchObject({ CN: 'orderer0', OU: 'orderer' });
  });

  it('refuses a client whose certificate comes from a CA the server does not trust', async () => {
    const stranger = await issueUserCert({
      ca: org2Ca,
      org: 'org2',
      role: 'client',
      name: 'mallory',
      validityDays: 1,
    });
    const server = await startServer(orderer, [org1Ca.certPem]);
    let acceptedConnections = 0;
    server.on('secureConnection', () => (acceptedConnections += 1));
    const refused = once(server, 'tlsClientError') as Promise<[Error, tls.TLSSocket]>;

    const client = connect(server, stranger, [org1Ca.certPem]);
    const outcome = clientOutcome(client);
    const [, serverSide] = await refused;
    await outcome;

    // Node checks the chain once OpenSSL's handshake is done and drops the connection if it fails.
    expect(serverSide.authorized).toBe(false);
    expect(serverSide.authorizationError).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(acceptedConnections).toBe(0);
    expect(client.destroyed).toBe(true);
  });

  it('accepts a client of another organisation once its CA is trusted too', async () => {
    const member = await issueUserCert({
      ca: org2Ca,
      org: 'org2',
      role: 'client',
      name: 'bob',
      validityDays: 1,
    });
    const server = await startServer(orderer, [org1Ca.certPem, org2Ca.certPem]);
    const accepted = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;

    connect(server, member, [org1Ca.certPem]);
    const [serverSide] = await accepted;

    expect(serverSide.authorized).toBe(true);
    expect(serverSide.getPeerCertificate().subject).toMatchObject({ CN: 'bob', O: 'org2' });
  });

  it('lets a client refuse a server presenting a client-only certificate', async () => {
    const impostor = await issueUserCert({
      ca: org1Ca,
      org: 'org1',
      role: 'admin',
      name: 'alice',
      validityDays: 1,
    });
    const server = await startServer(impostor, [org1Ca.certPem]);
    const client = connect(server, impostor, [org1Ca.certPem]);

    const clientError = await clientOutcome(client);

    expect(clientError?.message).toMatch(/unsuitable certificate purpose/i);
  });
});
