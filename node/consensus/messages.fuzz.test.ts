import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  blockArb,
  blockHeaderArb,
  commitCertificateArb,
  envelopeArb,
  expectDecodedOrNamed,
  expectOnlyProtocolErrors,
  hashArb,
  jsonText,
  junkBytesArb,
  mutate,
  mutationArb,
  nameArb,
  nonCanonicalJson,
  safeNatArb,
  signatureArb,
} from '../../test/fuzz/arbitraries.js';
import { makeTestNetwork } from '../../test/support/chain-fixture.js';
import { fakeCrypto } from '../../test/simulator/fake-crypto.js';
import { canonicalBytes, PROTOCOL_VERSION, type Block, type NodeName } from '../protocol/index.js';
import { ConsensusCore } from './core.js';
import {
  decodeConsensusMessage,
  encodeConsensusMessage,
  signMessage,
  type ConsensusMessage,
  type Unsigned,
} from './messages.js';

// The consensus wire format fuzzed as the protocol decoders are (decode.fuzz.test.ts), plus the
// core itself: whatever bytes an authenticated orderer sends, step() counts or uses them and
// never throws (a throw would stop that orderer's consensus: see OrdererRole.drain).

const ORDERERS = ['orderer0', 'orderer1', 'orderer2', 'orderer3'] as NodeName[];
const smallArb = fc.oneof(fc.nat({ max: 3 }), safeNatArb);
const fromArb = fc.oneof(fc.constantFrom(...ORDERERS), nameArb);

const common = {
  version: fc.constant(PROTOCOL_VERSION),
  view: smallArb,
  height: smallArb,
  from: fromArb,
  signature: signatureArb,
};
const preparedProofArb = fc.record({
  view: smallArb,
  header: blockHeaderArb,
  votes: fc.array(fc.record({ from: fromArb, signature: signatureArb }), { minLength: 1, maxLength: 3 }),
});
const viewChangeBody = {
  type: fc.constant('view-change' as const),
  ...common,
  head: fc.option(commitCertificateArb),
  prepared: fc.array(preparedProofArb, { maxLength: 2 }),
};

const messageArbs = {
  'pre-prepare': fc.record({ type: fc.constant('pre-prepare' as const), ...common, block: blockArb }),
  prepare: fc.record({ type: fc.constant('prepare' as const), ...common, blockHash: hashArb }),
  commit: fc.record({
    type: fc.constant('commit' as const),
    ...common,
    blockHash: hashArb,
    vote: signatureArb,
  }),
  checkpoint: fc.record({ type: fc.constant('checkpoint' as const), ...common, blockHash: hashArb }),
  'view-change': fc.record({ ...viewChangeBody, blocks: fc.array(blockArb, { maxLength: 2 }) }),
  'new-view': fc.record({
    type: fc.constant('new-view' as const),
    ...common,
    viewChanges: fc.array(fc.record(viewChangeBody), { minLength: 1, maxLength: 2 }),
    blocks: fc.array(blockArb, { maxLength: 2 }),
  }),
  forward: fc.record({
    type: fc.constant('forward' as const),
    ...common,
    envelopes: fc.array(envelopeArb, { minLength: 1, maxLength: 2 }),
  }),
  suspect: fc.record({ type: fc.constant('suspect' as const), ...common }),
} as const satisfies Record<ConsensusMessage['type'], fc.Arbitrary<unknown>>;
const anyMessageArb = fc.oneof(...Object.values(messageArbs)) as fc.Arbitrary<ConsensusMessage>;

let genesis: Block;
beforeAll(async () => {
  genesis = (await makeTestNetwork({ orderers: 4 })).genesis;
});

function makeCore(): ConsensusCore {
  const core = new ConsensusCore(
    {
      self: ORDERERS[0]!,
      orderers: ORDERERS,
      params: {
        batchTxMax: 2,
        batchBytesMax: 64 * 1024,
        batchTimeoutMs: 10,
        viewTimeoutMs: 100,
        checkpointInterval: 2,
        window: 3,
      },
      tickMs: 10,
      epochStart: 0,
      crypto: fakeCrypto(ORDERERS[0]!),
      validateBlock: () => null,
      validateEnvelope: () => null,
    },
    { head: { block: genesis, certificate: null }, records: [], recentTxIds: [] },
  );
  core.step({ type: 'tick', nowMs: genesis.header.timestampMs });
  return core;
}

