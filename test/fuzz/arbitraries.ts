// fast-check arbitraries for the wire structures (each value valid under its schema), and JSON
// tree mutations of valid values, for the decoder fuzzers next to each module and in test/fuzz.
import fc from 'fast-check';
import { expect } from '@jest/globals';
import {
  canonicalBytes,
  ProtocolError,
  PROTOCOL_VERSION,
  type Block,
  type BlockHeader,
  type CommitCertificate,
  type ConfigPayload,
  type Endorsement,
  type Envelope,
  type Identity,
  type InvokePayload,
  type NetworkConfig,
  type PolicyExpr,
  type ProposalResponse,
  type SignedProposal,
} from '../../node/protocol/index.js';

const HEX = '0123456789abcdef'.split('');
export const hexArb = (length: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...HEX), minLength: length, maxLength: length });
export const hashArb = hexArb(64);
export const signatureArb = hexArb(128);
export const nameArb = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$/);
export const fnArb = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/);
/**
 * Any well-formed text, astral code points included. (A lone surrogate has no canonical encoding,
 * so decoders refuse it: see hostileValueArb.)
 */
export const textArb = (maxLength = 12): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', maxLength }).map((s) => s.replace(/\p{Surrogate}/gu, '\ufffd'));
export const safeNatArb = fc.oneof(fc.nat({ max: 1_000 }), fc.maxSafeNat());
/** Matches the certificate schema (one PEM block); the decoders do not parse X.509, later checks do. */
export const certPemArb = fc
  .base64String({ minLength: 4, maxLength: 160 })
  .map(
    (body) =>
      `-----BEGIN CERTIFICATE-----\n${(body.match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`,
  );
export const identityArb: fc.Arbitrary<Identity> = fc.record({ org: nameArb, cert: certPemArb }) as never;

export const policyArb = (depth: number): fc.Arbitrary<PolicyExpr> => {
  const org = nameArb.map((name) => ({ org: name }) as PolicyExpr);
  if (depth <= 1) return org;
  const terms = fc.array(policyArb(depth - 1), { minLength: 1, maxLength: 3 });
  return fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    org,
    terms.map((and) => ({ and })),
    terms.map((or) => ({ or })),
    terms.chain((of) => fc.integer({ min: 1, max: of.length }).map((k) => ({ outOf: { k, of } }))),
  );
};

const stateVersionArb = fc.record({ height: safeNatArb, txIndex: fc.nat({ max: 9_999 }) });
export const proposalResponseArb: fc.Arbitrary<ProposalResponse> = fc.record({
  version: fc.constant(PROTOCOL_VERSION),
  proposalHash: hashArb,
  rwset: fc.record({
    reads: fc.array(
      fc.record({
        ns: nameArb,
        key: textArb().filter((k) => k.length > 0),
        version: fc.option(stateVersionArb),
      }),
      { maxLength: 3 },
    ),
    writes: fc.array(
      fc.record({
        ns: nameArb,
        key: textArb().filter((k) => k.length > 0),
        value: fc.option(fc.base64String()),
      }),
      { maxLength: 3 },
    ),
  }),
  result: textArb(),
  events: fc.array(fc.record({ name: textArb().filter((n) => n.length > 0), payload: textArb() }), {
    maxLength: 2,
  }),
}) as never;

export const signedProposalArb: fc.Arbitrary<SignedProposal> = fc.record({
  proposal: fc.record({
    version: fc.constant(PROTOCOL_VERSION),
    contract: nameArb,
    fn: fnArb,
    args: fc.array(textArb(), { maxLength: 4 }),
    nonce: hexArb(48),
    creator: identityArb,
    timestampMs: safeNatArb,
  }),
  signature: signatureArb,
}) as never;

export const endorsementArb: fc.Arbitrary<Endorsement> = fc.record({
  endorser: identityArb,
  signature: signatureArb,
}) as never;

const nodeEntryArb = fc.record({
  name: nameArb,
  org: nameArb,
  host: fc.string({ minLength: 1, maxLength: 20 }),
  port: fc.integer({ min: 1, max: 65_535 }),
  apiPort: fc.integer({ min: 1, max: 65_535 }),
  cert: certPemArb,
});

