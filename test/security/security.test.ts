import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import pg from 'pg';
import { pino } from 'pino';
import { createOrgCa, issueNodeCert, issueUserCert } from '../../certs/index.js';
import { loadNetworkDir } from '../../node/config/index.js';
import { loadSampleContract } from '../../node/contracts/index.js';
import { SigningKey } from '../../node/crypto/index.js';
import { ChainNode, TamperedChainError } from '../../node/node/index.js';
import {
  canonicalBytes,
  proposalTxId,
  PROTOCOL_VERSION,
  SigningDomain,
  ValidationCode,
  type Envelope,
  type Hash,
  type InvokePayload,
  type ProposalResponse,
} from '../../node/protocol/index.js';
import {
  ChainnodeClient,
  ClientError,
  signProposal,
  signTransaction,
  type ClientIdentity,
} from '../../node/sdk/index.js';
import type { TransportErrorCode } from '../../node/transport/index.js';
import { dropSchema, testDatabaseUrl, uniqueSchema } from '../support/database.js';
import { eventually } from '../support/network-harness.js';
import { ChainnodeProcess, randomLoopback, runChainnode } from '../support/processes.js';
import { agentFor, rawRequest, SmallNetwork } from '../support/small-network.js';

// Security checks against real TLS sockets, real HTTPS and the real PostgreSQL of the test run.
// Already covered elsewhere (and not repeated here): node links refusing a foreign CA, an expired
// certificate, an admin identity and a non-member (node/transport/refusal.test.ts); the API
// refusing no certificate, a foreign CA and a client on POST /admin/stop (test/api/api.test.ts);
// validation flagging unauthorised creators (node/peer/validate.test.ts); verify() naming a
// tampered row (node/ledger/store.test.ts); a node process refusing a tampered block 0
// (test/cluster/node-process.test.ts). Certificate revocation does not exist in Chainnode.

const DAY_MS = 24 * 60 * 60 * 1000;
const PEER = 'peer0-org1';
const ORDERER = 'orderer0';

type Who = { certPem: string; keyPem: string };

let net: SmallNetwork;
let foreignAdmin: Who;
let expiredAdmin: Who;
let futureAdmin: Who;
let kvPut: { height: number; txId: string };

function identityOf(who: Who, org: string): ClientIdentity {
  return {
    identity: { org: org as ClientIdentity['identity']['org'], cert: who.certPem },
    key: SigningKey.fromPem(who.keyPem),
  };
}

function errorOf(promise: Promise<unknown>): Promise<ClientError> {
  return promise.then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (e: unknown) => {
      if (e instanceof ClientError) return e;
      throw e;
    },
  );
}

beforeAll(async () => {
  // Three organisations: org1 and org2 may submit, only org1 may deploy, org3 is a member that may
  // do neither; certificates back-dated so the org CAs can issue already-expired ones.
  net = await SmallNetwork.start({
    orgs: 3,
    peerOrgs: ['org1'],
    policies: {
      submit: { or: [{ org: 'org1' }, { org: 'org2' }] } as never,
      deploy: { org: 'org1' } as never,
      endorsement: { org: 'org1' } as never,
    },
    now: new Date(Date.now() - 10 * DAY_MS),
  });
  const org1Ca = net.material.cas.find((c) => c.org === 'org1')!;
  const rogueCa = await createOrgCa({ org: 'org1', validityDays: 30 });
  foreignAdmin = await issueUserCert({
    ca: rogueCa,
    org: 'org1',
    role: 'admin',
    name: 'mallory',
    validityDays: 30,
  });
  expiredAdmin = await issueUserCert({
    ca: org1Ca,
    org: 'org1',
    role: 'admin',
    name: 'former',
    validityDays: 1,
    now: new Date(Date.now() - 5 * DAY_MS),
  });
  futureAdmin = await issueUserCert({
    ca: org1Ca,
    org: 'org1',
    role: 'admin',
    name: 'early',
    validityDays: 3,
    now: new Date(Date.now() + 2 * DAY_MS),
  });
  const deployed = await net
    .client(PEER, net.user('org1', 'admin'))
    .deploy('kv', loadSampleContract('kv').source);
  expect(deployed.code).toBe(ValidationCode.VALID);
});

afterAll(async () => {
  await net.stop();
});

