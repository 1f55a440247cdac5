import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { createPrivateKey, createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { issueUserCert, renewCert, renewOrgCa, type CertificateWithKey } from '../certs/index.js';
import { parseNetworkFile, type LoadedNetwork } from '../node/config/index.js';
import {
  ANNOTATION_RESTART_POD,
  caSecret,
  configUpdatesConfigMap,
  LABEL_NETWORK,
  LABEL_NODE,
  LABEL_ORG,
  LABEL_ROLE,
  LABEL_SECRET_KIND,
  networkConfigMap,
  NETWORK_FILE,
  nodeSecret,
  PENDING_UPDATE_KEY,
  postgresSecret,
  UPDATE_KEY,
  updateKey,
  userSecret,
  workloadObjects,
  type Owner,
} from './builders.js';
import { KubeError, R, type KubeClient, type KubeObject } from './kube.js';
import {
  completeIdentities,
  renderGenesis,
  userKey,
  USER_ROLES,
  type Identities,
  type UserRole,
} from './material.js';
import {
  applyConfigChanges,
  approveConfig,
  configEnvelope,
  configUpdateProblems,
  type ConfigChange,
} from '../node/config/index.js';
import {
  canonicalString,
  envelopeSchema,
  parseWith,
  votingOrderers,
  type ConfigPayload,
  type Envelope,
  type NetworkConfig,
  type NodeName,
  type OrgName,
} from '../node/protocol/index.js';
import {
  httpsLedgerAdmin,
  type LedgerAdmin,
  type LedgerAdminFactory,
  type SubmitOutcome,
} from './ledger-admin.js';
import { nextCaStep, renewalDue } from './ca-renewal.js';
import { fetchNodeStatus } from './node-status.js';
import {
  CATCH_UP_MARGIN_BLOCKS,
  membershipDiffers,
  nextStep,
  quorumShortfall,
  rolloutInProgress,
  type ReconfigStep,
  type StatefulSetRollout,
} from './reconfigure.js';
import {
  addressesFor,
  names,
  planNetwork,
  type AddressOf,
  type NetworkPlan,
  type NodeGroup,
  type PlannedNode,
} from './plan.js';
import {
  API_VERSION,
  FINALIZER,
  KIND,
  ORDERERS_MAX,
  parseLedgerNetwork,
  PEERS_PER_ORG_MAX,
  type LedgerNetwork,
  type LedgerNetworkSpec,
} from './spec.js';
import {
  computeStatus,
  invalidSpecStatus,
  readConditions,
  type LedgerNetworkStatus,
  type NodeReport,
  type Observation,
  type ReconfigurationStatus,
} from './status.js';

/** How often a reconciled network's status (heights, leader, readiness) is refreshed. */
export const RESYNC_READY_MS = 30_000;
export const RESYNC_PROGRESSING_MS = 5_000;
/** Nodes whose /status is read at once. */
const STATUS_CONCURRENCY = 8;
const POSTGRES_PASSWORD_BYTES = 24;

export interface ReconcileResult {
  /** Reconcile again after this long even without events (status refresh). */
  readonly requeueAfterMs?: number;
}

export interface EventSink {
  (network: LedgerNetwork, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export interface ReconcilerDeps {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly event: EventSink;
  readonly now?: () => Date;
  /** Reads a node's /status; replaceable so tests of other things need no node API. */
  readonly nodeStatus?: typeof fetchNodeStatus;
  /** Reaches the running ledger for config transactions; replaceable in tests. */
  readonly ledgerAdmin?: LedgerAdminFactory;
  /** Renew a certificate once less than this fraction of its lifetime is left (default 1/3). */
  readonly renewFraction?: number;
}

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
  immutable?: boolean;
}

/** A Secret the operator must not or cannot change as asked; names the Secret and why. */
export class SecretUpdateError extends Error {
  override readonly name = 'SecretUpdateError';
  readonly code = 'OPERATOR_SECRET_UPDATE';
  constructor(
    readonly secret: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`Secret ${secret}: ${message}`, options);
  }
}

/** Whether `certPem` certifies the public half of `keyPem`. */
export function certificateMatchesKey(certPem: string, keyPem: string): boolean {
  const certified = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  const held = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  return certified.equals(held);
}

/** How soon a reconcile in the middle of a membership change looks again. */
export const RECONFIGURE_POLL_MS = 1_000;

interface StatefulSetObject extends KubeObject {
  spec?: {
    replicas?: number;
    template?: {
      spec?: {
        volumes?: {
          projected?: { sources?: { configMap?: { name?: string; items?: { key: string }[] } }[] };
        }[];
      };
    };
  };
}
interface PodObject {
  metadata: { name: string; uid?: string; creationTimestamp?: string };
  status?: { conditions?: { type: string; status: string }[] };
}

export interface Reconfigured {
  readonly status: ReconfigurationStatus;
  /** Makes the resource Degraded with this message. */
  readonly refusal?: string;
  readonly refusalReason?: string;
  readonly requeueAfterMs?: number;
}

/** The published configuration: genesis plus the committed updates in `<n>-config-updates`. */
export interface Updates {
  readonly published: NetworkConfig;
  /** Keys of the published updates, in sequence order. */
  readonly keys: readonly string[];
  /** The ConfigMap's published data (without a pending update). */
  readonly data: Readonly<Record<string, string>>;
  readonly pending?: { envelope: Envelope; text: string };
  /** The ConfigMap's resourceVersion when read (undefined: it did not exist): writes compare against it. */
  readonly resourceVersion?: string;
}

/** Another writer changed an object between the operator's read and its write. */
export class ConcurrentWriteError extends Error {
  override readonly name = 'ConcurrentWriteError';
  readonly code = 'OPERATOR_CONCURRENT_WRITE';
}

/**
 * Writes the ConfigMap `<n>-config-updates` as a compare-and-swap against what was read: created
 * if it did not exist (`resourceVersion` undefined), else replaced only while it is still at
 * `resourceVersion`. So an operator acting on an old read (two overlapping after a leader change)
 * cannot drop an update another one published: its write fails and the next reconcile re-reads.
 * Returns the new resourceVersion.
 */
export async function writeConfigUpdates(
  client: KubeClient,
  owner: Owner,
  data: Record<string, string>,
  resourceVersion: string | undefined,
): Promise<string> {
  const configMap = configUpdatesConfigMap(owner, data);
  const name = names.updatesConfigMap(owner.name);
  if (configMap.metadata === undefined) throw new Error(`internal: ConfigMap ${name} built without metadata`);
  try {
    const written =
      resourceVersion === undefined
        ? await client.create<KubeObject>(R.configMaps, owner.namespace, configMap as KubeObject)
        : await client.replace<KubeObject>(R.configMaps, owner.namespace, name, {
            ...(configMap as KubeObject),
            metadata: { ...(configMap.metadata as KubeObject['metadata']), resourceVersion },
          });
    const version = written.metadata?.resourceVersion;
    if (version === undefined)
      throw new Error(`ConfigMap ${name}: the API server returned no resourceVersion`);
    return version;
  } catch (e) {
    if (e instanceof KubeError && e.conflict)
      throw new ConcurrentWriteError(
        `ConfigMap ${name} changed since it was read (resourceVersion ${resourceVersion ?? 'none: it did not exist'}); not overwritten, the next reconcile reads it again`,
        { cause: e },
      );
    throw e;
  }
}

/** What one config update changes: its op, the node (if a node), and how to name it in messages. */
export interface Change {
  readonly op: string;
  readonly node?: string;
  readonly label: string;
}

/** A certificate change the renewal step wants submitted. */
export interface RenewalChange extends Change {
  readonly change: ConfigChange;
}

/** The status fields of a change: its op, and its node when it is about one. */
function changeFields(what: Change): { op: string; node?: string } {
  return what.node === undefined ? { op: what.op } : { op: what.op, node: what.node };
}

/** The one change an update makes (what describeUpdate reports first); undefined if none. */
export function changeOf(before: NetworkConfig, after: NetworkConfig): Change | undefined {
  const was = new Map([...before.orderers, ...before.peers].map((n) => [n.name as string, n]));
  const peersAfter = new Set(after.peers.map((p) => p.name as string));
  const node = (op: string, name: string): Change => ({ op, node: name, label: name });
  for (const e of [...after.orderers, ...after.peers]) {
    const old = was.get(e.name);
    const learner = (x: typeof e) => 'learner' in x && x.learner === true;
    if (old === undefined) return node(peersAfter.has(e.name) ? 'add-peer' : 'add-orderer', e.name);
    if (learner(old) && !learner(e)) return node('promote-orderer', e.name);
    if (old.cert !== e.cert) return node('replace-cert', e.name);
  }
  const now = new Set([...after.orderers, ...after.peers].map((n) => n.name as string));
  for (const n of was.keys()) if (!now.has(n)) return node('remove-node', n);
  for (const org of after.orgs) {
    const old = before.orgs.find((o) => o.name === org.name);
    if (old !== undefined && canonicalString(old.caCerts) !== canonicalString(org.caCerts))
      return { op: 'set-org-cas', label: `${org.name} (${org.caCerts.length} CA certificate(s))` };
  }
  return undefined;
}

function parseUpdate(text: string, what: string): Envelope {
  const envelope = parseWith(envelopeSchema, JSON.parse(text) as unknown, what);
  if (envelope.payload.type !== 'config') throw new Error(`${what} is not a config transaction`);
  return envelope;
}

export function readUpdates(data: Readonly<Record<string, string>>, genesis: NetworkConfig): Updates {
  const entries = Object.entries(data)
    .flatMap(([key, text]) => {
      const m = UPDATE_KEY.exec(key);
      return m === null ? [] : [{ key, sequence: Number(m[1]), text }];
    })
    .sort((a, b) => a.sequence - b.sequence);
  let published = genesis;
  const keys: string[] = [];
  const kept: Record<string, string> = {};
  for (const e of entries) {
    const config = (parseUpdate(e.text, e.key).payload as ConfigPayload).config;
    if (config.sequence !== published.sequence + 1 || config.sequence !== e.sequence)
      throw new Error(
        `config update ${e.key} holds sequence ${config.sequence}; expected ${published.sequence + 1}`,
      );
    published = config;
    keys.push(e.key);
    kept[e.key] = e.text;
  }
  const pendingText = data[PENDING_UPDATE_KEY];
  return {
    published,
    keys,
    data: kept,
    ...(pendingText === undefined
      ? {}
      : { pending: { envelope: parseUpdate(pendingText, PENDING_UPDATE_KEY), text: pendingText } }),
  };
}

/** The config-update keys a StatefulSet's pods currently see. */
function projectedUpdateKeys(set: StatefulSetObject): string[] {
  return (set.spec?.template?.spec?.volumes ?? []).flatMap((v) =>
    (v.projected?.sources ?? []).flatMap((s) =>
      s.configMap?.name?.endsWith('-config-updates') === true
        ? (s.configMap.items ?? []).map((i) => i.key)
        : [],
    ),
  );
}

function readyPods(pods: readonly PodObject[]): Set<string> {
  return new Set(
    pods
      .filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      .map((p) => p.metadata.name),
  );
}

/** The pods for a configuration: its orderers (round-robin) and each organisation's peers. */
export function podPlan(
  name: string,
  namespace: string,
  spec: LedgerNetworkSpec,
  config: NetworkConfig,
): NetworkPlan {
  return planNetwork(
    name,
    namespace,
    {
      ...spec,
      organisations: spec.organisations.map((o) => ({
        ...o,
        peers: config.peers.filter((p) => p.org === o.name).length,
      })),
    },
    config.orderers.length,
  );
}

/** Where `node` goes in the plan (role, org, ordinal, StatefulSet), for a node not yet planned. */
function plannedNode(name: string, namespace: string, spec: LedgerNetworkSpec, node: string): PlannedNode {
  const all = planNetwork(
    name,
    namespace,
    { ...spec, organisations: spec.organisations.map((o) => ({ ...o, peers: PEERS_PER_ORG_MAX })) },
    ORDERERS_MAX,
  );
  const found = [...all.orderers, ...all.peers].find((n) => n.name === node);
  if (found === undefined) throw new Error(`internal: ${node} is not a node name of this network`);
  return found;
}

/** A short account of what an update changed, for logs and Events. */
function describeUpdate(before: NetworkConfig, after: NetworkConfig): string {
  const was = new Map([...before.orderers, ...before.peers].map((n) => [n.name as string, n]));
  const now = new Map([...after.orderers, ...after.peers].map((n) => [n.name as string, n]));
  const parts: string[] = [];
  for (const [n, e] of now) {
    const old = was.get(n);
    if (old === undefined) parts.push(`+${n}${'learner' in e && e.learner === true ? ' (learner)' : ''}`);
    else if ('learner' in old && old.learner === true && !('learner' in e && e.learner === true))
      parts.push(`promoted ${n}`);
    else if (old.cert !== e.cert) parts.push(`renewed certificate of ${n}`);
  }
  for (const n of was.keys()) if (!now.has(n)) parts.push(`-${n}`);
  for (const org of after.orgs) {
    const old = before.orgs.find((o) => o.name === org.name);
    if (old !== undefined && canonicalString(old.caCerts) !== canonicalString(org.caCerts))
      parts.push(`${org.name} trusts ${org.caCerts.length} CA certificate(s)`);
  }
  return parts.length === 0 ? 'configuration changed' : parts.join(', ');
}

/** By default a certificate is renewed once less than a third of its lifetime is left. */
export const RENEW_FRACTION = 1 / 3;

/** A pod still running with the certificate its node's Secret had before a renewal (to restart). */
function podToRestart(
  node: string,
  restartMarks: ReadonlyMap<string, string>,
  pods: readonly PodObject[],
): PodObject | undefined {
  const uid = restartMarks.get(node);
  return uid === undefined ? undefined : pods.find((p) => p.metadata.name === node && p.metadata.uid === uid);
}

/**
 * Whether certificates need work: a CA step (ca-renewal.ts), a node certificate due for renewal,
 * a renewal committed but not yet in the node's Secret, or a pod still running with the
 * certificate before (to restart).
 */
function certificateWork(
  config: NetworkConfig,
  identities: Identities,
  restartMarks: ReadonlyMap<string, string>,
  pods: readonly PodObject[],
  now: Date,
  fraction: number,
): boolean {
  if (nextCaStep(config.orgs, identities.cas, now, fraction) !== undefined) return true;
  for (const n of [...config.orderers, ...config.peers]) {
    const identity = identities.nodes.get(n.name);
    if (identity === undefined) continue;
    if (identity.certPem !== n.cert || renewalDue(n.cert, now, fraction)) return true;
    if (podToRestart(n.name, restartMarks, pods) !== undefined) return true;
  }
  return false;
}

const decode = (b64: string | undefined): string => Buffer.from(b64 ?? '', 'base64').toString('utf8');

function identityOf(secret: SecretObject): CertificateWithKey | undefined {
  const certPem = decode(secret.data?.['cert.pem']);
  const keyPem = decode(secret.data?.['key.pem']);
  return certPem === '' || keyPem === '' ? undefined : { certPem, keyPem };
}

export class Reconciler {
  private readonly now: () => Date;
  private readonly nodeStatus: typeof fetchNodeStatus;
  private readonly ledgerAdmin: LedgerAdminFactory;
  private readonly renewFraction: number;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.nodeStatus = deps.nodeStatus ?? fetchNodeStatus;
    this.ledgerAdmin = deps.ledgerAdmin ?? httpsLedgerAdmin;
    this.renewFraction = deps.renewFraction ?? RENEW_FRACTION;
  }

  /** Level-triggered: reads the resource and everything it owns, converges, reports. Idempotent. */
  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const { client } = this.deps;
    const raw = await client.getOrUndefined(R.ledgerNetworks, namespace, name);
    if (raw === undefined) return {}; // deleted; the garbage collector removes what it owned
    const network = parseLedgerNetwork(raw);
    const log = this.deps.log.child({
      ledgerNetwork: `${namespace}/${name}`,
      generation: network.metadata.generation,
    });

    if (network.metadata.deletionTimestamp !== undefined) {
      await this.finalize(network, log);
      return {};
    }
    if (!network.metadata.finalizers.includes(FINALIZER)) {
      await client.mergePatch(R.ledgerNetworks, namespace, name, {
        metadata: {
          finalizers: [...network.metadata.finalizers, FINALIZER],
          resourceVersion: network.metadata.resourceVersion,
        },
      });
      return { requeueAfterMs: 0 };
    }
    if (network.spec === undefined) {
      await this.reportInvalid(network, network.specProblems, log);
      return {};
    }
    let addressOf: AddressOf;
    try {
      addressOf = addressesFor(name, namespace, network.metadata.annotations);
    } catch (e) {
      await this.reportInvalid(network, [(e as Error).message], log);
      return {};
    }
    const owner: Owner = { name, namespace, uid: network.metadata.uid };
    const spec = network.spec;

    const secrets = await this.loadSecrets(owner);
    const configMap = await client.getOrUndefined<{ data?: Record<string, string> }>(
      R.configMaps,
      namespace,
      names.configMap(name),
    );
    const refusals: string[] = [];
    const updatesMap = await client.getOrUndefined<{
      data?: Record<string, string>;
      metadata?: { resourceVersion?: string };
    }>(R.configMaps, namespace, names.updatesConfigMap(name));
    let updates: Updates;
    let plan: NetworkPlan;
    let loaded: LoadedNetwork;
    let identities: Identities;
    const networkYaml = configMap?.data?.[NETWORK_FILE];
    if (networkYaml === undefined) {
      // First reconcile (or one interrupted before the genesis was stored): complete the
      // material, store every key, and only then the genesis, whose presence marks it done.
      plan = planNetwork(name, namespace, spec);
      const completed = await completeIdentities(secrets.identities, plan, addressOf, spec.certificates, {
        mayCreateCas: true,
        now: this.now(),
      });
      identities = completed.identities;
      await this.storeIdentities(owner, plan, identities, completed.created);
      if (spec.storage.mode === 'sidecar' && !secrets.hasPostgres)
        await this.createOnce(
          postgresSecret(owner, randomBytes(POSTGRES_PASSWORD_BYTES).toString('base64url')),
        );
      const text = renderGenesis(plan, identities, addressOf, spec, this.now());
      await this.createOnce(networkConfigMap(owner, text));
      loaded = parseNetworkFile(text, names.configMap(name), this.now());
      updates = {
        published: loaded.config,
        keys: [],
        data: {},
        ...(updatesMap?.metadata?.resourceVersion === undefined
          ? {}
          : { resourceVersion: updatesMap.metadata.resourceVersion }),
      };
      log.info(
        {
          orderers: plan.orderers.length,
          peers: plan.peers.length,
          orgs: plan.orgs.length,
          genesisHash: loaded.genesisHash,
        },
        'genesis configuration created',
      );
      await this.deps.event(
        network,
        'Normal',
        'GenesisCreated',
        `issued ${completed.created.cas.length} CA(s), ${completed.created.nodes.length} node and ${completed.created.users.length} user certificate(s); genesis ${loaded.genesisHash.slice(0, 16)}`,
      );
    } else {
      loaded = parseNetworkFile(networkYaml, names.configMap(name), this.now());
      const genesisOrgs = new Set(loaded.config.orgs.map((o) => o.name as string));
      const unknownOrgs = spec.organisations.filter((o) => !genesisOrgs.has(o.name)).map((o) => o.name);
      if (unknownOrgs.length > 0 || genesisOrgs.size !== spec.organisations.length) {
        await this.reportInvalid(
          network,
          [
            `organisations must stay those of the genesis configuration (${[...genesisOrgs].join(', ')}); got ${spec.organisations.map((o) => o.name).join(', ')}`,
          ],
          log,
        );
        return {};
      }
      updates = {
        ...readUpdates(updatesMap?.data ?? {}, loaded.config),
        ...(updatesMap?.metadata?.resourceVersion === undefined
          ? {}
          : { resourceVersion: updatesMap.metadata.resourceVersion }),
      };
      // The pods follow the configuration published to them, never the spec directly: a pod
      // exists only for a node the network already knows, and goes only once it was removed.
      plan = podPlan(name, namespace, spec, updates.published);
      const completed = await completeIdentities(secrets.identities, plan, addressOf, spec.certificates, {
        mayCreateCas: false,
        now: this.now(),
        // A node in the configuration is certified for its key: a lost key is never replaced silently.
        members: new Set(
          [...updates.published.orderers, ...updates.published.peers].map((n) => n.name as string),
        ),
      }).catch(async (e: unknown) => {
        await this.reportInvalid(network, [(e as Error).message], log, 'CertificatesMissing');
        return undefined;
      });
      if (completed === undefined) return { requeueAfterMs: RESYNC_PROGRESSING_MS };
      identities = completed.identities;
      if (completed.created.nodes.length > 0) {
        await this.storeIdentities(owner, plan, identities, completed.created);
        await this.deps.event(
          network,
          'Normal',
          'CertificatesIssued',
          `issued certificates for ${completed.created.nodes.join(', ')}`,
        );
      }
      if (spec.storage.mode === 'sidecar' && !secrets.hasPostgres)
        await this.createOnce(
          postgresSecret(owner, randomBytes(POSTGRES_PASSWORD_BYTES).toString('base64url')),
        );
    }

    // A group's pods see the config updates published when the group last changed: adding them
    // to an unchanged group's template would roll its pods for nothing (and several groups at
    // once could cost the quorum). A group that grows or shrinks rolls anyway and gets them all.
    const sets = await client.list<StatefulSetObject>(R.statefulSets, namespace, `${LABEL_NETWORK}=${name}`);
    const existing = new Map(sets.items.map((s) => [s.metadata?.name ?? '', s]));
    const updateKeysOf = (group: NodeGroup): readonly string[] => {
      const current = existing.get(group.statefulSet);
      if (current === undefined || current.spec?.replicas !== group.replicas) return updates.keys;
      return projectedUpdateKeys(current);
    };
    // What the API server answers to each apply is the StatefulSet as it now is, status included:
    // whether its controller is still rolling pods, which every membership step waits for.
    const rollouts: string[] = [];
    for (const obj of workloadObjects(owner, spec, plan, {
      updateKeysOf,
      votingOrderers: votingOrderers(updates.published.orderers).length,
    })) {
      const applied = await client.apply(obj);
      if (obj.kind === 'StatefulSet' && obj.metadata?.labels?.[LABEL_ROLE] === 'orderer') {
        const rolling = rolloutInProgress(applied as StatefulSetRollout);
        if (rolling !== undefined) rollouts.push(rolling);
      }
    }

    await this.renewUserCertificates(
      network,
      owner,
      identities,
      spec.certificates.nodeValidityDays,
      refusals,
    );
    const reconfig = await this.reconfigure(
      network,
      spec,
      owner,
      plan,
      updates,
      identities,
      addressOf,
      rollouts,
      log,
    );
    if (reconfig.refusal !== undefined) refusals.push(reconfig.refusal);

    const observation = {
      ...(await this.observe(network, spec, plan, loaded, identities, addressOf, refusals)),
      desiredOrderers: spec.orderers.count,
      desiredPeers: spec.organisations.reduce((sum, o) => sum + o.peers, 0),
      reconfiguration: reconfig.status,
      ...(reconfig.refusalReason === undefined ? {} : { refusalReason: reconfig.refusalReason }),
    };
    const previous = readConditions(network.status);
    const status = computeStatus(observation, previous, this.now());
    await this.writeStatus(network, status);
    await this.announceTransitions(network, previous, status);
    if (reconfig.requeueAfterMs !== undefined) return { requeueAfterMs: reconfig.requeueAfterMs };
    return { requeueAfterMs: status.phase === 'Ready' ? RESYNC_READY_MS : RESYNC_PROGRESSING_MS };
  }

  /**
   * One step of a membership change (see reconfigure.ts) or of a certificate renewal, done
   * through config transactions. A membership change the network refused stays refused (Degraded,
   * not retried) until the spec changes, while certificate renewals go on underneath it (reported
   * by their Events): a stuck scale must not let certificates expire. A refused renewal still
   * holds everything until the spec changes.
   */
  private async reconfigure(
    network: LedgerNetwork,
    spec: LedgerNetworkSpec,
    owner: Owner,
    plan: NetworkPlan,
    updates: Updates,
    identities: Identities,
    addressOf: AddressOf,
    rollouts: readonly string[],
    log: Logger,
  ): Promise<Reconfigured> {
    const previous = network.status.reconfiguration as ReconfigurationStatus | undefined;
    const refused =
      previous?.phase === 'Refused' && previous.refusedGeneration === network.metadata.generation
        ? previous
        : undefined;
    const asRefused = (r: ReconfigurationStatus): Reconfigured => ({
      status: r,
      refusal: r.message,
      refusalReason: 'ConfigUpdateRefused',
    });
    const renewalRefused = refused?.op === 'replace-cert' || refused?.op === 'set-org-cas';
    if (refused !== undefined && renewalRefused && updates.pending === undefined) return asRefused(refused);
    const result = await this.reconfigureOnce(
      network,
      spec,
      owner,
      plan,
      updates,
      identities,
      addressOf,
      rollouts,
      refused !== undefined,
      log,
    );
    if (refused === undefined || result.status.phase === 'Refused') return result;
    const { sequence, publishedSequence } = result.status;
    return {
      ...asRefused({ ...refused, publishedSequence, ...(sequence === undefined ? {} : { sequence }) }),
      ...(result.requeueAfterMs === undefined ? {} : { requeueAfterMs: result.requeueAfterMs }),
    };
  }

  /**
   * Finishes a submitted update (publishes it once committed), or derives the next safe step from
   * the configuration in force on the network and takes it: a membership step unless
   * `membershipRefused`, else (or while the membership waits or matches the spec) a renewal step.
   * Never touches StatefulSets: they follow the published configuration on the next reconcile.
   */
  private async reconfigureOnce(
    network: LedgerNetwork,
    spec: LedgerNetworkSpec,
    owner: Owner,
    plan: NetworkPlan,
    updates: Updates,
    identities: Identities,
    addressOf: AddressOf,
    rollouts: readonly string[],
    membershipRefused: boolean,
    log: Logger,
  ): Promise<Reconfigured> {
    const { name, namespace, generation } = network.metadata;
    const published = updates.published;
    const publishedSequence = published.sequence;
    const orgs = spec.organisations.map((o) => o.name);
    const base = {
      network: name,
      orgs,
      desiredOrderers: spec.orderers.count,
      desiredPeers: new Map(spec.organisations.map((o) => [o.name, o.peers])),
    };
    const restartMarks = await this.restartMarks(owner);
    const podsNow = await this.deps.client.list<PodObject>(R.pods, namespace, `${LABEL_NETWORK}=${name}`);
    const renewalWork = certificateWork(
      published,
      identities,
      restartMarks,
      podsNow.items,
      this.now(),
      this.renewFraction,
    );
    if (updates.pending === undefined && !renewalWork && !membershipDiffers({ ...base, config: published }))
      return {
        status: { phase: 'Idle', publishedSequence, message: 'the membership matches the spec' },
      };
    const admins = new Map(
      orgs.flatMap((org) => {
        const admin = identities.users.get(userKey(org, 'admin'));
        return admin === undefined ? [] : [[org, admin] as const];
      }),
    );
    const ledger = this.ledgerAdmin({
      known: published,
      caPems: [...identities.cas.values()].map((c) => c.certPem),
      admins,
    });
    let inForce: NetworkConfig;
    try {
      inForce = await ledger.currentConfig();
    } catch (e) {
      return {
        status: {
          phase: 'LedgerUnreachable',
          publishedSequence,
          message: `membership change waits for the ledger's API: ${(e as Error).message}`,
        },
        requeueAfterMs: RESYNC_PROGRESSING_MS,
      };
    }
    const sequence = inForce.sequence;
    // The nodes that answered have not caught up with what was committed and published (restarted,
    // lagging, or only learners answering): planning from their view would draft an update the
    // network refuses. Wait for a current answer instead.
    if (sequence < publishedSequence)
      return {
        status: {
          phase: 'Waiting',
          sequence,
          publishedSequence,
          message: `the nodes that answered are at configuration sequence ${sequence}, behind the published ${publishedSequence}; waiting for them to catch up`,
        },
        requeueAfterMs: RECONFIGURE_POLL_MS,
      };

    let updatesVersion = updates.resourceVersion;
    const writeUpdates = async (data: Record<string, string>): Promise<void> => {
      updatesVersion = await writeConfigUpdates(this.deps.client, owner, data, updatesVersion);
    };
    const publish = async (envelope: Envelope, text: string): Promise<ReconfigurationStatus> => {
      const seq = (envelope.payload as ConfigPayload).config.sequence;
      await writeUpdates({ ...updates.data, [updateKey(seq)]: text });
      const what = describeUpdate(published, (envelope.payload as ConfigPayload).config);
      log.info({ sequence: seq, update: what }, 'config update committed and published');
      await this.deps.event(network, 'Normal', 'ConfigUpdateCommitted', `sequence ${seq}: ${what}`);
      return {
        phase: 'Submitted',
        publishedSequence: seq,
        sequence: seq,
        message: `committed sequence ${seq}: ${what}`,
      };
    };
    const refuse = async (message: string, what: Change): Promise<Reconfigured> => {
      await writeUpdates(updates.data);
      log.warn({ op: what.op, node: what.node, message }, 'config update refused');
      return {
        status: {
          phase: 'Refused',
          ...changeFields(what),
          sequence,
          publishedSequence,
          message,
          refusedGeneration: generation,
        },
        refusal: message,
        refusalReason: 'ConfigUpdateRefused',
      };
    };
    const submit = async (envelope: Envelope, text: string, what: Change): Promise<Reconfigured> => {
      let outcome: SubmitOutcome;
      try {
        outcome = await ledger.submitConfig(envelope);
      } catch (e) {
        // Unknown: it may still commit. The pending key stays; the next reconcile looks again.
        return {
          status: {
            phase: 'Submitted',
            ...changeFields(what),
            sequence,
            publishedSequence,
            message: `${what.op} ${what.label}: submitted, outcome unknown (${(e as Error).message}); checking again`,
          },
          requeueAfterMs: RECONFIGURE_POLL_MS,
        };
      }
      if (outcome.validation !== 'VALID')
        return refuse(
          `the network refused the config update ${what.op} ${what.label}: ${outcome.validation}${outcome.message === undefined ? '' : ` (${outcome.message})`}; nothing was applied`,
          what,
        );
      return { status: { ...(await publish(envelope, text)), ...changeFields(what) }, requeueAfterMs: 0 };
    };

    if (updates.pending !== undefined) {
      const { envelope, text } = updates.pending;
      const pendingConfig = (envelope.payload as ConfigPayload).config;
      const what = changeOf(published, pendingConfig) ?? { op: 'pending', label: 'update' };
      if (pendingConfig.sequence !== publishedSequence + 1)
        return refuse(
          `a stored pending update has sequence ${pendingConfig.sequence}, not ${publishedSequence + 1}`,
          what,
        );
      if (sequence >= pendingConfig.sequence) {
        if (
          sequence === pendingConfig.sequence &&
          canonicalString(inForce) !== canonicalString(pendingConfig)
        )
          return refuse(
            `the network's configuration at sequence ${sequence} is not the update the operator submitted`,
            what,
          );
        return { status: await publish(envelope, text), requeueAfterMs: 0 };
      }
      return submit(envelope, text, what);
    }
    if (sequence > publishedSequence)
      return {
        status: {
          phase: 'Refused',
          sequence,
          publishedSequence,
          message: `the network's configuration is at sequence ${sequence} but the operator published only ${publishedSequence}: updates made outside the operator cannot be published to the pods; membership changes wait`,
        },
        refusal: `configuration sequence ${sequence} on the network was not made by the operator`,
        refusalReason: 'UnpublishedConfigUpdate',
      };

    const pods = podsNow;
    const ready = readyPods(pods.items);
    const heights = new Map<string, number>();
    if (inForce.orderers.some((o) => o.learner === true)) {
      await Promise.all(
        inForce.orderers
          .filter((o) => ready.has(o.name))
          .map(async (o) => {
            try {
              heights.set(o.name, (await ledger.nodeStatus(o.name)).height);
            } catch (e) {
              // Not counted: nextStep waits for a learner's height and needs one voter's.
              log.debug({ node: o.name, err: e }, 'height unreadable; not counted for the catch-up');
            }
          }),
      );
    }
    const step: ReconfigStep = membershipRefused
      ? { kind: 'wait', reason: 'the membership change was refused; it waits for a spec change' }
      : nextStep({ ...base, config: inForce, podReady: (n) => ready.has(n), heights, rollouts });
    const membershipWait = (wait: Extract<ReconfigStep, { kind: 'wait' }>): Reconfigured => ({
      status: {
        phase: 'Waiting',
        ...(wait.node === undefined ? {} : { node: wait.node }),
        sequence,
        publishedSequence,
        message: wait.node === undefined ? wait.reason : `${wait.node}: ${wait.reason}`,
        ...(inForce.orderers.some((o) => o.name === wait.node && o.learner === true)
          ? { op: 'promote-orderer' }
          : {}),
      },
      requeueAfterMs: RECONFIGURE_POLL_MS,
    });
    // A membership step when one is due and safe; otherwise (matching, waiting or refused) the
    // certificates get their turn, so a stuck scale never lets them expire.
    let action: Extract<ReconfigStep, { kind: 'submit' }> | ({ kind: 'renew' } & RenewalChange);
    if (step.kind === 'submit') {
      action = step;
    } else {
      const r = await this.renewalStep(
        network,
        owner,
        inForce,
        identities,
        pods.items,
        rollouts,
        ledger,
        log,
      );
      if ('status' in r) {
        // While the membership waits, its reason is the news unless the renewal was refused.
        if (step.kind === 'wait' && r.status.phase !== 'Refused') return membershipWait(step);
        return { ...r, status: { ...r.status, sequence, publishedSequence } };
      }
      action = { kind: 'renew', ...r };
    }

    let changes: ConfigChange[];
    const what: Change =
      action.kind === 'renew' ? action : { op: action.op, node: action.node, label: action.node };
    if (action.kind === 'renew') {
      changes = [action.change];
    } else if (action.op === 'add-orderer' || action.op === 'add-peer') {
      // (1) the new node's identity, issued by its organisation's CA and stored before anything refers to it.
      const node = plannedNode(name, namespace, spec, action.node);
      let identity = identities.nodes.get(action.node);
      if (identity === undefined) {
        const withNode: NetworkPlan = {
          ...plan,
          orderers: node.role === 'orderer' ? [...plan.orderers, node] : plan.orderers,
          peers: node.role === 'peer' ? [...plan.peers, node] : plan.peers,
        };
        const completed = await completeIdentities(identities, withNode, addressOf, spec.certificates, {
          mayCreateCas: false,
          now: this.now(),
        });
        await this.storeIdentities(owner, withNode, completed.identities, completed.created);
        identity = completed.identities.nodes.get(action.node);
        if (identity === undefined) throw new Error(`internal: no identity issued for ${action.node}`);
        identities.nodes.set(action.node, identity);
      }
      const at = addressOf(node);
      const entry = {
        name: node.name as NodeName,
        org: node.org as OrgName,
        host: at.host,
        port: at.port,
        apiPort: at.apiPort,
        cert: identity.certPem,
      };
      changes = [action.op === 'add-orderer' ? { op: 'add-orderer', entry } : { op: 'add-peer', entry }];
    } else {
      changes = [{ op: action.op, name: action.node }];
    }
    // (2) the config transaction, checked here as the network will check it, approved by the
    // organisations' admins (the operator holds them all) and signed by the first.
    let next: NetworkConfig;
    try {
      next = applyConfigChanges(inForce, changes);
    } catch (e) {
      return refuse(`${what.op} ${what.label}: ${(e as Error).message}`, what);
    }
    const problems = configUpdateProblems(inForce, next, this.now());
    if (problems.length > 0)
      return refuse(`${what.op} ${what.label} would be refused: ${problems.join('; ')}`, what);
    const approvers = inForce.orgs.flatMap((o) => {
      const admin = admins.get(o.name);
      return admin === undefined ? [] : [{ org: o.name, admin }];
    });
    const creator = approvers[0];
    if (creator === undefined) return refuse('no organisation admin identity to sign with', what);
    const approvals = approvers.map(({ org, admin }) =>
      approveConfig(next, { org, cert: admin.certPem }, admin.keyPem),
    );
    const envelope = configEnvelope(
      next,
      approvals,
      { org: creator.org, cert: creator.admin.certPem },
      creator.admin.keyPem,
    );
    const text = `${JSON.stringify(envelope, null, 2)}\n`;
    // Write-ahead: a crash between submitting and publishing leaves the envelope to publish.
    await writeUpdates({ ...updates.data, [PENDING_UPDATE_KEY]: text });
    log.info({ op: what.op, node: what.node, sequence: next.sequence }, 'submitting config update');
    await this.deps.event(
      network,
      'Normal',
      'ConfigUpdateSubmitted',
      `${what.op} ${what.label} (sequence ${next.sequence})`,
    );
    return submit(envelope, text, what);
  }

  /** Node name -> the uid of its pod that runs the certificate before its renewal (to restart). */
  private async restartMarks(owner: Owner): Promise<Map<string, string>> {
    const list = await this.deps.client.list<SecretObject>(
      R.secrets,
      owner.namespace,
      `${LABEL_NETWORK}=${owner.name},${LABEL_SECRET_KIND}=node`,
    );
    const marks = new Map<string, string>();
    for (const s of list.items) {
      const node = s.metadata?.labels?.[LABEL_NODE];
      const uid = s.metadata?.annotations?.[ANNOTATION_RESTART_POD];
      if (node !== undefined && uid !== undefined && uid !== '') marks.set(node, uid);
    }
    return marks;
  }

  /**
   * Replaces an identity Secret's content in place: reads it, lets `check` refuse what it holds,
   * and PUTs `next` with the resourceVersion read, so a concurrent change fails (409) instead of
   * being overwritten. Never deletes: the key must never be out of the API server, not even
   * between a delete and a create (a crash there would make the next reconcile issue a new key).
   */
  private async replaceSecret(
    owner: Owner,
    next: V1Secret,
    check: (current: SecretObject) => string | undefined,
  ): Promise<void> {
    const name = next.metadata?.name ?? '';
    const current = await this.deps.client.getOrUndefined<SecretObject>(R.secrets, owner.namespace, name);
    if (current === undefined) throw new SecretUpdateError(name, 'is missing; nothing to renew in place');
    if (!current.metadata?.ownerReferences?.some((r) => r.uid === owner.uid))
      throw new SecretUpdateError(name, `is not owned by this LedgerNetwork (uid ${owner.uid})`);
    if (current.immutable === true)
      throw new SecretUpdateError(
        name,
        'is immutable (stored by an operator before in-place renewal) and cannot be replaced without deleting its key; copy it into a mutable Secret of the same name to let renewals proceed',
      );
    const refused = check(current);
    if (refused !== undefined) throw new SecretUpdateError(name, refused);
    // `next` was just built for this call: it carries the version read, or the PUT is refused.
    if (next.metadata === undefined) throw new Error(`internal: Secret ${name} built without metadata`);
    next.metadata.resourceVersion = current.metadata.resourceVersion;
    await this.deps.client.replace(R.secrets, owner.namespace, name, next);
  }

  /**
   * Certificate renewal, one change at a time, when no membership step is to be taken: (a) a
   * renewal the network committed goes into the node's Secret, replaced in place and only if it
   * certifies the Secret's key (the Secret notes the uid of the pod running the old certificate),
   * and a renewed CA certificate into its CA Secret likewise; (b) that pod is restarted once no
   * orderer StatefulSet rolls and the other voting orderers still make a quorum without it;
   * (c) every pod Ready and caught up; then (d) a CA step (ca-renewal.ts: trust [renewed, old],
   * then [renewed]) before any node's, else the node certificate closest to expiry that is due is
   * renewed (same key) and submitted as `replace-cert`.
   */
  private async renewalStep(
    network: LedgerNetwork,
    owner: Owner,
    inForce: NetworkConfig,
    identities: Identities,
    pods: readonly PodObject[],
    rollouts: readonly string[],
    ledger: LedgerAdmin,
    log: Logger,
  ): Promise<Reconfigured | RenewalChange> {
    const { client } = this.deps;
    const now = this.now();
    const wait = (node: string, message: string, op = 'replace-cert'): Reconfigured => ({
      status: {
        phase: 'Waiting',
        op,
        node,
        publishedSequence: inForce.sequence,
        message: `${node}: ${message}`,
      },
      requeueAfterMs: RECONFIGURE_POLL_MS,
    });
    const nodes = [
      ...inForce.orderers.map((n) => ({ entry: n, role: 'orderer' as const })),
      ...inForce.peers.map((n) => ({ entry: n, role: 'peer' as const })),
    ];
    const ready = readyPods(pods);
    const voting = votingOrderers(inForce.orderers).map((o) => o.name as string);
    // (a) a committed renewal into the Secret, in place, only if it certifies the Secret's key
    for (const { entry, role } of nodes) {
      const identity = identities.nodes.get(entry.name);
      if (identity === undefined || identity.certPem === entry.cert) continue;
      const secretName = names.nodeSecret(entry.name);
      const mismatch = `the certificate of ${entry.name} in force on the network does not certify the key in its Secret ${secretName}; not stored (a new certificate for that key must be committed with replace-cert)`;
      if (!certificateMatchesKey(entry.cert, identity.keyPem))
        return {
          status: {
            phase: 'Refused',
            op: 'replace-cert',
            node: entry.name,
            publishedSequence: inForce.sequence,
            message: mismatch,
          },
          refusal: mismatch,
          refusalReason: 'CertificateKeyMismatch',
          requeueAfterMs: RESYNC_PROGRESSING_MS,
        };
      const renewed = { certPem: entry.cert, keyPem: identity.keyPem };
      const runningPod = pods.find((p) => p.metadata.name === entry.name)?.metadata.uid;
      try {
        await this.replaceSecret(
          owner,
          nodeSecret(owner, { name: entry.name, org: entry.org, role }, renewed, runningPod),
          (current) => {
            const keyPem = decode(current.data?.['key.pem']);
            return keyPem !== '' && certificateMatchesKey(entry.cert, keyPem) ? undefined : mismatch;
          },
        );
      } catch (e) {
        if (!(e instanceof SecretUpdateError)) throw e;
        return {
          status: {
            phase: 'Refused',
            op: 'replace-cert',
            node: entry.name,
            publishedSequence: inForce.sequence,
            message: e.message,
          },
          refusal: e.message,
          refusalReason: 'CertificateNotStored',
          requeueAfterMs: RESYNC_PROGRESSING_MS,
        };
      }
      identities.nodes.set(entry.name, renewed);
      log.info({ node: entry.name, restartPod: runningPod }, 'renewed certificate stored in place');
      return wait(entry.name, 'renewed certificate stored in its Secret; its pod restarts next');
    }
    // (a) a committed renewal of a CA into its Secret, in place, the same key
    const caStep = nextCaStep(inForce.orgs, identities.cas, now, this.renewFraction);
    const caRefused = (message: string, reason: string): Reconfigured => ({
      status: { phase: 'Refused', op: 'set-org-cas', publishedSequence: inForce.sequence, message },
      refusal: message,
      refusalReason: reason,
      requeueAfterMs: RESYNC_PROGRESSING_MS,
    });
    if (caStep?.kind === 'mismatch') return caRefused(caStep.message, 'CaCertificateMismatch');
    if (caStep?.kind === 'store') {
      const ca = identities.cas.get(caStep.org);
      if (ca === undefined) throw new Error(`internal: CA step for ${caStep.org} without its CA`);
      const renewed = { certPem: caStep.certPem, keyPem: ca.keyPem };
      try {
        await this.replaceSecret(owner, caSecret(owner, caStep.org, renewed), (current) => {
          const keyPem = decode(current.data?.['key.pem']);
          return keyPem !== '' && certificateMatchesKey(caStep.certPem, keyPem)
            ? undefined
            : `the renewed CA certificate of ${caStep.org} in force does not certify the key in its Secret; not stored`;
        });
      } catch (e) {
        if (!(e instanceof SecretUpdateError)) throw e;
        return caRefused(e.message, 'CertificateNotStored');
      }
      identities.cas.set(caStep.org, renewed);
      log.info({ org: caStep.org }, 'renewed CA certificate stored in place');
      await this.deps.event(
        network,
        'Normal',
        'CaCertificateStored',
        `stored the renewed CA certificate of ${caStep.org} (valid until ${new X509Certificate(caStep.certPem).validTo})`,
      );
      return {
        status: {
          phase: 'Waiting',
          op: 'set-org-cas',
          publishedSequence: inForce.sequence,
          message: `${caStep.org}: renewed CA certificate stored in its Secret; the old one is dropped next`,
        },
        requeueAfterMs: RECONFIGURE_POLL_MS,
      };
    }
    // (b) restart a pod still running with the certificate before its renewal
    const marks = await this.restartMarks(owner);
    for (const { entry } of nodes) {
      if (podToRestart(entry.name, marks, pods) === undefined) continue;
      // Never while a StatefulSet rolls pods of its own: that could be a second voter down.
      if (rollouts.length > 0)
        return wait(entry.name, `restart waits for the orderer rollout to finish (${rollouts.join('; ')})`);
      if (voting.includes(entry.name)) {
        const short = quorumShortfall(
          voting.filter((n) => ready.has(n)).length,
          voting.length,
          ready.has(entry.name) ? 1 : 0,
        );
        if (short !== undefined) return wait(entry.name, `restart waits: ${short}`);
      }
      if (pods.some((p) => p.metadata.name !== entry.name && !ready.has(p.metadata.name)))
        return wait(entry.name, 'restart waits for every other pod to be ready');
      await client.delete(R.pods, owner.namespace, entry.name);
      log.info({ node: entry.name }, 'pod restarted for its renewed certificate');
      await this.deps.event(
        network,
        'Normal',
        'CertificateRolled',
        `restarted ${entry.name} with its renewed certificate`,
      );
      return wait(entry.name, 'restarted with its renewed certificate');
    }
    const due = nodes
      .filter(({ entry }) => renewalDue(entry.cert, now, this.renewFraction))
      .sort(
        (a, b) =>
          Date.parse(new X509Certificate(a.entry.cert).validTo) -
          Date.parse(new X509Certificate(b.entry.cert).validTo),
      );
    const first = due[0];
    const idle: Reconfigured = {
      status: {
        phase: 'Idle',
        publishedSequence: inForce.sequence,
        message: 'the membership matches the spec; no certificate is due',
      },
    };
    if (first === undefined && caStep === undefined) return idle;
    // (c) every pod ready and caught up before the next one (a learner still catching up, e.g.
    // of a scale that is stuck, does not count: it holds no quorum, and must not hold renewals)
    const settling = nodes.filter(({ entry }) => !('learner' in entry && entry.learner === true));
    const notReady = settling.find(({ entry }) => !ready.has(entry.name));
    if (notReady !== undefined) return wait(notReady.entry.name, 'renewals wait for its pod to be ready');
    const heights = new Map<string, number>();
    await Promise.all(
      settling.map(async ({ entry }) => {
        try {
          heights.set(entry.name, (await ledger.nodeStatus(entry.name)).height);
        } catch (e) {
          // The renewal waits for it below, naming the node; the cause goes to the log.
          log.debug({ node: entry.name, err: e }, 'height unreadable; renewals wait for it');
        }
      }),
    );
    const top = Math.max(0, ...heights.values());
    for (const { entry } of settling) {
      const h = heights.get(entry.name);
      if (h === undefined) return wait(entry.name, 'renewals wait for its /status');
      if (h + CATCH_UP_MARGIN_BLOCKS < top)
        return wait(entry.name, `renewals wait for it to catch up: height ${h} of ${top}`);
    }
    // (d) a CA first: node certificates renewed under a CA near its end would end with it
    const spec = network.spec;
    if (caStep?.kind === 'drop-old')
      return {
        op: 'set-org-cas',
        label: `${caStep.org} (drop the CA certificate before its renewal)`,
        change: { op: 'set-org-cas', org: caStep.org, caCerts: caStep.caCerts },
      };
    if (caStep?.kind === 'renew') {
      const org = inForce.orgs.find((o) => o.name === caStep.org);
      if (org === undefined) throw new Error(`internal: CA step for ${caStep.org}, not in the configuration`);
      const renewed = await renewOrgCa({
        ca: caStep.ca,
        validityDays: spec?.certificates.caValidityDays ?? 3650,
        now,
      });
      return {
        op: 'set-org-cas',
        label: `${caStep.org} (trust its renewed CA certificate beside the current one)`,
        change: { op: 'set-org-cas', org: caStep.org, caCerts: [renewed, ...org.caCerts] },
      };
    }
    if (first === undefined) return idle;
    // renew the node certificate closest to expiry, same key
    const identity = identities.nodes.get(first.entry.name);
    const ca = identities.cas.get(first.entry.org);
    if (identity === undefined || ca === undefined)
      return wait(first.entry.name, 'no key or CA to renew its certificate with');
    const cert = await renewCert({
      ca,
      certPem: first.entry.cert,
      keyPem: identity.keyPem,
      validityDays: spec?.certificates.nodeValidityDays ?? 365,
      now,
    });
    return {
      op: 'replace-cert',
      node: first.entry.name,
      label: first.entry.name,
      change: { op: 'replace-cert', name: first.entry.name, cert },
    };
  }

  /** Admin and client certificates are not in the configuration: due ones are simply reissued. */
  private async renewUserCertificates(
    network: LedgerNetwork,
    owner: Owner,
    identities: Identities,
    validityDays: number,
    refusals: string[],
  ): Promise<void> {
    const now = this.now();
    for (const [key, identity] of identities.users) {
      if (!renewalDue(identity.certPem, now, this.renewFraction)) continue;
      const [org, role] = key.split('/') as [string, UserRole];
      const ca = identities.cas.get(org);
      if (ca === undefined || !USER_ROLES.includes(role)) continue;
      const renewed = await issueUserCert({ ca, org, role, name: role, validityDays, now });
      try {
        await this.replaceSecret(owner, userSecret(owner, org, role, renewed), () => undefined);
      } catch (e) {
        if (!(e instanceof SecretUpdateError)) throw e;
        refusals.push(`the ${role} certificate of ${org} is due for renewal: ${e.message}`);
        continue;
      }
      identities.users.set(key, renewed);
      await this.deps.event(
        network,
        'Normal',
        'CertificateRenewed',
        `reissued the ${role} certificate of ${org}`,
      );
    }
  }

  private async loadSecrets(owner: Owner): Promise<{ identities: Identities; hasPostgres: boolean }> {
    const list = await this.deps.client.list<SecretObject>(
      R.secrets,
      owner.namespace,
      `${LABEL_NETWORK}=${owner.name}`,
    );
    const identities: Identities = { cas: new Map(), nodes: new Map(), users: new Map() };
    let hasPostgres = false;
    for (const secret of list.items) {
      // Only Secrets this resource owns count: a same-named network recreated must not reuse old keys.
      if (!secret.metadata?.ownerReferences?.some((r) => r.uid === owner.uid)) continue;
      const labels = secret.metadata.labels ?? {};
      const kind = labels[LABEL_SECRET_KIND];
      if (kind === 'postgres') {
        hasPostgres = true;
        continue;
      }
      const identity = identityOf(secret);
      const org = labels[LABEL_ORG];
      if (identity === undefined || org === undefined) continue;
      if (kind === 'ca') identities.cas.set(org, identity);
      else if (kind === 'node' && labels[LABEL_NODE] !== undefined)
        identities.nodes.set(labels[LABEL_NODE], identity);
      else if (kind === 'admin' || kind === 'client') identities.users.set(userKey(org, kind), identity);
    }
    return { identities, hasPostgres };
  }

  private async storeIdentities(
    owner: Owner,
    plan: NetworkPlan,
    identities: Identities,
    created: { cas: string[]; nodes: string[]; users: string[] },
  ): Promise<void> {
    const need = <T>(value: T | undefined, what: string): T => {
      if (value === undefined) throw new Error(`internal: ${what} generated but not found`);
      return value;
    };
    for (const org of created.cas)
      await this.createOnce(caSecret(owner, org, need(identities.cas.get(org), org)));
    const byName = new Map<string, PlannedNode>([...plan.orderers, ...plan.peers].map((n) => [n.name, n]));
    for (const name of created.nodes)
      await this.createOnce(
        nodeSecret(owner, need(byName.get(name), name), need(identities.nodes.get(name), name)),
      );
    for (const key of created.users) {
      const [org, role] = key.split('/') as [string, UserRole];
      if (!USER_ROLES.includes(role)) throw new Error(`internal: bad user key ${key}`);
      await this.createOnce(userSecret(owner, org, role, need(identities.users.get(key), key)));
    }
  }

  /**
   * Creates an object that must never be overwritten (keys, genesis). If it already exists, some
   * earlier reconcile stored it after this one listed: fail, and the retry reads it back.
   */
  private async createOnce(object: V1Secret | V1ConfigMap): Promise<void> {
    const { kind, metadata } = object as KubeObject;
    const obj = object;
    const r = kind === 'ConfigMap' ? R.configMaps : R.secrets;
    try {
      await this.deps.client.create(r, metadata?.namespace ?? '', obj);
    } catch (e) {
      if (e instanceof KubeError && e.conflict)
        throw new Error(
          `${kind ?? '?'} ${metadata?.name ?? '?'} appeared concurrently; retrying with what is stored`,
          { cause: e },
        );
      throw e;
    }
  }

  private async observe(
    network: LedgerNetwork,
    spec: LedgerNetworkSpec,
    plan: NetworkPlan,
    loaded: LoadedNetwork,
    identities: Identities,
    addressOf: AddressOf,
    refusals: string[],
  ): Promise<Observation> {
    const { namespace, name } = network.metadata;
    const pods = await this.deps.client.list<{
      metadata: { name: string };
      status?: { conditions?: { type: string; status: string }[] };
    }>(R.pods, namespace, `${LABEL_NETWORK}=${name}`);
    const ready = new Set(
      pods.items
        .filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        .map((p) => p.metadata.name),
    );
    const inGenesis = new Set(
      [...loaded.config.orderers, ...loaded.config.peers].map((n) => n.name as string),
    );
    const caPem = [...identities.cas.values()].map((c) => c.certPem).join('\n');
    const nodes = [...plan.orderers, ...plan.peers];
    const reports = new Map<string, NodeReport | string>();
    for (let i = 0; i < nodes.length; i += STATUS_CONCURRENCY) {
      await Promise.all(
        nodes.slice(i, i + STATUS_CONCURRENCY).map(async (node) => {
          if (!ready.has(node.name)) return;
          const admin = identities.users.get(userKey(node.org, 'admin'));
          if (admin === undefined) return;
          const at = addressOf(node);
          try {
            reports.set(
              node.name,
              await this.nodeStatus({
                host: at.host,
                apiPort: at.apiPort,
                caPem,
                clientCertPem: admin.certPem,
                clientKeyPem: admin.keyPem,
              }),
            );
          } catch (e) {
            reports.set(node.name, `status unavailable: ${(e as Error).message}`);
          }
        }),
      );
    }
    const missingSecrets = nodes.filter((n) => !identities.nodes.has(n.name)).map((n) => n.name);
    return {
      generation: network.metadata.generation,
      networkId: loaded.config.networkId,
      genesisHash: loaded.genesisHash,
      desiredOrderers: plan.orderers.length,
      desiredPeers: plan.peers.length,
      nodes: nodes.map((n) => {
        const report = reports.get(n.name);
        return {
          name: n.name,
          role: n.role,
          org: n.org,
          podReady: ready.has(n.name),
          inGenesis: inGenesis.has(n.name),
          ...(typeof report === 'string' ? { unreachable: report } : report === undefined ? {} : { report }),
        };
      }),
      refusals,
      certificatesReady: missingSecrets.length === 0 && plan.orgs.every((o) => identities.cas.has(o)),
      certificatesMessage:
        missingSecrets.length === 0
          ? `${identities.cas.size} CA(s), ${nodes.length} node certificate(s) and ${identities.users.size} user certificate(s) stored in Secrets; storage ${spec.storage.mode}`
          : `missing node certificates: ${missingSecrets.join(', ')}`,
    };
  }

  private async writeStatus(network: LedgerNetwork, status: Partial<LedgerNetworkStatus>): Promise<void> {
    await this.deps.client.apply(
      {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: network.metadata.name, namespace: network.metadata.namespace },
        status,
      },
      { subresource: 'status' },
    );
  }

  private async reportInvalid(
    network: LedgerNetwork,
    problems: readonly string[],
    log: Logger,
    reason = 'InvalidSpec',
  ): Promise<void> {
    const previous = readConditions(network.status);
    const wasReported = previous.some(
      (c) =>
        c.type === 'Degraded' && c.status === 'True' && c.observedGeneration === network.metadata.generation,
    );
    const status = invalidSpecStatus(network.metadata.generation, problems, previous, this.now());
    await this.writeStatus(network, status);
    if (!wasReported) {
      log.warn({ problems }, 'spec refused');
      await this.deps.event(network, 'Warning', reason, problems.join('; '));
    }
  }

  private async announceTransitions(
    network: LedgerNetwork,
    previous: readonly { type: string; status: string }[],
    status: LedgerNetworkStatus,
  ): Promise<void> {
    for (const c of status.conditions) {
      const before = previous.find((p) => p.type === c.type);
      if (before?.status === c.status) continue;
      if (c.type === 'Ready' && c.status === 'True')
        await this.deps.event(network, 'Normal', 'NetworkReady', c.message);
      if (c.type === 'Degraded' && c.status === 'True')
        await this.deps.event(network, 'Warning', c.reason, c.message);
    }
  }

  /** The finaliser: the key Secrets go first and explicitly, then the garbage collector does the rest. */
  private async finalize(network: LedgerNetwork, log: Logger): Promise<void> {
    if (!network.metadata.finalizers.includes(FINALIZER)) return;
    const { client } = this.deps;
    const { namespace, name } = network.metadata;
    const secrets = await client.list<SecretObject>(R.secrets, namespace, `${LABEL_NETWORK}=${name}`);
    for (const s of secrets.items) {
      if (
        s.metadata?.ownerReferences?.some((r) => r.uid === network.metadata.uid) &&
        s.metadata.name !== undefined
      )
        await client.delete(R.secrets, namespace, s.metadata.name);
    }
    await this.deps.event(
      network,
      'Normal',
      'Deleting',
      `deleted ${secrets.items.length} Secret(s); owned objects follow by garbage collection`,
    );
    await client.mergePatch(R.ledgerNetworks, namespace, name, {
      metadata: {
        finalizers: network.metadata.finalizers.filter((f) => f !== FINALIZER),
        resourceVersion: network.metadata.resourceVersion,
      },
    });
    log.info('finaliser done');
  }
}