export const networkConfigArb = (policyDepth = 3): fc.Arbitrary<NetworkConfig> =>
  fc.record({
    version: fc.constant(PROTOCOL_VERSION),
    networkId: nameArb,
    sequence: safeNatArb,
    orgs: fc.array(
      fc.record({ name: nameArb, caCerts: fc.array(certPemArb, { minLength: 1, maxLength: 2 }) }),
      {
        minLength: 1,
        maxLength: 3,
      },
    ),
    orderers: fc.array(nodeEntryArb, { minLength: 1, maxLength: 3 }),
    peers: fc.array(nodeEntryArb, { maxLength: 3 }),
    policies: fc.record({
      submit: policyArb(policyDepth),
      deploy: policyArb(policyDepth),
      admin: policyArb(policyDepth),
      endorsement: policyArb(policyDepth),
    }),
    consensus: fc.record({
      batchTxMax: fc.integer({ min: 1, max: 10_000 }),
      batchBytesMax: fc.integer({ min: 1024, max: 16 * 1024 * 1024 }),
      batchTimeoutMs: fc.integer({ min: 1, max: 60_000 }),
      viewTimeoutMs: fc.integer({ min: 50, max: 600_000 }),
      checkpointInterval: fc.integer({ min: 1, max: 100_000 }),
      window: fc.integer({ min: 1, max: 1_000 }),
    }),
  }) as never;

const invokePayloadArb: fc.Arbitrary<InvokePayload> = fc
  .record({
    txId: hashArb,
    signed: signedProposalArb,
    response: proposalResponseArb,
    endorsements: fc.array(endorsementArb, { minLength: 1, maxLength: 2 }),
  })
  .map(
    ({ txId, signed, response, endorsements }) =>
      ({
        version: PROTOCOL_VERSION,
        type: 'invoke',
        txId,
        proposal: signed.proposal,
        response,
        endorsements,
      }) as InvokePayload,
  );

const configPayloadArb: fc.Arbitrary<ConfigPayload> = fc.record({
  version: fc.constant(PROTOCOL_VERSION),
  type: fc.constant('config' as const),
  txId: hashArb,
  creator: identityArb,
  config: networkConfigArb(2),
  approvals: fc.array(fc.record({ signer: identityArb, signature: signatureArb }), {
    minLength: 1,
    maxLength: 2,
  }),
}) as never;

export const envelopeArb: fc.Arbitrary<Envelope> = fc.record({
  payload: fc.oneof(invokePayloadArb, configPayloadArb),
  signature: signatureArb,
}) as never;

export const blockHeaderArb: fc.Arbitrary<BlockHeader> = fc.record({
  version: fc.constant(PROTOCOL_VERSION),
  height: safeNatArb,
  prevHash: hashArb,
  dataHash: hashArb,
  txCount: fc.nat({ max: 10_000 }),
  timestampMs: safeNatArb,
  proposer: nameArb,
}) as never;

export const blockArb: fc.Arbitrary<Block> = fc.record({
  header: blockHeaderArb,
  transactions: fc.array(envelopeArb, { maxLength: 2 }),
});

export const commitCertificateArb: fc.Arbitrary<CommitCertificate> = fc.record({
  version: fc.constant(PROTOCOL_VERSION),
  height: safeNatArb,
  blockHash: hashArb,
  view: safeNatArb,
  signatures: fc.array(fc.record({ signer: nameArb, signature: signatureArb }), {
    minLength: 1,
    maxLength: 3,
  }),
}) as never;

// ---------------------------------------------------------------------------------------------
// Mutations: one local change to a valid JSON document, at a known path.

export type JsonPath = readonly (string | number)[];

/** Every node of a JSON tree, by path; the root is []. */
export function jsonPaths(value: unknown, prefix: JsonPath = []): JsonPath[] {
  const out: JsonPath[] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...jsonPaths(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) out.push(...jsonPaths(v, [...prefix, k]));
  return out;
}