describe('the API refuses identities it must not serve', () => {
  const agents: Agent[] = [];
  afterAll(() => {
    for (const a of agents) a.destroy();
  });
  const as = (who?: Who): Agent => {
    const agent = agentFor(net.caCerts, who);
    agents.push(agent);
    return agent;
  };

  it('admin routes refuse clients, nodes, foreign, expired and not-yet-valid admins on every node, and serve an admin', async () => {
    const refused: [string, Who | undefined, number, string, RegExp][] = [
      ['no certificate', undefined, 401, 'API_NO_CERTIFICATE', /client certificate is required/],
      [
        'a client of org1',
        net.user('org1', 'client'),
        403,
        'API_FORBIDDEN',
        /has role client; this needs admin/,
      ],
      [
        'a client of org3',
        net.user('org3', 'client'),
        403,
        'API_FORBIDDEN',
        /has role client; this needs admin/,
      ],
      ['the peer node', net.nodeIdentity(PEER), 403, 'API_FORBIDDEN', /has role peer; this needs admin/],
      [
        'the orderer node',
        net.nodeIdentity(ORDERER),
        403,
        'API_FORBIDDEN',
        /has role orderer; this needs admin/,
      ],
      [
        'an admin of a foreign CA',
        foreignAdmin,
        403,
        'API_NOT_A_MEMBER',
        /signed by none of the 1 trusted CAs/,
      ],
      ['an expired admin', expiredAdmin, 403, 'API_NOT_A_MEMBER', /expired/],
      ['an admin not valid yet', futureAdmin, 403, 'API_NOT_A_MEMBER', /is not valid before/],
    ];
    for (const node of [PEER, ORDERER]) {
      const url = net.apiUrl(node);
      for (const [who, cert, status, code, message] of refused) {
        for (const [method, path] of [
          ['GET', '/admin/config'],
          ['POST', '/admin/stop'],
        ] as const) {
          const res = await rawRequest(url, as(cert), method, path, {
            headers: { 'content-type': 'application/json' },
            body: '{}',
          });
          const what = `${method} ${path} on ${node} by ${who}`;
          expect({ what, status: res.status }).toEqual({ what, status });
          const body = JSON.parse(res.body) as { error: { code: string; message: string } };
          expect({ what, code: body.error.code }).toEqual({ what, code });
          expect(body.error.message).toMatch(message);
        }
      }
      const config = await rawRequest(url, as(net.user('org2', 'admin')), 'GET', '/admin/config');
      expect(config.status).toBe(200);
      expect(JSON.parse(config.body)).toMatchObject({ networkId: net.material.config.networkId });
    }
    // Nothing above stopped a node.
    expect(net.orderer().node.chainHead.height).toBeGreaterThanOrEqual(1);
    expect((await rawRequest(net.apiUrl(PEER), as(), 'GET', '/healthz')).status).toBe(200);
  });

  it('the gateway refuses foreign, expired and not-yet-valid certificates and serves a member', async () => {
    const url = net.apiUrl(PEER);
    for (const [who, message] of [
      [foreignAdmin, /signed by none/],
      [expiredAdmin, /expired/],
      [futureAdmin, /is not valid before/],
    ] as const) {
      const proposal = signProposal(identityOf(who, 'org1'), { contract: 'kv', fn: 'get', args: ['k'] });
      const res = await rawRequest(url, as(who), 'POST', '/gateway/evaluate', {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ proposal }),
      });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body).error).toMatchObject({
        code: 'API_NOT_A_MEMBER',
        message: expect.stringMatching(message),
      });
    }
    expect(
      await net.client(PEER, net.user('org1', 'client')).evaluate({ contract: 'kv', fn: 'get', args: ['k'] }),
    ).toBe('null');
  });
});

