import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:https';
import { pino } from 'pino';
import { createOrgCa, issueUserCert } from '../../certs/index.js';
import { startApiServer, type ApiServer } from '../../node/api/index.js';
import { CertificateKeyCache } from '../../node/crypto/index.js';
import { checkCommitCertificate } from '../../node/consensus/index.js';
import { loadSampleContract } from '../../node/contracts/index.js';
import { verifyMerkleProof, type BlockHeader, type CommitCertificate } from '../../node/protocol/index.js';
import { ChainnodeClient, ClientError } from '../../node/sdk/index.js';
import { eventually, InProcessNetwork } from '../support/network-harness.js';

let net: InProcessNetwork;
let peerApi: ApiServer;
let ordererApi: ApiServer;
let caCerts: string[];

function user(org: string, role: 'admin' | 'client') {
  const u = net.material.users.find((x) => x.org === org && x.role === role)!;
  return { certPem: u.certPem, keyPem: u.keyPem };
}

function client(api: ApiServer, who = user('org1', 'client')): ChainnodeClient {
  return ChainnodeClient.connect({ url: api.url, ...who, caCerts });
}

/** A raw HTTPS request, optionally without any client certificate. */
function raw(
  api: ApiServer,
  method: string,
  path: string,
  options: { cert?: { certPem: string; keyPem: string }; body?: string } = {},
) {
  const url = new URL(api.url);
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method,
        ca: caCerts,
        ...(options.cert ? { cert: options.cert.certPem, key: options.cert.keyPem } : {}),
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

beforeAll(async () => {
  net = await InProcessNetwork.start({ orderers: 4, orgs: 2 });
  caCerts = net.material.config.orgs.flatMap((o) => o.caCerts);
  await eventually(
    () => [...net.peers.values()].every((p) => p.node.connectedPeers().length === 5),
    20_000,
    'full mesh',
  );
  const peer = net.peer();
  const keyOf = (name: string) =>
    [...net.material.orderers, ...net.material.peers].find((n) => n.entry.name === name)!;
  peerApi = await startApiServer({
    node: peer.node,
    peer,
    certPem: keyOf(peer.node.name).entry.cert,
    keyPem: keyOf(peer.node.name).keyPem,
    port: 0,
    logger: pino({ level: 'silent' }),
  });
  const orderer = net.orderers.get('orderer0')!;
  ordererApi = await startApiServer({
    node: orderer.node,
    orderer,
    certPem: keyOf('orderer0').entry.cert,
    keyPem: keyOf('orderer0').keyPem,
    port: 0,
    logger: pino({ level: 'silent' }),
  });
  const deployed = await client(peerApi, user('org1', 'admin')).deploy('kv', loadSampleContract('kv').source);
  await eventually(
    () => [...net.peers.values()].every((p) => p.node.chainHead.height >= deployed.height),
    20_000,
    'deploy everywhere',
  );
});

afterAll(async () => {
  await peerApi.close();
  await ordererApi.close();
  await net.stop();
});

describe('the node API over TLS', () => {
  it('serves health, readiness, metrics and the OpenAPI document without a client certificate', async () => {
    expect((await raw(peerApi, 'GET', '/healthz')).status).toBe(200);
    expect((await raw(peerApi, 'GET', '/readyz')).status).toBe(200);
    const metrics = await raw(ordererApi, 'GET', '/metrics');
    expect(metrics.body).toMatch(/chainnode_height\{node="orderer0",role="orderer"\} \d+/);
    expect(metrics.body).toContain('chainnode_consensus_view');
    expect(JSON.parse((await raw(peerApi, 'GET', '/openapi.json')).body)).toMatchObject({ openapi: '3.1.0' });
  });

  it('refuses callers without a certificate, with a foreign one, and non-admins on admin routes', async () => {
    const none = await raw(peerApi, 'GET', '/status');
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toEqual({
      error: { code: 'API_NO_CERTIFICATE', message: 'a client certificate is required' },
    });
    const rogueCa = await createOrgCa({ org: 'org1', validityDays: 5 });
    const rogue = await issueUserCert({
      ca: rogueCa,
      org: 'org1',
      role: 'admin',
      name: 'mallory',
      validityDays: 5,
    });
    const foreign = await raw(peerApi, 'GET', '/status', {
      cert: { certPem: rogue.certPem, keyPem: rogue.keyPem },
    });
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body).error.code).toBe('API_NOT_A_MEMBER');
    await expect(client(ordererApi).stopNode()).rejects.toMatchObject({ status: 403, code: 'API_FORBIDDEN' });
    const config = await raw(ordererApi, 'GET', '/admin/config', { cert: user('org2', 'admin') });
    expect(JSON.parse(config.body)).toMatchObject({ networkId: net.material.config.networkId });
  });

  it('submits through the gateway and returns a transaction with a proof anyone can check', async () => {
    const outcome = await client(peerApi).submit({ contract: 'kv', fn: 'put', args: ['colour', 'blue'] });
    expect(outcome).toMatchObject({ validation: 'VALID' });
    expect(await client(peerApi).evaluate({ contract: 'kv', fn: 'get', args: ['colour'] })).toBe('"blue"');
    const tx = (await client(peerApi).transaction(outcome.txId)) as {
      validation: string;
      proof: {
        txHash: string;
        index: number;
        txCount: number;
        path: string[];
        dataHash: string;
        header: BlockHeader;
        commitCertificate: CommitCertificate;
      };
    };
    expect(tx.validation).toBe('VALID');
    const { proof } = tx;
    expect(
      verifyMerkleProof(proof.txHash, proof.index, proof.txCount, proof.path, proof.header.dataHash),
    ).toBe(true);
    expect(
      checkCommitCertificate(
        proof.commitCertificate,
        proof.header,
        net.material.config.orderers,
        new CertificateKeyCache(),
      ),
    ).toBeNull();
  });

  it('names the problem in a malformed request and in a contract failure', async () => {
    const bad = await raw(peerApi, 'POST', '/gateway/submit', {
      cert: user('org1', 'client'),
      body: JSON.stringify({ envelope: { payload: 1 } }),
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.message).toMatch(/^envelope\.payload/);
    const failure = await client(peerApi)
      .submit({ contract: 'kv', fn: 'nosuch', args: [] })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ClientError);
    expect(failure).toMatchObject({ status: 422, code: 'PEER_CONTRACT_FAILED' });
    const unknownBlock = await client(peerApi)
      .block(10_000)
      .catch((e: unknown) => e);
    expect(unknownBlock).toMatchObject({ status: 404, code: 'API_NOT_FOUND' });
  });

  it('streams committed blocks as server-sent events', async () => {
    const abort = new AbortController();
    const events = client(peerApi).events(abort.signal);
    expect((await events.next()).value).toMatchObject({ event: 'hello' });
    const next = events.next();
    const outcome = await client(peerApi).submit({ contract: 'kv', fn: 'put', args: ['shape', 'round'] });
    const { value } = await next;
    expect(value).toMatchObject({
      event: 'block',
      data: { height: outcome.height, transactions: [{ txId: outcome.txId, validation: 'VALID' }] },
    });
    abort.abort();
    await events.return(undefined);
  });
});