function nested(depth: number): unknown {
  let value: unknown = 'x';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** Values at the edges of what the schemas accept: wrong types, lengths, ranges, encodings. */
export const hostileValueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom<unknown>(
    null,
    true,
    0,
    -1,
    1.5,
    2 ** 53,
    Number.MAX_SAFE_INTEGER,
    1e300,
    '',
    ' ',
    'A'.repeat(64),
    'ab'.repeat(31),
    'ab'.repeat(64),
    'Orderer0',
    '-x-',
    'x'.repeat(64),
    '\u0000',
    '\ud800',
    'a\udfffb',
    '__proto__',
    [],
    {},
    JSON.parse('{"__proto__":1,"constructor":1}') as unknown,
    nested(60),
  ),
  hexArb(64),
  hexArb(128),
  nameArb,
  textArb(40),
);

export type Mutation =
  | { readonly kind: 'replace'; readonly at: number; readonly value: unknown }
  | { readonly kind: 'delete'; readonly at: number }
  | { readonly kind: 'add-key'; readonly at: number; readonly key: string; readonly value: unknown }
  | { readonly kind: 'tweak'; readonly at: number; readonly delta: number }
  | { readonly kind: 'inflate'; readonly at: number; readonly times: number };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: hostileValueArb }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('add-key' as const),
    at: fc.nat(),
    key: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('type', 'version', 'signature', '__proto__')),
    value: hostileValueArb,
  }),
  fc.record({ kind: fc.constant('tweak' as const), at: fc.nat(), delta: fc.integer({ min: -3, max: 3 }) }),
  fc.record({ kind: fc.constant('inflate' as const), at: fc.nat(), times: fc.constantFrom(2, 70, 300) }),
);

export interface Mutated {
  readonly doc: unknown;
  /** Where the change is; decoders must name a field on this path (above or below it). */
  readonly path: JsonPath;
}

