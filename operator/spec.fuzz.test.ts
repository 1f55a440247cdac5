import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { mutate, mutationArb, type JsonPath } from '../test/fuzz/arbitraries.js';
import { nodeNameSchema, orgNameSchema } from '../node/protocol/index.js';
import { workloadObjects } from './builders.js';
import { planNetwork } from './plan.js';
import {
  NAME_CHARS_MAX,
  ORDERERS_MAX,
  ORG_NAME_CHARS_MAX,
  ORGS_MAX,
  parseLedgerNetwork,
  PEERS_PER_ORG_MAX,
} from './spec.js';

// The LedgerNetwork spec is whatever a user applied (the CRD schema is the first gate, and an
// older CRD may let anything through): parseLedgerNetwork must report, never throw, and whatever
// it accepts must plan into names Kubernetes and the network configuration accept.

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const dnsLabelArb = (max: number): fc.Arbitrary<string> =>
  fc.stringMatching(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/).filter((s) => s.length <= max);
const quantityArb = fc.oneof(fc.constantFrom('100m', '1Gi', '512Mi', '2'), fc.nat({ max: 64 }));
const resourcesArb = fc.record(
  {
    limits: fc.dictionary(fc.constantFrom('cpu', 'memory'), quantityArb),
    requests: fc.dictionary(fc.constantFrom('cpu', 'memory'), quantityArb),
  },
  { requiredKeys: [] },
);

const validSpecArb = fc.record(
  {
    image: fc.string({ minLength: 1, maxLength: 40 }),
    imagePullPolicy: fc.constantFrom('Always', 'IfNotPresent', 'Never'),
    networkId: dnsLabelArb(63),
    orderers: fc.record(
      { count: fc.oneof(fc.integer({ min: 1, max: 7 }), fc.constant(ORDERERS_MAX)), resources: resourcesArb },
      { requiredKeys: ['count'] },
    ),
    organisations: fc.uniqueArray(
      fc.record(
        {
          name: dnsLabelArb(ORG_NAME_CHARS_MAX),
          peers: fc.integer({ min: 0, max: 4 }),
          resources: resourcesArb,
        },
        { requiredKeys: ['name'] },
      ),
      { minLength: 1, maxLength: 4, selector: (o) => o.name },
    ),
    storage: fc.oneof(
      fc.record(
        {
          mode: fc.constant('sidecar'),
          size: quantityArb,
          storageClassName: fc.string({ minLength: 1, maxLength: 10 }),
        },
        { requiredKeys: [] },
      ),
      fc.record({
        mode: fc.constant('external'),
        externalSecretRef: fc.record(
          {
            name: fc.string({ minLength: 1, maxLength: 10 }),
            key: fc.string({ minLength: 1, maxLength: 10 }),
          },
          { requiredKeys: ['name'] },
        ),
      }),
    ),
    consensus: fc.record(
      {
        batchTxMax: fc.integer({ min: 1, max: 10_000 }),
        batchBytesMax: fc.integer({ min: 1024, max: 16 * 1024 * 1024 }),
        batchTimeoutMs: fc.integer({ min: 1, max: 60_000 }),
        viewTimeoutMs: fc.integer({ min: 50, max: 600_000 }),
        checkpointInterval: fc.integer({ min: 1, max: 100_000 }),
        window: fc.integer({ min: 1, max: 1_000 }),
      },
      { requiredKeys: [] },
    ),
    certificates: fc
      .tuple(fc.integer({ min: 1, max: 10_950 }), fc.integer({ min: 1, max: 10_950 }))
      .map(([a, b]) => ({ caValidityDays: Math.max(a, b), nodeValidityDays: Math.min(a, b) })),
  },
  { requiredKeys: ['orderers', 'organisations'] },
);

const metadata = (name: string) => ({ name, namespace: 'ns', uid: 'u-1', generation: 1 });

/** The spec path of a problem line ("spec.organisations[1].name: ..."), as a JsonPath-like string. */
function problemPath(problem: string): string {
  return (problem.split(': ')[0] ?? '').replace(/\[(\d+)\]/g, '.$1');
}

function onSpecPath(problem: string, path: JsonPath): boolean {
  const field = problemPath(problem);
  const target = ['spec', ...path.map(String)].join('.');
  return field === target || target.startsWith(`${field}.`) || field.startsWith(`${target}.`);
}

