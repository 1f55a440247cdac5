import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueNodeCert, type CertificateWithKey } from '../certs/index.js';
import { approveConfig, configEnvelope, parseNetworkFile } from '../node/config/index.js';
import type { Envelope, NetworkConfig } from '../node/protocol/index.js';
import { httpsLedgerAdmin, type LedgerAccess } from './ledger-admin.js';
import { completeIdentities, renderGenesis } from './material.js';
import { addressesFor, planNetwork } from './plan.js';
import { ledgerNetworkSpecSchema } from './spec.js';

/*
 * The production LedgerAdmin against a real mutual-TLS HTTPS server on the loopback interface
 * that answers POST /gateway/submit as told: which answers are the network's verdict on a config
 * update (a refusal) and which are a failure to be retried.
 */

const now = new Date();
let server: Server;
/** What the server answers next: an HTTP status and a JSON body. */
let answer: { status: number; body: unknown } = { status: 200, body: {} };
let access: LedgerAccess;
let envelope: Envelope;

beforeAll(async () => {
  const spec = ledgerNetworkSpecSchema.parse({ orderers: { count: 1 }, organisations: [{ name: 'org1' }] });
  const plan = planNetwork('net', 'ns', spec);
  const addressOf = addressesFor('net', 'ns', {});
  const { identities } = await completeIdentities(
    { cas: new Map(), nodes: new Map(), users: new Map() },
    plan,
    addressOf,
    { caValidityDays: 30, nodeValidityDays: 10 },
    { mayCreateCas: true, now },
  );
  const genesis = parseNetworkFile(renderGenesis(plan, identities, addressOf, spec, now), 'g', now).config;
  const ca = identities.cas.get('org1') as CertificateWithKey;
  const admin = identities.users.get('org1/admin') as CertificateWithKey;
  const serving = await issueNodeCert({
    ca,
    org: 'org1',
    role: 'peer',
    name: 'net-org1-peer-0',
    dnsNames: [],
    ipAddresses: ['127.0.0.1'],
    validityDays: 10,
    now,
  });
  server = createServer(
    {
      key: serving.keyPem,
      cert: serving.certPem,
      ca: [ca.certPem],
      requestCert: true,
      minVersion: 'TLSv1.3',
    },
    (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      });
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const peer = genesis.peers[0] as NetworkConfig['peers'][number];
  const known: NetworkConfig = { ...genesis, peers: [{ ...peer, host: '127.0.0.1', apiPort: port }] };
  access = { known, caPems: [ca.certPem], admins: new Map([['org1', admin]]) };
  const next = { ...genesis, sequence: 1 };
  const org = genesis.orgs[0]!.name;
  envelope = configEnvelope(
    next,
    [approveConfig(next, { org, cert: admin.certPem }, admin.keyPem)],
    { org, cert: admin.certPem },
    admin.keyPem,
  );
});

afterAll(async () => {
  server.close();
  await once(server, 'close');
});

const error = (code: string, message: string) => ({ error: { code, message } });

describe('httpsLedgerAdmin.submitConfig', () => {
  it('reports a committed outcome with its validation code', async () => {
    answer = { status: 200, body: { validation: 'BAD_CONFIG_UPDATE', height: 7 } };
    await expect(httpsLedgerAdmin(access).submitConfig(envelope)).resolves.toEqual({
      validation: 'BAD_CONFIG_UPDATE',
      height: 7,
    });
  });

  it("takes 400 PEER_BAD_CONFIG_UPDATE as the network's refusal, with its reason", async () => {
    answer = { status: 400, body: error('PEER_BAD_CONFIG_UPDATE', 'sequence must be 1') };
    await expect(httpsLedgerAdmin(access).submitConfig(envelope)).resolves.toMatchObject({
      validation: 'REFUSED',
      message: expect.stringContaining('HTTP 400: sequence must be 1') as unknown,
    });
  });

  it.each([
    [401, 'API_UNAUTHENTICATED'],
    [403, 'PEER_UNAUTHORIZED'],
    [408, 'API_TIMEOUT'],
    [429, 'API_RATE_LIMITED'],
    [400, 'API_BAD_JSON'],
    [503, 'PEER_SUBMIT_FAILED'],
  ])('takes HTTP %i %s as a failure to retry, not a refusal', async (status, code) => {
    answer = { status, body: error(code, 'not now') };
    await expect(httpsLedgerAdmin(access).submitConfig(envelope)).rejects.toThrow(
      `no peer took the config transaction: POST /gateway/submit on 127.0.0.1:${String((server.address() as AddressInfo).port)}: HTTP ${status}: not now`,
    );
  });
});