/** Re-signs a generated message as its claimed sender, so the core looks past the signature. */
function signedAsSender(message: ConsensusMessage): ConsensusMessage {
  const body: Record<string, unknown> = { ...message };
  delete body.signature;
  return signMessage(body as Unsigned<ConsensusMessage>, fakeCrypto(message.from));
}

describe.each(Object.entries(messageArbs))('%s messages (fuzz)', (_type, arb) => {
  it('round-trip through encode and decode, from canonical and non-canonical JSON', () => {
    fc.assert(
      fc.property(arb, (value) => {
        const message = value as ConsensusMessage;
        const bytes = encodeConsensusMessage(message);
        expect(decodeConsensusMessage(bytes)).toEqual(message);
        expect(decodeConsensusMessage(nonCanonicalJson(message))).toEqual(message);
        // What is signed and hashed (canonical bytes) survives the trip, whatever the wire form.
        expect(canonicalBytes(decodeConsensusMessage(bytes)).equals(canonicalBytes(message))).toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  it('are decoded as changed or refused naming the changed field', () => {
    fc.assert(
      fc.property(arb, mutationArb, (value, mutation) => {
        expectDecodedOrNamed(decodeConsensusMessage, 'consensusMessage', mutate(value, mutation));
      }),
      { numRuns: 80 },
    );
  });
});

describe('the consensus core fed hostile bytes by an authenticated orderer (fuzz)', () => {
  it('never throws on arbitrary bytes, and counts them as malformed', () => {
    const core = makeCore();
    let sent = 0;
    fc.assert(
      fc.property(junkBytesArb, fc.constantFrom(...ORDERERS.slice(1)), (bytes, from) => {
        expectOnlyProtocolErrors(decodeConsensusMessage, 'consensusMessage', bytes);
        core.step({ type: 'message', from, bytes: Buffer.from(bytes) });
        sent += 1;
      }),
      { numRuns: 150 },
    );
    expect(core.metrics().rejected.malformed).toBe(sent);
  });

  it('never throws on signed or changed messages of every type, valid-looking or not', () => {
    const core = makeCore();
    fc.assert(
      fc.property(anyMessageArb, fc.option(mutationArb), fc.boolean(), (message, mutation, sign) => {
        const sent = sign ? signedAsSender(message) : message;
        const doc = mutation === null ? sent : mutate(sent, mutation).doc;
        const from = ORDERERS.includes(message.from) ? message.from : ORDERERS[1]!;
        const before = core.metrics();
        core.step({ type: 'message', from, bytes: Buffer.from(jsonText(doc)) });
        core.step({ type: 'tick', nowMs: genesis.header.timestampMs + 10 });
        // The core's view of the chain only moves forward, whatever it was told.
        expect(core.height).toBeGreaterThanOrEqual(before.height);
        expect(core.currentView).toBeGreaterThanOrEqual(before.view);
      }),
      { numRuns: 200 },
    );
    expect(Object.values(core.metrics().rejected).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('refuses a message with a string that has no canonical encoding (a lone surrogate) as malformed', () => {
    // Regression: such a string decoded, then signingBytes() threw while checking the signature,
    // so one faulty orderer could stop every other orderer's consensus with one message.
    fc.assert(
      fc.property(
        messageArbs.forward,
        fc.constantFrom('\ud800', 'x\udfff', '\udc00\ud800'),
        (message, lone) => {
          const core = makeCore();
          const hostile = structuredClone(
            signedAsSender({ ...(message as unknown as ConsensusMessage), from: ORDERERS[1]! }),
          ) as any;
          const payload = hostile.envelopes[0].payload;
          if (payload.type === 'invoke') payload.proposal.args.push(lone);
          else payload.config.orderers[0].host = lone;
          core.step({ type: 'message', from: ORDERERS[1]!, bytes: Buffer.from(JSON.stringify(hostile)) });
          expect(core.metrics().rejected.malformed).toBe(1);
        },
      ),
      { numRuns: 20 },
    );
  });
});