describe('permissions come from the signed configuration', () => {
  it('refuses to endorse for a member organisation outside the submit policy, and writes nothing', async () => {
    const height = net.peer().node.chainHead.height;
    const org3 = net.client(PEER, net.user('org3', 'client'));
    for (const call of [
      org3.submit({ contract: 'kv', fn: 'put', args: ['stolen', '1'] }),
      org3.evaluate({ contract: 'kv', fn: 'get', args: ['stolen'] }),
      net.client(PEER, net.user('org3', 'admin')).deploy('evil', 'export function f() {}'),
    ]) {
      expect(await errorOf(call)).toMatchObject({
        status: 403,
        code: 'PEER_UNAUTHORIZED',
        message: 'org org3 may not submit transactions',
      });
    }
    expect(net.peer().node.chainHead.height).toBe(height);
  });

  it('refuses a deployment by an organisation outside the deploy policy, which may still submit', async () => {
    for (const role of ['client', 'admin'] as const) {
      expect(
        await errorOf(net.client(PEER, net.user('org2', role)).deploy('evil', 'export function f() {}')),
      ).toMatchObject({
        status: 403,
        code: 'PEER_UNAUTHORIZED',
        message: 'org org2 may not deploy contracts',
      });
    }
    const put = await net
      .client(PEER, net.user('org2', 'client'))
      .submit({ contract: 'kv', fn: 'put', args: ['colour', 'blue'] });
    expect(put).toMatchObject({ code: ValidationCode.VALID });
    kvPut = { height: put.height, txId: put.txId };
  });

  it.each([
    ['org3', 'kv', 'put', ['stolen', '1'], 'org org3 may not submit transactions'],
    [
      'org2',
      'lifecycle',
      'deploy',
      ['evil', '1', 'export function f() {}'],
      'org org2 may not deploy contracts',
    ],
  ])(
    'has the orderer refuse a transaction of %s that bypassed the endorser (%s.%s), endorsement forged with a peer key',
    async (org, contract, fn, args, problem) => {
      const creator = identityOf(net.user(org, 'client'), org);
      const proposal = signProposal(creator, { contract, fn, args });
      const txId = proposalTxId(proposal.proposal);
      const response: ProposalResponse = {
        version: PROTOCOL_VERSION,
        proposalHash: txId as string as Hash,
        rwset: {
          reads: [],
          writes: [{ ns: contract, key: 'stolen', value: Buffer.from('1').toString('base64') }],
        },
        result: '',
        events: [],
      };
      const peer = net.nodeIdentity(PEER);
      const payload: InvokePayload = {
        version: PROTOCOL_VERSION,
        type: 'invoke',
        txId,
        proposal: proposal.proposal,
        response,
        endorsements: [
          {
            endorser: { org: 'org1' as never, cert: peer.certPem },
            signature: SigningKey.fromPem(peer.keyPem).sign(SigningDomain.response, canonicalBytes(response)),
          },
        ],
      };
      const envelope: Envelope = signTransaction(creator, proposal, payload);
      const refusedBefore = net.orderer().metrics()?.rejected['invalid-request'] ?? 0;
      const submitted = errorOf(net.client(PEER, net.user(org, 'client')).submitEnvelope(envelope, 300));
      await eventually(
        () =>
          net.logLines.some((line) => {
            const entry = JSON.parse(line) as {
              msg?: string;
              txId?: string;
              problem?: string;
              node?: string;
            };
            return (
              entry.node === ORDERER &&
              entry.msg === 'transaction refused' &&
              entry.txId === txId &&
              entry.problem === problem
            );
          }),
        15_000,
        `the orderer to refuse ${txId}: ${problem}`,
      );
      expect(net.orderer().metrics()?.rejected['invalid-request']).toBe(refusedBefore + 1);
      expect(await submitted).toMatchObject({ status: 504, code: 'PEER_COMMIT_TIMEOUT' });
      expect(await net.peer().node.store.getTransaction(txId)).toBeNull();
      expect(await net.orderer().node.store.getTransaction(txId)).toBeNull();
    },
  );
});

describe('node links refuse certificates of the wrong role or not valid yet', () => {
  async function refusedAtHandshake(who: Who, code: TransportErrorCode, logged: RegExp): Promise<void> {
    const orderer = net.orderer().node;
    const before = orderer.transportMetrics()?.refusedConnections[code] ?? 0;
    const entry = net.material.config.orderers[0]!;
    const socket = tls.connect({
      host: entry.host,
      port: entry.port,
      cert: who.certPem,
      key: who.keyPem,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
    });
    socket.on('error', () => undefined);
    socket.resume();
    if (!socket.destroyed) await once(socket, 'close');
    await eventually(
      () => (orderer.transportMetrics()?.refusedConnections[code] ?? 0) === before + 1,
      15_000,
      `a refusal counted as ${code}`,
    );
    const warning = net.logLines
      .map((l) => JSON.parse(l) as { node?: string; level?: number; msg?: string })
      .find((l) => l.node === ORDERER && l.level === 40 && l.msg?.includes(code) === true);
    expect(warning?.msg).toMatch(logged);
  }

  it('refuses a consortium client certificate and a node certificate that is not valid yet; the good link keeps working', async () => {
    await refusedAtHandshake(net.user('org1', 'client'), 'TRANSPORT_ROLE_NOT_ALLOWED', /role "client"/);
    const ca = net.material.cas.find((c) => c.org === 'org1')!;
    const early = await issueNodeCert({
      ca,
      org: 'org1',
      role: 'peer',
      name: PEER,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      validityDays: 3,
      now: new Date(Date.now() + 2 * DAY_MS),
    });
    await refusedAtHandshake(early, 'TRANSPORT_CERT_NOT_YET_VALID', /not yet valid/);
    expect(
      net
        .peer()
        .node.connectedPeers()
        .map((p) => p.name),
    ).toContain(ORDERER);
    const put = await net
      .client(PEER, net.user('org1', 'client'))
      .submit({ contract: 'kv', fn: 'put', args: ['after', 'refusals'] });
    expect(put.code).toBe(ValidationCode.VALID);
  });
});

