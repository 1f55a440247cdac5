import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  blockArb,
  blockHeaderArb,
  commitCertificateArb,
  envelopeArb,
  expectDecodedOrNamed,
  expectOnlyProtocolErrors,
  jsonPaths,
  jsonText,
  junkBytesArb,
  type JsonPath,
  mutate,
  mutationArb,
  networkConfigArb,
  nonCanonicalJson,
  policyArb,
  proposalResponseArb,
  signedProposalArb,
} from '../../test/fuzz/arbitraries.js';
import {
  decodeBlock,
  decodeBlockHeader,
  decodeCommitCertificate,
  decodeEnvelope,
  decodeNetworkConfig,
  decodeProposalResponse,
  decodeSignedProposal,
} from './decode.js';
import { canonicalBytes } from './encoding.js';
import { ProtocolError } from './errors.js';
import { POLICY_DEPTH_MAX } from './limits.js';
import type { PolicyExpr } from './schemas.js';

// Every decoder of an inbound protocol structure (decode.ts), fuzzed three ways: valid values
// round-trip, one local change to a valid value is decoded or refused naming the changed field,
// and arbitrary bytes give a value or a ProtocolError, never another exception. decode.test.ts
// has the byte-flip fuzzer of a real signed envelope; these cover every structure and its schema.

interface Case {
  readonly what: string;
  readonly decode: (bytes: Uint8Array) => unknown;
  readonly valid: fc.Arbitrary<unknown>;
}

const cases: readonly Case[] = [
  { what: 'envelope', decode: decodeEnvelope, valid: envelopeArb },
  { what: 'signedProposal', decode: decodeSignedProposal, valid: signedProposalArb },
  { what: 'proposalResponse', decode: decodeProposalResponse, valid: proposalResponseArb },
  { what: 'blockHeader', decode: decodeBlockHeader, valid: blockHeaderArb },
  { what: 'block', decode: decodeBlock, valid: blockArb },
  { what: 'commitCertificate', decode: decodeCommitCertificate, valid: commitCertificateArb },
  { what: 'networkConfig', decode: decodeNetworkConfig, valid: networkConfigArb(3) },
];

describe.each(cases)('$what decoder (fuzz)', ({ what, decode, valid }) => {
  it('decodes every valid value, canonical or not, to exactly that value', () => {
    fc.assert(
      fc.property(valid, (value) => {
        const bytes = canonicalBytes(value);
        const decoded = decode(bytes);
        expect(decoded).toEqual(value);
        expect(canonicalBytes(decoded).equals(bytes)).toBe(true);
        expect(decode(nonCanonicalJson(value))).toEqual(value);
      }),
      { numRuns: 40 },
    );
  });

  it('decodes a changed value to exactly that value, or refuses it naming the changed field', () => {
    const outcomes = { decoded: 0, refused: 0 };
    fc.assert(
      fc.property(valid, mutationArb, (value, mutation) => {
        outcomes[expectDecodedOrNamed(decode, what, mutate(value, mutation))] += 1;
      }),
      { numRuns: 150 },
    );
    // Most single changes break a schema this strict; the fuzzer must exercise both outcomes.
    expect(outcomes.refused).toBeGreaterThan(outcomes.decoded);
  });

  it('refuses a lone surrogate in any string, which no canonical encoding (hash, signature) can carry', () => {
    fc.assert(
      fc.property(
        valid,
        fc.nat(),
        fc.constantFrom('\ud800', 'x\udfff', '\udc00\ud800'),
        (value, pick, lone) => {
          const all = jsonPaths(value);
          const stringAt = (path: JsonPath): unknown => path.reduce((at: any, k) => at[k], value);
          const strings = all.flatMap((path, i) => (typeof stringAt(path) === 'string' ? [i] : []));
          const at = strings[pick % strings.length]!;
          const { doc } = mutate(value, {
            kind: 'replace',
            at,
            value: `${stringAt(all[at]!) as string}${lone}`,
          });
          expect(() => decode(Buffer.from(jsonText(doc)))).toThrow(
            expect.objectContaining({
              code: 'PROTOCOL_MALFORMED',
              message: `${what} contains a string that is not well-formed Unicode (a lone surrogate)`,
            }),
          );
        },
      ),
      { numRuns: 30 },
    );
  });

  it('turns arbitrary bytes into a value or a ProtocolError, never another exception', () => {
    fc.assert(
      fc.property(junkBytesArb, (bytes) => {
        expectOnlyProtocolErrors(decode, what, bytes);
      }),
      { numRuns: 150 },
    );
  });
});

describe('policies (fuzz)', () => {
  const inConfig = (config: unknown, policy: PolicyExpr): Buffer =>
    canonicalBytes({
      ...(config as object),
      policies: { submit: policy, deploy: policy, admin: policy, endorsement: policy },
    });

  it('accepts every policy up to POLICY_DEPTH_MAX levels and refuses one level more, naming the policy', () => {
    fc.assert(
      fc.property(networkConfigArb(1), policyArb(POLICY_DEPTH_MAX), (config, policy) => {
        expect(decodeNetworkConfig(inConfig(config, policy)).policies.admin).toEqual(policy);
        let deeper: PolicyExpr = policy;
        for (let depth = depthOf(policy); depth <= POLICY_DEPTH_MAX; depth++) deeper = { or: [deeper] };
        const err = catchProtocolError(() => decodeNetworkConfig(inConfig(config, deeper)));
        expect(err.field).toBe('networkConfig.policies.submit');
        expect(err.message).toContain(`policy nests deeper than ${POLICY_DEPTH_MAX} levels`);
      }),
      { numRuns: 25 },
    );
  });

  it('refuses k-out-of-n with k above n or below 1', () => {
    fc.assert(
      fc.property(
        networkConfigArb(1),
        fc.array(policyArb(2), { minLength: 1, maxLength: 4 }),
        fc.oneof(fc.integer({ min: -3, max: 0 }), fc.integer({ min: 1, max: 4 })),
        (config, of, extra) => {
          const k = extra <= 0 ? extra : of.length + extra;
          const err = catchProtocolError(() => decodeNetworkConfig(inConfig(config, { outOf: { k, of } })));
          expect(err.field?.startsWith('networkConfig.policies.submit')).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });
});

function depthOf(policy: PolicyExpr): number {
  if ('org' in policy) return 1;
  const terms = 'and' in policy ? policy.and : 'or' in policy ? policy.or : policy.outOf.of;
  return 1 + Math.max(...terms.map(depthOf));
}

function catchProtocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
  throw new Error('expected a ProtocolError');
}
