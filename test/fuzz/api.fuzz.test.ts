import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Agent } from 'node:https';
import fc from 'fast-check';
import { loadSampleContract } from '../../node/contracts/index.js';
import { SigningKey } from '../../node/crypto/index.js';
import type { Envelope, InvokePayload, SignedProposal } from '../../node/protocol/index.js';
import { signProposal, signTransaction, type ClientIdentity } from '../../node/sdk/index.js';
import { agentFor, rawRequest, SmallNetwork, type RawResponse } from '../support/small-network.js';
import { fnArb, hostileValueArb, jsonText, mutate, mutationArb, nameArb, textArb } from './arbitraries.js';

// The HTTP API of a running peer, fuzzed through its real HTTPS server with a real client
// certificate: POST bodies of the gateway (zod-checked), the bytes and headers around them, and
// the path and query parameters of the chain routes. The contract: every answer is a success or
// a 4xx/5xx with `{ error: { code, message } }` naming a typed cause, never API_INTERNAL (a 500,
// an unexpected exception), and the node keeps serving. Signed proposals with random calls reach
// the endorser and the contract runtime; evaluate never changes the chain.

const PEER = 'peer0-org1';
const TYPED_STATUSES = [400, 401, 403, 404, 409, 413, 415, 422, 503, 504];

let net: SmallNetwork;
let agent: Agent;
let client: ClientIdentity;
let url: string;
let validEnvelope: Envelope;

beforeAll(async () => {
  net = await SmallNetwork.start({ orgs: 1, logLevel: 'warn' });
  url = net.apiUrl(PEER);
  const who = net.user('org1', 'client');
  agent = agentFor(net.caCerts, who);
  client = {
    identity: { org: 'org1' as ClientIdentity['identity']['org'], cert: who.certPem },
    key: SigningKey.fromPem(who.keyPem),
  };
  await net.client(PEER, net.user('org1', 'admin')).deploy('kv', loadSampleContract('kv').source);
  const proposal = signProposal(client, { contract: 'kv', fn: 'put', args: ['k', 'v'] });
  const endorsed = await post('/gateway/endorse', { proposal });
  expect(endorsed.status).toBe(200);
  validEnvelope = signTransaction(
    client,
    proposal,
    (JSON.parse(endorsed.body) as { payload: InvokePayload }).payload,
  );
});

afterAll(async () => {
  agent.destroy();
  await net.stop();
});

function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
  return rawRequest(url, agent, 'POST', path, {
    headers: { 'content-type': 'application/json', ...headers },
    body: jsonText(body),
  });
}

/** A success, or a typed refusal in the documented error shape. */
function expectTyped(res: RawResponse, what: string): void {
  if (res.status >= 200 && res.status < 300) return;
  if (!TYPED_STATUSES.includes(res.status))
    throw new Error(`${what}: status ${res.status} is not a typed refusal: ${res.body.slice(0, 300)}`);
  const body = JSON.parse(res.body) as { error?: { code?: unknown; message?: unknown } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error?.code).toMatch(/^[A-Z][A-Z0-9_]+$/);
  expect(body.error?.code).not.toBe('API_INTERNAL');
  expect(typeof body.error?.message).toBe('string');
}

const signedCallArb = fc.record({
  contract: fc.oneof(fc.constantFrom('kv', 'lifecycle', 'nosuch'), nameArb),
  fn: fc.oneof(fc.constantFrom('get', 'put', 'del', 'deploy', 'constructor', '__proto__', 'toString'), fnArb),
  args: fc.array(
    fc.oneof(textArb(20), fc.constantFrom('', '{}', 'null', '{"org":"org1"}', 'export function f(){}')),
    {
      maxLength: 5,
    },
  ),
});