describe('a tampered database row', () => {
  it('is named by `chainnode verify`, and the node refuses to start on it', async () => {
    const schema = net.schemas.get(PEER)!;
    await net.stopNode(PEER);
    const client = new pg.Client({ connectionString: testDatabaseUrl() });
    await client.connect();
    try {
      // As an attacker with database access would: triggers off, one stored envelope rewritten.
      await client.query('SET session_replication_role = replica');
      const updated = await client.query(
        `UPDATE "${schema}".transactions SET envelope = convert_to(replace(convert_from(envelope, 'UTF8'), '"blue"', '"gold"'), 'UTF8') WHERE tx_id = decode($1, 'hex')`,
        [kvPut.txId],
      );
      expect(updated.rowCount).toBe(1);
    } finally {
      await client.end();
    }
    const env = { DATABASE_URL: testDatabaseUrl() };
    const tampered = await runChainnode(['--dir', net.dir, 'verify', '--schema', schema], env);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain(`${schema}: FAILED at block ${kvPut.height}: `);
    const intact = await runChainnode(
      ['--dir', net.dir, 'verify', '--schema', net.schemas.get(ORDERER)!, '--json'],
      env,
    );
    expect(intact.code).toBe(0);
    expect(JSON.parse(intact.stdout)).toEqual([expect.objectContaining({ ok: true })]);

    const restart = ChainNode.start({
      networkFile: join(net.dir, 'network.yaml'),
      name: PEER,
      databaseUrl: testDatabaseUrl(),
      schema,
      logger: pino({ level: 'silent' }),
    });
    await expect(restart).rejects.toBeInstanceOf(TamperedChainError);
    await expect(restart).rejects.toThrow(`stored chain fails verification at block ${kvPut.height}: `);
  });
});

describe('log hygiene', () => {
  it('no private key of the network appears in any log line of the nodes above', () => {
    expect(net.logLines.length).toBeGreaterThan(20);
    expectNoKeyMaterial(net.logLines.join('\n'), net.privateKeys());
  });
});

/** Neither the PEM markers nor any base64 line (nor the whole body) of any key is in `text`. */
function expectNoKeyMaterial(text: string, keyPems: readonly string[]): void {
  expect(text).not.toContain('PRIVATE KEY');
  for (const pem of keyPems) {
    const lines = pem.split('\n').filter((l) => l.length > 0 && !l.startsWith('-----'));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(text.includes(line.slice(0, 24))).toBe(false);
    const der = Buffer.from(lines.join(''), 'base64');
    expect(text.includes(der.toString('hex').slice(0, 32))).toBe(false);
    expect(text.includes(der.toString('base64url').slice(0, 24))).toBe(false);
  }
}

