import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import YAML from 'yaml';
import { certPemArb, jsonPaths, mutate, mutationArb, onPath } from '../../test/fuzz/arbitraries.js';
import { generateNetwork } from '../network/index.js';
import { blockHash, canonicalBytes, ProtocolError, type Hash } from '../protocol/index.js';
import { ConfigError } from './errors.js';
import { parseNetworkFile, renderNetworkFile, type LoadedNetwork } from './network-file.js';

// network.yaml is read from disk and, in Kubernetes, from a ConfigMap: fuzzed here as text, as
// one change to a valid file, and as the same file written in other YAML styles. The loader's
// contract: a LoadedNetwork, or a ConfigError that starts with the file's path (and, for a schema
// problem, names the field); never another exception. network-file.test.ts has the cases.

const PATH = 'fuzz/network.yaml';
let text: string;
let doc: Record<string, any>;
let genesisHash: Hash;
const now = new Date();

beforeAll(async () => {
  const material = await generateNetwork({ orderers: 2, orgs: 2, peersPerOrg: 1 });
  text = renderNetworkFile(material.genesis);
  doc = YAML.parse(text) as Record<string, any>;
  genesisHash = blockHash(material.genesis.header);
});

function load(yaml: string): LoadedNetwork | ConfigError {
  try {
    return parseNetworkFile(yaml, PATH, now);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    expect(e.message.startsWith(PATH)).toBe(true);
    expect(['CONFIG_SYNTAX', 'CONFIG_SCHEMA', 'CONFIG_INVALID']).toContain(e.code);
    if (e.code === 'CONFIG_INVALID') expect(e.problems.length).toBeGreaterThan(0);
    return e;
  }
}

describe('network.yaml loading (fuzz)', () => {
  it('loads the same genesis from the file written in any YAML style', () => {
    const styleArb = fc.record({
      indent: fc.integer({ min: 1, max: 8 }),
      collectionStyle: fc.constantFrom<'any' | 'block' | 'flow'>('any', 'block', 'flow'),
      defaultStringType: fc.constantFrom<'PLAIN' | 'QUOTE_DOUBLE' | 'QUOTE_SINGLE' | 'BLOCK_LITERAL'>(
        'PLAIN',
        'QUOTE_DOUBLE',
        'QUOTE_SINGLE',
        'BLOCK_LITERAL',
      ),
      lineWidth: fc.constantFrom(0, 40, 80),
      reverseKeys: fc.boolean(),
      comment: fc.option(fc.string({ maxLength: 20 }).map((s) => s.replace(/[\r\n]/g, ' '))),
    });
    fc.assert(
      fc.property(styleArb, ({ reverseKeys, comment, ...options }) => {
        const document = new YAML.Document(reverseKeys ? reversed(doc) : doc);
        if (comment !== null) document.commentBefore = comment;
        const yaml = document.toString(options);
        // The yaml package's writer mangles some long strings in some styles (\undefined escapes):
        // only texts that do say the same document test the loader.
        fc.pre(writes(yaml, doc));
        const loaded = load(yaml);
        if (loaded instanceof ConfigError) throw loaded;
        expect(loaded.genesisHash).toBe(genesisHash);
      }),
      { numRuns: 10 },
    );
  });

  it('loads a changed file as exactly what it says, or refuses it with a ConfigError naming the problem', () => {
    const outcomes = { loaded: 0, syntax: 0, schema: 0, invalid: 0 };
    fc.assert(
      fc.property(mutationArb, (mutation) => {
        const changed = mutate(doc, mutation);
        const loaded = load(YAML.stringify(changed.doc ?? null));
        if (loaded instanceof ConfigError) {
          if (loaded.code === 'CONFIG_SCHEMA') {
            expect(loaded.cause).toBeInstanceOf(ProtocolError);
            const field = (loaded.cause as ProtocolError).field;
            if (field !== undefined && !onPath(field, 'network', changed.path))
              throw new Error(
                `${field} is not on the changed path ${['network', ...changed.path].join('.')}`,
              );
            outcomes.schema += 1;
          } else outcomes[loaded.code === 'CONFIG_SYNTAX' ? 'syntax' : 'invalid'] += 1;
          return;
        }
        outcomes.loaded += 1;
        const changedConfig = (changed.doc as Record<string, any>).config as unknown;
        expect(canonicalBytes(loaded.config).equals(canonicalBytes(changedConfig))).toBe(true);
      }),
      { numRuns: 60 },
    );
    // Signed content cannot change unnoticed, so few changes load.
    expect(outcomes.loaded).toBeLessThan(outcomes.schema + outcomes.invalid + outcomes.syntax);
  });

  it('refuses a certificate that is a PEM block of junk, as a problem of that node', () => {
    fc.assert(
      fc.property(certPemArb, fc.constantFrom('orderers', 'peers'), fc.nat({ max: 1 }), (pem, list, i) => {
        const changed = structuredClone(doc);
        changed.config[list][i].cert = pem;
        const loaded = load(YAML.stringify(changed));
        if (!(loaded instanceof ConfigError)) throw new Error('a junk certificate was accepted');
        expect(loaded.problems.some((p) => p.startsWith(`${list}[${i}].cert (`))).toBe(true);
      }),
      { numRuns: 10 },
    );
  });

  it('refuses a string with a lone surrogate anywhere, naming its field (it has no canonical encoding)', () => {
    // Regression: the loader threw a bare ProtocolError ("value cannot be canonicalised") from the
    // genesis hash, naming neither the file nor the field.
    const all = jsonPaths(doc);
    const strings = all.flatMap((p, i) =>
      typeof p.reduce((at: any, k) => at[k], doc) === 'string' ? [i] : [],
    );
    fc.assert(
      fc.property(fc.nat(), fc.constantFrom('\ud800', '\udfff', 'x\udc00y'), (pick, lone) => {
        const at = strings[pick % strings.length]!;
        const path = all[at]!;
        const changed = mutate(doc, { kind: 'replace', at, value: lone }).doc;
        const loaded = load(YAML.stringify(changed));
        if (!(loaded instanceof ConfigError)) throw new Error('a lone surrogate was accepted');
        expect(loaded.code).toBe('CONFIG_SCHEMA');
        expect(loaded.message).toContain(`${['network', ...path].join('.')}: is not well-formed Unicode`);
      }),
      { numRuns: 20 },
    );
  });

  it('refuses arbitrary text with a ConfigError, never another exception', () => {
    const textArb = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.jsonValue({ maxDepth: 4 }).map((v) => YAML.stringify(v)),
      fc.tuple(fc.nat(), fc.nat({ max: 40 }), fc.string({ maxLength: 6 })).map(([at, cut, insert]) => {
        const p = at % text.length;
        return text.slice(0, p) + insert + text.slice(p + cut);
      }),
    );
    fc.assert(
      fc.property(textArb, (yaml) => {
        load(yaml);
      }),
      { numRuns: 60 },
    );
  });
});

function writes(yaml: string, expected: unknown): boolean {
  try {
    return canonicalBytes(YAML.parse(yaml)).equals(canonicalBytes(expected));
  } catch {
    return false;
  }
}

function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reversed(v)]),
    );
  return value;
}
