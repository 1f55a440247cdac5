import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { CertificateWithKey } from '../certs/index.js';
import { parseNetworkFile, type LoadedNetwork } from '../node/config/index.js';
import {
  caSecret,
  LABEL_NETWORK,
  LABEL_NODE,
  LABEL_ORG,
  LABEL_SECRET_KIND,
  networkConfigMap,
  NETWORK_FILE,
  nodeSecret,
  postgresSecret,
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
import { fetchNodeStatus } from './node-status.js';
import {
  addressesFor,
  names,
  planNetwork,
  type AddressOf,
  type NetworkPlan,
  type PlannedNode,
} from './plan.js';
import {
  API_VERSION,
  FINALIZER,
  KIND,
  parseLedgerNetwork,
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
}

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
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

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.nodeStatus = deps.nodeStatus ?? fetchNodeStatus;
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
      const genesisOrderers = loaded.config.orderers.length;
      if (spec.orderers.count !== genesisOrderers) {
        refusals.push(
          `orderers.count ${spec.orderers.count} differs from the ${genesisOrderers} orderer(s) of the genesis configuration: ` +
            `orderer membership changes need config transactions, which are not supported yet; keeping ${genesisOrderers}`,
        );
      }
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
      plan = planNetwork(name, namespace, spec, genesisOrderers);
      const completed = await completeIdentities(secrets.identities, plan, addressOf, spec.certificates, {
        mayCreateCas: false,
        now: this.now(),
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

    for (const obj of workloadObjects(owner, spec, plan)) await client.apply(obj);

    const observation = await this.observe(network, spec, plan, loaded, identities, addressOf, refusals);
    const previous = readConditions(network.status);
    const status = computeStatus(observation, previous, this.now());
    await this.writeStatus(network, status);
    await this.announceTransitions(network, previous, status);
    return { requeueAfterMs: status.phase === 'Ready' ? RESYNC_READY_MS : RESYNC_PROGRESSING_MS };
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