describe('node processes (chainnode node start)', () => {
  let dir: string | undefined;
  const schemas: string[] = [];
  const processes: ChainnodeProcess[] = [];

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await Promise.all(schemas.map(dropSchema));
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function keyFiles(root: string): Promise<string[]> {
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile() && e.name === 'key.pem').map((e) => join(e.parentPath, e.name));
  }

  function start(name: string, extra: readonly string[] = []): ChainnodeProcess {
    const schema = uniqueSchema(name.replaceAll('-', '_'));
    schemas.push(schema);
    const proc = ChainnodeProcess.start(name, [
      ...extra,
      'node',
      'start',
      '--config',
      join(dir!, 'network.yaml'),
      '--name',
      name,
      '--schema',
      schema,
      '--database-url',
      testDatabaseUrl(),
      '--log-level',
      'trace',
    ]);
    processes.push(proc);
    return proc;
  }

  it('survive a client resubmitting a final transaction with a tiny timeout, and never log a key or the database password', async () => {
    const work = await mkdtemp(join(tmpdir(), 'chainnode-security-'));
    dir = work;
    const { host, basePort } = randomLoopback();
    const init = await runChainnode([
      'network',
      'init',
      '--orderers',
      '1',
      '--orgs',
      '1',
      '--peers-per-org',
      '1',
      '--host',
      host,
      '--base-port',
      String(basePort),
      '--out',
      work,
    ]);
    expect(init.code).toBe(0);
    const network = await loadNetworkDir(work);
    const orderer = start(ORDERER);
    const peer = start(PEER);
    await Promise.all(
      [orderer, peer].map((p) => p.waitFor((l) => l.msg === 'API listening', 60_000, 'the API')),
    );
    await peer.waitFor(
      (l) => l.msg === 'peer status' && l.peer === ORDERER,
      30_000,
      'a status from the orderer',
    );

    const caCerts = network.config.orgs.flatMap((o) => o.caCerts);
    const entry = network.config.peers[0]!;
    const url = `https://${entry.host}:${entry.apiPort}`;
    const userOf = async (role: string): Promise<Who> => ({
      certPem: await readFile(join(work, 'orgs', 'org1', 'users', role, 'cert.pem'), 'utf8'),
      keyPem: await readFile(join(work, 'orgs', 'org1', 'users', role, 'key.pem'), 'utf8'),
    });
    const admin = ChainnodeClient.connect({ url, ...(await userOf('admin')), caCerts });
    expect((await admin.deploy('kv', loadSampleContract('kv').source)).code).toBe(ValidationCode.VALID);

    const who = await userOf('client');
    const client = ChainnodeClient.connect({ url, ...who, caCerts });
    const me = identityOf(who, 'org1');
    const agent = agentFor(caCerts, who);
    const endorsed = async (args: string[]): Promise<Envelope> => {
      const proposal = signProposal(me, { contract: 'kv', fn: 'put', args });
      const res = await rawRequest(url, agent, 'POST', '/gateway/endorse', {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ proposal }),
      });
      expect(res.status).toBe(200);
      return signTransaction(me, proposal, (JSON.parse(res.body) as { payload: InvokePayload }).payload);
    };
    const envelope = await endorsed(['k', 'v']);
    const final = await client.submitEnvelope(envelope);
    expect(final.code).toBe(ValidationCode.VALID);
    // Regression: the gateway left the wait's 1 ms timer running, whose rejection nobody awaited:
    // an unhandled rejection, which ends a Node process.
    expect(await client.submitEnvelope(envelope, 1)).toEqual(final);
    // A transaction the orderer refuses (its client signature is broken), waited for 50 ms: that
    // timer starts after the 1 ms one above, so if this answers, the process lived past it.
    const broken = await endorsed(['k', 'w']);
    const forged = {
      ...broken,
      signature: (broken.signature.startsWith('0') ? '1' : '0') + broken.signature.slice(1),
    };
    expect(await errorOf(client.submitEnvelope(forged as Envelope, 50))).toMatchObject({
      status: 504,
      code: 'PEER_COMMIT_TIMEOUT',
    });
    expect(peer.running).toBe(true);
    agent.destroy();
    client.close();
    admin.close();

    expect(await peer.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await orderer.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const logs = [...orderer.lines, ...peer.lines].map((l) => JSON.stringify(l));
    expect(logs.some((l) => l.includes('"level":20'))).toBe(true); // debug lines were logged too
    const text = [...logs, ...orderer.stderr, ...peer.stderr].join('\n');
    const keys = await Promise.all((await keyFiles(work)).map((f) => readFile(f, 'utf8')));
    expect(keys.length).toBeGreaterThanOrEqual(5);
    expectNoKeyMaterial(text, keys);
    const password = decodeURIComponent(new URL(testDatabaseUrl()).password);
    if (password.length > 0) expect(text).not.toContain(password);
  });

  it('refuse to start with an unreadable private key, without echoing any of it, even with --debug', async () => {
    const keyPath = join(dir!, 'orgs', 'org1', 'peers', PEER, 'key.pem');
    const original = await readFile(keyPath, 'utf8');
    const lines = original.split('\n');
    const truncated = [...lines.slice(0, 2), ...lines.slice(-2)].join('\n');
    await writeFile(keyPath, truncated, { mode: 0o600 });
    try {
      const proc = start(PEER, ['--debug']);
      const exit = await proc.exited;
      expect(exit.code).not.toBe(0);
      const text = [...proc.lines.map((l) => JSON.stringify(l)), ...proc.stderr].join('\n');
      expect(text).toContain('private key is not a readable PEM/DER key');
      expectNoKeyMaterial(text, [original, truncated]);
    } finally {
      await writeFile(keyPath, original, { mode: 0o600 });
    }
  });
});