/** A deep copy that shares nothing (structuredClone keeps shared references, as YAML aliases make). */
function jsonClone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** Applies `m` to a copy of `doc`; the node changed is the (m.at mod n)-th of its n nodes. */
export function mutate(doc: unknown, m: Mutation): Mutated {
  const copy = jsonClone(doc);
  const all = jsonPaths(copy);
  const path = all[m.at % all.length] ?? [];
  const parent = path.length === 0 ? undefined : (getAt(copy, path.slice(0, -1)) as Record<string, unknown>);
  const key = path.at(-1);
  const current = getAt(copy, path);
  const set = (value: unknown): unknown => {
    if (parent === undefined || key === undefined) return value;
    Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
    return copy;
  };
  switch (m.kind) {
    case 'replace':
      return { doc: set(jsonClone(m.value)), path };
    case 'delete':
      if (parent === undefined || key === undefined) return { doc: undefined, path };
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else Reflect.deleteProperty(parent, key);
      return { doc: copy, path: path.slice(0, -1) };
    case 'add-key': {
      if (current === null || typeof current !== 'object' || Array.isArray(current))
        return { doc: set({ [m.key]: m.value }), path };
      Object.defineProperty(current, m.key, {
        value: jsonClone(m.value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      return { doc: copy, path };
    }
    case 'tweak': {
      if (typeof current === 'number') return { doc: set(current + m.delta), path };
      if (typeof current === 'string') {
        if (m.delta < 0) return { doc: set(current.slice(0, m.delta)), path };
        if (m.delta === 0) return { doc: set(current.toUpperCase()), path };
        return { doc: set(current + 'z0-'.slice(0, m.delta)), path };
      }
      if (typeof current === 'boolean') return { doc: set(!current), path };
      return { doc: set(m.delta), path };
    }
    case 'inflate': {
      if (Array.isArray(current) && current.length > 0)
        return {
          doc: set(Array.from({ length: current.length * m.times }, (_, i) => current[i % current.length])),
          path,
        };
      if (typeof current === 'string')
        return { doc: set(current.padEnd(m.times === 300 ? 600_000 : m.times * 20, current || 'a')), path };
      return { doc: set(Array.from({ length: m.times }, () => current)), path };
    }
    default: {
      const unreachable: never = m;
      return unreachable;
    }
  }
}

function getAt(doc: unknown, path: JsonPath): unknown {
  let at = doc;
  for (const k of path) at = (at as Record<string | number, unknown>)[k];
  return at;
}

/** True when the dotted `field` of structure `what` lies on `path`: equal, above it or below it. */
export function onPath(field: string, what: string, path: JsonPath): boolean {
  const target = [what, ...path.map(String)].join('.');
  return field === target || target.startsWith(`${field}.`) || field.startsWith(`${target}.`);
}

/**
 * Checks what a decoder did with a mutated document: decoded it to exactly that document (the
 * change kept it valid), or threw a ProtocolError whose message starts with the name of the
 * structure and whose field names the changed node, a node above it (an object with a missing
 * or unknown key, a union) or below it (inside a replacement value). A changed discriminator
 * (`type`) switches schemas, so any field of its parent is then fair.
 */
export function expectDecodedOrNamed(
  decode: (bytes: Uint8Array) => unknown,
  what: string,
  mutated: Mutated,
): 'decoded' | 'refused' {
  const bytes = Buffer.from(jsonText(mutated.doc), 'utf8');
  let decoded: unknown;
  try {
    decoded = decode(bytes);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    expect(e.message.startsWith(what)).toBe(true);
    if (e.field === undefined) {
      // Refused before the schema: size or syntax (depth), never a silent field problem.
      expect(['PROTOCOL_MALFORMED', 'PROTOCOL_OVERSIZED']).toContain(e.code);
    } else {
      expect(e.message.startsWith(`${e.field}: `)).toBe(true);
      const path = mutated.path.at(-1) === 'type' ? mutated.path.slice(0, -1) : mutated.path;
      if (!onPath(e.field, what, path))
        throw new Error(
          `${e.field} is not on the changed path ${[what, ...mutated.path].join('.')}: ${e.message}`,
        );
      expect(e.code).toBe(e.field.endsWith('.version') ? 'PROTOCOL_VERSION' : 'PROTOCOL_SCHEMA');
    }
    return 'refused';
  }
  expect(canonicalBytes(decoded).equals(canonicalBytes(mutated.doc))).toBe(true);
  return 'decoded';
}

/** JSON.stringify as it behaves: undefined for undefined (its declared type says string). */
const stringify: (value: unknown) => string | undefined = JSON.stringify;

/** JSON text of any value; `undefined` (a deleted root) becomes text no decoder accepts. */
export function jsonText(value: unknown): string {
  return stringify(value) ?? 'undefined';
}

/** Arbitrary bytes: random, random text, and text that is almost JSON. */
export const junkBytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc.string({ unit: 'binary', maxLength: 128 }).map((s) => Buffer.from(s, 'utf8')),
  fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v), 'utf8')),
  fc
    .tuple(fc.jsonValue({ maxDepth: 3 }), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 3 }))
    .map(([v, at, bytes]) => {
      const text = Buffer.from(JSON.stringify(v), 'utf8');
      const cut = at % (text.length + 1);
      return Buffer.concat([text.subarray(0, cut), bytes, text.subarray(cut)]);
    }),
);

/** Any bytes: the decoder returns a value or throws a ProtocolError that starts with `what`. */
export function expectOnlyProtocolErrors(
  decode: (bytes: Uint8Array) => unknown,
  what: string,
  bytes: Uint8Array,
): void {
  try {
    decode(bytes);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    expect(e.message.startsWith(what)).toBe(true);
  }
}

/** The same value in a non-canonical but equivalent JSON form: indented, keys in reverse order. */
export function nonCanonicalJson(value: unknown): Buffer {
  const reorder = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(reorder);
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(
        Object.entries(v)
          .reverse()
          .map(([k, x]) => [k, reorder(x)]),
      );
    return v;
  };
  return Buffer.from(JSON.stringify(reorder(value), null, 2), 'utf8');
}