describe('LedgerNetwork spec validation (fuzz)', () => {
  it('accepts every valid spec, idempotently, and plans it into names Kubernetes and the network accept', () => {
    fc.assert(
      fc.property(validSpecArb, dnsLabelArb(NAME_CHARS_MAX), (spec, name) => {
        const parsed = parseLedgerNetwork({ metadata: metadata(name), spec });
        expect(parsed.specProblems).toEqual([]);
        const accepted = parsed.spec!;
        expect(parseLedgerNetwork({ metadata: metadata(name), spec: accepted }).spec).toEqual(accepted);

        const plan = planNetwork(name, 'ns', accepted);
        expect(plan.orderers).toHaveLength(spec.orderers.count);
        expect(plan.peers).toHaveLength(accepted.organisations.reduce((n, o) => n + o.peers, 0));
        const nodes = [...plan.orderers, ...plan.peers];
        expect(new Set(nodes.map((n) => n.name)).size).toBe(nodes.length);
        for (const node of nodes) {
          expect(nodeNameSchema.safeParse(node.name).success).toBe(true);
          expect(orgNameSchema.safeParse(node.org).success).toBe(true);
        }
        // A StatefulSet's name plus the controller's revision suffix must stay a 63-character label.
        for (const group of plan.groups) expect(group.statefulSet.length).toBeLessThanOrEqual(52);
        const owner = { name, namespace: 'ns', uid: 'u-1' };
        for (const obj of workloadObjects(owner, accepted, plan)) {
          expect(obj.metadata?.name).toMatch(DNS_LABEL);
          expect(obj.metadata?.name?.length).toBeLessThanOrEqual(63);
          for (const value of Object.values(obj.metadata?.labels ?? {}))
            expect(value.length).toBeLessThanOrEqual(63);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('reports any change to a valid spec as accepted or as problems naming the changed field, never a throw', () => {
    let refused = 0;
    fc.assert(
      fc.property(validSpecArb, mutationArb, (spec, mutation) => {
        const changed = mutate(spec, mutation);
        const parsed = parseLedgerNetwork({ metadata: metadata('net'), spec: changed.doc });
        expect(parsed.spec === undefined).toBe(parsed.specProblems.length > 0);
        if (parsed.spec === undefined) {
          refused += 1;
          for (const problem of parsed.specProblems) {
            if (!onSpecPath(problem, changed.path))
              throw new Error(`"${problem}" is not about the changed path spec.${changed.path.join('.')}`);
          }
        }
      }),
      { numRuns: 200 },
    );
    expect(refused).toBeGreaterThan(0);
  });

  it('reports, never throws, for any spec and any resource name', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.constant(undefined)),
        fc.oneof(dnsLabelArb(NAME_CHARS_MAX), fc.string({ maxLength: 30 })),
        (spec, name) => {
          const parsed = parseLedgerNetwork({ metadata: metadata(name), spec });
          expect(parsed.spec === undefined).toBe(parsed.specProblems.length > 0);
          for (const problem of parsed.specProblems) expect(problem).toMatch(/^(spec|metadata\.name)\b/);
          if (!DNS_LABEL.test(name) || name.length > NAME_CHARS_MAX)
            expect(parsed.specProblems.some((p) => p.startsWith('metadata.name'))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses counts beyond the bounds the operator can place', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: ORDERERS_MAX + 1 })),
        fc.oneof(fc.integer({ max: -1 }), fc.integer({ min: PEERS_PER_ORG_MAX + 1 })),
        fc.integer({ min: ORGS_MAX + 1, max: ORGS_MAX + 4 }),
        (orderers, peers, orgs) => {
          const organisations = Array.from({ length: orgs }, (_, i) => ({ name: `org${i}`, peers: 1 }));
          const problems = (spec: unknown) =>
            parseLedgerNetwork({ metadata: metadata('net'), spec }).specProblems;
          expect(problems({ orderers: { count: orderers }, organisations: [{ name: 'a' }] })).toEqual([
            expect.stringMatching(/^spec\.orderers\.count: /),
          ]);
          expect(problems({ orderers: { count: 1 }, organisations: [{ name: 'a', peers }] })).toEqual([
            expect.stringMatching(/^spec\.organisations\[0\]\.peers: /),
          ]);
          expect(problems({ orderers: { count: 1 }, organisations })).toEqual([
            expect.stringMatching(/^spec\.organisations: /),
          ]);
        },
      ),
      { numRuns: 30 },
    );
  });
});
