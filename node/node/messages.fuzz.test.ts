import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  blockArb,
  commitCertificateArb,
  endorsementArb,
  envelopeArb,
  expectDecodedOrNamed,
  expectOnlyProtocolErrors,
  hashArb,
  hexArb,
  jsonText,
  junkBytesArb,
  mutate,
  mutationArb,
  nameArb,
  nonCanonicalJson,
  proposalResponseArb,
  safeNatArb,
  signatureArb,
  signedProposalArb,
  textArb,
} from '../../test/fuzz/arbitraries.js';
import { makeTestNetwork, type TestNetwork } from '../../test/support/chain-fixture.js';
import { MembershipVerifier } from '../config/index.js';
import { CertificateKeyCache } from '../crypto/index.js';
import { envelopeProblem } from '../orderer/admission.js';
import { canonicalBytes, PROTOCOL_VERSION } from '../protocol/index.js';
import {
  decodeNodeMessage,
  DELIVER_BLOCKS_MAX,
  encodeBlock,
  encodeDeliver,
  encodeEndorse,
  encodeEndorsed,
  encodeStatus,
  encodeSubmit,
  ERROR_MESSAGE_CHARS_MAX,
  statusProblem,
  type NodeMessage,
} from './messages.js';

// The node channel (status, deliver, block, endorse, endorsed, submit) fuzzed as the protocol
// decoders are (node/protocol/decode.fuzz.test.ts): each message type round-trips through its
// encoder, single changes are decoded or refused naming the field, and arbitrary bytes give a
// message or a ProtocolError. ChainNode.onMessage drops what decodeNodeMessage refuses.

const requestIdArb = fc.integer({ min: 1, max: 64 }).chain((n) => hexArb(n));
const statusBodyArb = fc.record({
  from: nameArb,
  genesisHash: hashArb,
  height: safeNatArb,
  headHash: hashArb,
  sentAtMs: safeNatArb,
});
const outcomeArb = fc.oneof(
  fc.record({ response: proposalResponseArb, endorsement: endorsementArb }),
  fc.record({
    error: fc.record({
      code: fc.string({ maxLength: 64 }),
      message: fc.oneof(textArb(40), fc.constant('m'.repeat(ERROR_MESSAGE_CHARS_MAX))),
    }),
  }),
);

const messageArbs = {
  status: fc.record({
    type: fc.constant('status' as const),
    status: statusBodyArb.map((s) => ({ version: PROTOCOL_VERSION, type: 'status' as const, ...s })),
    signature: signatureArb,
  }),
  deliver: fc.record({
    type: fc.constant('deliver' as const),
    fromHeight: safeNatArb,
    count: fc.integer({ min: 1, max: DELIVER_BLOCKS_MAX }),
  }),
  block: fc.record({
    type: fc.constant('block' as const),
    block: blockArb,
    certificate: fc.option(commitCertificateArb),
  }),
  endorse: fc.record({
    type: fc.constant('endorse' as const),
    requestId: requestIdArb,
    proposal: signedProposalArb,
    minHeight: safeNatArb,
  }),
  endorsed: fc.record({
    type: fc.constant('endorsed' as const),
    requestId: requestIdArb,
    outcome: outcomeArb,
  }),
  submit: fc.record({ type: fc.constant('submit' as const), envelope: envelopeArb }),
} as const satisfies Record<NodeMessage['type'], fc.Arbitrary<unknown>>;

let net: TestNetwork;
beforeAll(async () => {
  net = await makeTestNetwork({ orderers: 4 });
});

/** What the node sends for `message`, through the module's own encoder. */
function encoded(message: NodeMessage): Buffer {
  switch (message.type) {
    case 'status':
      return canonicalBytes(message);
    case 'deliver':
      return encodeDeliver(message.fromHeight, message.count);
    case 'block':
      return encodeBlock(message.block, message.certificate);
    case 'endorse':
      return encodeEndorse(message.requestId, message.proposal, message.minHeight);
    case 'endorsed':
      return encodeEndorsed(message.requestId, message.outcome);
    case 'submit':
      return encodeSubmit(message.envelope);
    default: {
      const unreachable: never = message;
      return unreachable;
    }
  }
}

