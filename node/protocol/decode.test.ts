import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  makeTestNetwork,
  sampleTrade,
  tradeEnvelope,
  type TestNetwork,
} from '../../test/support/chain-fixture.js';
import { checkBlockIntegrity, envelopeHash, expectedTxId } from './block.js';
import { decodeBlock, decodeEnvelope, decodeNetworkConfig } from './decode.js';
import { canonicalBytes } from './encoding.js';
import { ProtocolError } from './errors.js';
import { merkleRoot } from './hash.js';
import { ENVELOPE_BYTES_MAX, POLICY_DEPTH_MAX } from './limits.js';
import type { Envelope, PolicyExpr } from './schemas.js';

let net: TestNetwork;
let envelope: Envelope;

beforeAll(async () => {
  net = await makeTestNetwork({ orderers: 4 });
  envelope = tradeEnvelope(net, sampleTrade(1));
});

function decodeError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
  throw new Error('expected a ProtocolError');
}

/** Re-encodes `envelope` with the field at `path` set to `value`. */
function mutated(path: readonly string[], value: unknown): Buffer {
  const copy = structuredClone(envelope) as unknown as Record<string, unknown>;
  let at = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
  at[path.at(-1) as string] = value;
  return canonicalBytes(copy);
}

describe('decoding inbound structures', () => {
  it('decodes a valid envelope to exactly what was encoded', () => {
    expect(decodeEnvelope(canonicalBytes(envelope))).toEqual(envelope);
    expect(expectedTxId(envelope.payload)).toBe(envelope.payload.txId);
  });

  it('refuses an unknown protocol version and names the field', () => {
    const err = decodeError(() => decodeEnvelope(mutated(['payload', 'proposal', 'version'], 2)));
    expect(err.code).toBe('PROTOCOL_VERSION');
    expect(err.field).toBe('envelope.payload.proposal.version');
    expect(err.message).toBe(
      'envelope.payload.proposal.version: unsupported protocol version 2 (this node speaks 1)',
    );
  });

  it('refuses a hash of the wrong length', () => {
    const err = decodeError(() => decodeEnvelope(mutated(['payload', 'txId'], 'ab'.repeat(31))));
    expect(err).toMatchObject({ code: 'PROTOCOL_SCHEMA', field: 'envelope.payload.txId' });
    expect(err.message).toContain('64 lowercase hex characters');
  });

  it('refuses a signature that is not 64 bytes of hex', () => {
    const err = decodeError(() => decodeEnvelope(mutated(['signature'], 'ab'.repeat(70))));
    expect(err.field).toBe('envelope.signature');
  });

  it('refuses unknown fields instead of carrying unsigned extras', () => {
    const err = decodeError(() => decodeEnvelope(mutated(['payload', 'proposal', 'admin'], true)));
    expect(err.field).toBe('envelope.payload.proposal');
    expect(err.message).toContain('admin');
  });

  it('refuses too many arguments, and an envelope over the byte limit before parsing', () => {
    const tooMany = decodeError(() =>
      decodeEnvelope(mutated(['payload', 'proposal', 'args'], Array(65).fill('x'))),
    );
    expect(tooMany.field).toBe('envelope.payload.proposal.args');
    const huge = Buffer.alloc(ENVELOPE_BYTES_MAX + 1, 0x20);
    expect(decodeError(() => decodeEnvelope(huge)).code).toBe('PROTOCOL_OVERSIZED');
  });

  it('refuses a policy nested deeper than the limit and a k larger than its terms', () => {
    let deep: PolicyExpr = { org: net.config.orgs[0]!.name };
    for (let i = 0; i < POLICY_DEPTH_MAX; i++) deep = { and: [deep] };
    const tooDeep = { ...net.config, policies: { ...net.config.policies, endorsement: deep } };
    expect(decodeError(() => decodeNetworkConfig(canonicalBytes(tooDeep))).message).toContain(
      'policy nests deeper',
    );
    const badK = {
      ...net.config,
      policies: { ...net.config.policies, admin: { outOf: { k: 3, of: [{ org: 'org1' }] } } },
    };
    expect(decodeError(() => decodeNetworkConfig(canonicalBytes(badK))).message).toContain(
      'k must not exceed',
    );
  });

  it('refuses JSON nested beyond the depth limit without overflowing the stack', () => {
    const bomb = Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    expect(decodeError(() => decodeBlock(bomb)).message).toMatch(/block (nests deeper|is not valid JSON)/);
  });

  it('throws only ProtocolErrors for any corruption of a valid envelope (fuzz)', () => {
    const bytes = canonicalBytes(envelope);
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 }), (at, value) => {
        const copy = Buffer.from(bytes);
        copy[at] = value;
        try {
          const decoded = decodeEnvelope(copy);
          // A byte change that still decodes must change the content: the hash sees it.
          if (!copy.equals(bytes)) expect(envelopeHash(decoded)).not.toBe(envelopeHash(envelope));
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('block integrity', () => {
  it('accepts the genesis block and catches a miscounted, re-rooted or mislabelled block', () => {
    checkBlockIntegrity(net.genesis);
    const block = net.genesis;
    const miscounted = { ...block, header: { ...block.header, txCount: 2 } };
    expect(
      decodeError(() => {
        checkBlockIntegrity(miscounted);
      }).field,
    ).toBe('block.header.txCount');
    const swapped = { ...block, transactions: [envelope] };
    expect(
      decodeError(() => {
        checkBlockIntegrity(swapped);
      }).field,
    ).toBe('block.header.dataHash');
    const relabelled = structuredClone(envelope);
    relabelled.payload.txId = block.transactions[0]!.payload.txId;
    const withWrongId = { ...block, transactions: [relabelled] };
    withWrongId.header = { ...block.header, dataHash: merkleRoot([envelopeHash(relabelled)]) };
    expect(
      decodeError(() => {
        checkBlockIntegrity(withWrongId);
      }).field,
    ).toBe('block.transactions.0.payload.txId');
  });
});
