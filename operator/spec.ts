import { z } from 'zod';

/*
 * The LedgerNetwork resource as the operator reads it. The CRD's OpenAPI schema (crds/) is the
 * first gate; this schema is the second, so the reconciler only ever sees typed data, and a
 * resource that slipped past an older CRD is reported as Degraded instead of crashing a worker.
 */

export const API_GROUP = 'ledger.chainnode.dev';
export const API_VERSION = `${API_GROUP}/v1alpha1`;
export const KIND = 'LedgerNetwork';
export const PLURAL = 'ledgernetworks';
export const FINALIZER = `${API_GROUP}/finalizer`;
export const FIELD_MANAGER = 'chainnode-operator';
/**
 * Test-only: `ledger.chainnode.dev/loopback-address: "127.a.b.c:basePort"` renders every node on
 * that loopback address with distinct ports instead of the pods' DNS names, so a test can run the
 * rendered network as local processes. Honoured only at creation (the genesis is fixed after).
 */
export const LOOPBACK_ANNOTATION = `${API_GROUP}/loopback-address`;

/** Longest resource name: it prefixes StatefulSet names (at most 52 characters) and pod names. */
export const NAME_CHARS_MAX = 20;
export const ORG_NAME_CHARS_MAX = 20;
export const ORDERERS_MAX = 64;
export const PEERS_PER_ORG_MAX = 64;
export const ORGS_MAX = 16;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

const quantity = z.union([z.string().min(1), z.number().nonnegative()]);
const resourcesSchema = z
  .object({
    limits: z.record(z.string(), quantity).optional(),
    requests: z.record(z.string(), quantity).optional(),
  })
  .optional();

export const ledgerNetworkSpecSchema = z.object({
  image: z.string().min(1).max(512).default('chainnode/chainnode:0.1.0'),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
  networkId: z.string().regex(DNS_LABEL).max(63).optional(),
  orderers: z.object({
    count: z.number().int().min(1).max(ORDERERS_MAX),
    resources: resourcesSchema,
  }),
  organisations: z
    .array(
      z.object({
        name: z
          .string()
          .regex(DNS_LABEL, 'must be lowercase letters, digits and inner hyphens')
          .max(ORG_NAME_CHARS_MAX),
        peers: z.number().int().min(0).max(PEERS_PER_ORG_MAX).default(1),
        resources: resourcesSchema,
      }),
    )
    .min(1)
    .max(ORGS_MAX)
    .superRefine((orgs, ctx) => {
      const seen = new Set<string>();
      for (const org of orgs) {
        if (seen.has(org.name))
          ctx.addIssue({ code: 'custom', message: `organisation "${org.name}" appears twice` });
        seen.add(org.name);
      }
    }),
  storage: z
    .object({
      mode: z.enum(['sidecar', 'external']).default('sidecar'),
      size: quantity.default('1Gi'),
      storageClassName: z.string().min(1).optional(),
      postgresImage: z.string().min(1).default('postgres:16'),
      resources: resourcesSchema,
      externalSecretRef: z
        .object({ name: z.string().min(1), key: z.string().min(1).default('databaseUrl') })
        .optional(),
    })
    .default({ mode: 'sidecar', size: '1Gi', postgresImage: 'postgres:16' })
    .refine((s) => s.mode !== 'external' || s.externalSecretRef !== undefined, {
      message: 'storage.externalSecretRef is required when storage.mode is external',
    }),
  consensus: z
    .object({
      batchTxMax: z.number().int().min(1).max(10_000).optional(),
      batchBytesMax: z
        .number()
        .int()
        .min(1024)
        .max(16 * 1024 * 1024)
        .optional(),
      batchTimeoutMs: z.number().int().min(1).max(60_000).optional(),
      viewTimeoutMs: z.number().int().min(50).max(600_000).optional(),
      checkpointInterval: z.number().int().min(1).max(100_000).optional(),
      window: z.number().int().min(1).max(1_000).optional(),
    })
    .default({}),
  certificates: z
    .object({
      caValidityDays: z.number().int().min(1).max(10_950).default(3650),
      nodeValidityDays: z.number().int().min(1).max(10_950).default(365),
    })
    .default({ caValidityDays: 3650, nodeValidityDays: 365 })
    .refine((c) => c.nodeValidityDays <= c.caValidityDays, {
      message: 'certificates.nodeValidityDays must not exceed certificates.caValidityDays',
    }),
});

export type LedgerNetworkSpec = z.infer<typeof ledgerNetworkSpecSchema>;
export type ResourceRequirements = NonNullable<z.infer<typeof resourcesSchema>>;

export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly generation: number;
  readonly resourceVersion: string;
  readonly deletionTimestamp?: string;
  readonly finalizers: readonly string[];
  readonly annotations: Readonly<Record<string, string>>;
}

export interface LedgerNetwork {
  readonly metadata: ObjectMeta;
  /** undefined when the spec is invalid; `specProblems` then says why. */
  readonly spec: LedgerNetworkSpec | undefined;
  readonly specProblems: readonly string[];
  readonly status: Record<string, unknown>;
}

const metaSchema = z.object({
  name: z.string(),
  namespace: z.string(),
  uid: z.string(),
  generation: z.number().int().default(0),
  resourceVersion: z.string().default(''),
  deletionTimestamp: z.string().optional(),
  finalizers: z.array(z.string()).default([]),
  annotations: z.record(z.string(), z.string()).default({}),
});

/** Turns an API object into typed data; an unusable spec is reported, never thrown. */
export function parseLedgerNetwork(raw: unknown): LedgerNetwork {
  const obj = z
    .object({
      metadata: metaSchema,
      spec: z.unknown(),
      status: z.record(z.string(), z.unknown()).default({}),
    })
    .parse(raw);
  const problems: string[] = [];
  if (obj.metadata.name.length > NAME_CHARS_MAX)
    problems.push(`metadata.name must be at most ${NAME_CHARS_MAX} characters`);
  if (!DNS_LABEL.test(obj.metadata.name))
    problems.push('metadata.name must be lowercase letters, digits and inner hyphens');
  const spec = ledgerNetworkSpecSchema.safeParse(obj.spec);
  if (!spec.success) {
    for (const issue of spec.error.issues)
      problems.push(
        `spec${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${issue.message}`,
      );
  }
  return {
    metadata: obj.metadata,
    spec: spec.success && problems.length === 0 ? spec.data : undefined,
    specProblems: problems,
    status: obj.status,
  };
}

/** Tolerated faulty orderers: n = 3f + 1. */
export function faultTolerance(orderers: number): number {
  return Math.floor((orderers - 1) / 3);
}