describe.each(Object.entries(messageArbs))('%s node messages (fuzz)', (_type, arb) => {
  it('round-trip through their encoder and decodeNodeMessage, canonical or not', () => {
    fc.assert(
      fc.property(arb, (value) => {
        const message = value as NodeMessage;
        const bytes = encoded(message);
        // What is signed and hashed (canonical bytes) survives the trip, whatever the wire form.
        expect(canonicalBytes(decodeNodeMessage(bytes)).equals(canonicalBytes(message))).toBe(true);
        expect(decodeNodeMessage(bytes)).toEqual(message);
        expect(decodeNodeMessage(nonCanonicalJson(message))).toEqual(message);
      }),
      { numRuns: 25 },
    );
  });

  it('are decoded as changed or refused naming the changed field', () => {
    fc.assert(
      fc.property(arb, mutationArb, (value, mutation) => {
        expectDecodedOrNamed(decodeNodeMessage, 'nodeMessage', mutate(value, mutation));
      }),
      { numRuns: 80 },
    );
  });
});

describe('node messages from an authenticated member (fuzz)', () => {
  it('turn arbitrary bytes into a message or a ProtocolError, never another exception', () => {
    fc.assert(
      fc.property(junkBytesArb, (bytes) => {
        expectOnlyProtocolErrors(decodeNodeMessage, 'nodeMessage', bytes);
      }),
      { numRuns: 200 },
    );
  });

  it('a signed status verifies for its sender only, and any change to it is caught', () => {
    const orderer = net.orderers[1]!;
    const keys = new CertificateKeyCache();
    fc.assert(
      fc.property(statusBodyArb, mutationArb, (body, mutation) => {
        const status = { ...body, from: orderer.name };
        const message = decodeNodeMessage(
          encodeStatus(orderer.key, status as Parameters<typeof encodeStatus>[1]),
        );
        if (message.type !== 'status') throw new Error('not a status');
        expect(statusProblem(message, orderer.name, orderer.identity.cert, keys)).toBeNull();
        const other = net.orderers[2]!;
        expect(statusProblem(message, other.name, other.identity.cert, keys)).not.toBeNull();
        // Changed anywhere inside the signed status: refused, or decoded with a problem.
        const changed = mutate(message.status, mutation);
        let forged: NodeMessage;
        try {
          forged = decodeNodeMessage(Buffer.from(JSON.stringify({ ...message, status: changed.doc })));
        } catch {
          return;
        }
        if (forged.type !== 'status') throw new Error('not a status');
        if (!canonicalBytes(forged.status).equals(canonicalBytes(message.status)))
          expect(statusProblem(forged, orderer.name, orderer.identity.cert, keys)).not.toBeNull();
      }),
      { numRuns: 60 },
    );
  });

  it('a submit with a lone surrogate in the envelope is refused (admission would throw hashing it)', () => {
    fc.assert(
      fc.property(messageArbs.submit, fc.constantFrom('\ud800', 'x\udfff'), (message, lone) => {
        const hostile = structuredClone(message) as any;
        const payload = hostile.envelope.payload;
        if (payload.type === 'invoke') payload.proposal.args.push(lone);
        else payload.config.orderers[0].host = lone;
        expect(() => decodeNodeMessage(Buffer.from(JSON.stringify(hostile)))).toThrow(
          'nodeMessage contains a string that is not well-formed Unicode (a lone surrogate)',
        );
      }),
      { numRuns: 20 },
    );
  });

  it("a submitted envelope is judged by the orderers' admission without throwing, whatever it holds", () => {
    // Admission runs inside the consensus core: a throw there would stop the orderer's consensus.
    const members = new MembershipVerifier(net.config);
    const keys = new CertificateKeyCache();
    const realCerts = [net.client.identity, net.admin.identity, ...net.peers.map((p) => p.identity)];
    fc.assert(
      fc.property(messageArbs.submit, fc.option(mutationArb), fc.nat(), (message, mutation, pick) => {
        // Half the time the creator is a real member, so admission gets past the certificate check.
        const withCreator = structuredClone(message) as any;
        const creator = realCerts[pick % realCerts.length]!;
        if (pick % 2 === 0) {
          if (withCreator.envelope.payload.type === 'invoke')
            withCreator.envelope.payload.proposal.creator = creator;
          else withCreator.envelope.payload.creator = creator;
        }
        const doc = mutation === null ? withCreator : mutate(withCreator, mutation).doc;
        let decoded: NodeMessage;
        try {
          decoded = decodeNodeMessage(Buffer.from(jsonText(doc)));
        } catch {
          return;
        }
        if (decoded.type !== 'submit') return;
        const problem = envelopeProblem(decoded.envelope, net.config, members, keys, new Date());
        // No generated envelope carries a creator signature that verifies.
        expect(typeof problem).toBe('string');
      }),
      { numRuns: 100 },
    );
  });
});