describe('the gateway API over HTTPS (fuzz)', () => {
  it('answers arbitrary JSON bodies on every gateway route with a typed refusal', async () => {
    const bodyArb = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record({ proposal: hostileValueArb }),
      fc.record({ envelope: hostileValueArb, timeoutMs: fc.oneof(fc.constant(1), hostileValueArb) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('endorse', 'evaluate', 'submit'), bodyArb, async (route, body) => {
        const withTimeout =
          route === 'submit' && typeof body === 'object' && body !== null && 'envelope' in body;
        expectTyped(await post(`/gateway/${route}`, withTimeout ? { ...body, timeoutMs: 1 } : body), route);
      }),
      { numRuns: 50 },
    );
  });

  it('answers any single change to a valid signed proposal or transaction with a typed result', async () => {
    const height = net.peer().node.chainHead.height;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('endorse', 'evaluate', 'submit'),
        mutationArb,
        async (route, mutation) => {
          if (route === 'submit') {
            const changed = mutate(validEnvelope, mutation).doc;
            fc.pre(JSON.stringify(changed) !== JSON.stringify(validEnvelope)); // a change that changed nothing
            expectTyped(await post('/gateway/submit', { envelope: changed, timeoutMs: 1 }), 'submit');
          } else {
            const proposal = signProposal(client, { contract: 'kv', fn: 'get', args: ['k'] });
            expectTyped(await post(`/gateway/${route}`, { proposal: mutate(proposal, mutation).doc }), route);
          }
        },
      ),
      { numRuns: 60 },
    );
    // Nothing changed was signed by the client, so nothing of it can have been ordered.
    expect(net.peer().node.chainHead.height).toBe(height);
  });

  it('evaluates any correctly signed call with a result or a typed refusal, and never writes', async () => {
    const height = net.peer().node.chainHead.height;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(signedCallArb, async (call) => {
        const proposal: SignedProposal = signProposal(client, call);
        const res = await post('/gateway/evaluate', { proposal });
        expectTyped(res, `evaluate ${call.contract}.${call.fn}`);
        if (res.status !== 200) refused += 1;
      }),
      { numRuns: 50 },
    );
    expect(refused).toBeGreaterThan(0);
    expect(net.peer().node.chainHead.height).toBe(height);
  });

  it('answers bodies that are not JSON, or JSON in another charset or encoding, with a typed refusal', async () => {
    const headersArb = fc.record({
      'content-type': fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'application/json; charset=utf-16le',
        'application/json; charset=latin1',
        'application/json; charset=nonsense',
        'text/plain',
        'application/x-www-form-urlencoded',
      ),
      'content-encoding': fc.constantFrom('identity', 'gzip', 'deflate', 'br', 'compress', 'nonsense'),
    });
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 100 }).map((s) => Buffer.from(s, 'utf8')),
      fc.constant(Buffer.from(JSON.stringify({ proposal: null }))),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('endorse', 'evaluate', 'submit'),
        headersArb,
        bytesArb,
        async (route, headers, bytes) => {
          const res = await rawRequest(url, agent, 'POST', `/gateway/${route}`, { headers, body: bytes });
          expectTyped(res, `${route} with ${JSON.stringify(headers)}`);
          expect(res.status).not.toBe(200);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('answers any block id, transaction id and listing query with data or a typed refusal', async () => {
    const segmentArb = fc.oneof(
      fc.constantFrom(
        'latest',
        '0',
        '1',
        '-1',
        '1e3',
        '0x10',
        '9007199254740993',
        'NaN',
        '%00',
        '..',
        'ab'.repeat(32),
        'AB'.repeat(32),
      ),
      fc.nat().map(String),
      fc.string({ maxLength: 20 }).map(encodeURIComponent),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/blocks/', '/transactions/', '/blocks?limit=', '/blocks?to=', '/blocks?limit=3&to='),
        segmentArb,
        async (prefix, segment) => {
          const res = await rawRequest(url, agent, 'GET', `${prefix}${segment}`);
          expectTyped(res, `GET ${prefix}${segment}`);
        },
      ),
      { numRuns: 50 },
    );
    expect((await rawRequest(url, agent, 'GET', '/healthz')).status).toBe(200);
  });
});
