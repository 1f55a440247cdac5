/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment -- @kubernetes/client-node models are behaviour-less classes; the API takes plain objects of their shape, which is what the builders make. */
import type {
  V1ConfigMap,
  V1Container,
  V1EnvVar,
  V1OwnerReference,
  V1PodDisruptionBudget,
  V1Probe,
  V1ResourceRequirements,
  V1Secret,
  V1Service,
  V1StatefulSet,
  V1VolumeProjection,
} from '@kubernetes/client-node';
import type { CertificateWithKey } from '../certs/index.js';
import { API_PORT, names, NODE_PORT, type NetworkPlan, type NodeGroup, type NodeRole } from './plan.js';
import {
  API_VERSION,
  faultTolerance,
  FIELD_MANAGER,
  KIND,
  type LedgerNetworkSpec,
  type ResourceRequirements,
} from './spec.js';

/*
 * One pure builder per owned kind: (network, plan, material) -> the object to server-side apply.
 * No I/O and no clock here, so a reconcile that runs twice applies identical objects.
 */

export const LABEL_NETWORK = 'ledger.chainnode.dev/network';
export const LABEL_ROLE = 'ledger.chainnode.dev/role';
export const LABEL_ORG = 'ledger.chainnode.dev/org';
export const LABEL_SECRET_KIND = 'ledger.chainnode.dev/secret-kind';
export const LABEL_NODE = 'ledger.chainnode.dev/node';
/** Where pods see the network directory: `--config` is `${CONFIG_DIR}/network.yaml`. */
export const CONFIG_DIR = '/etc/chainnode';
export const NETWORK_FILE = 'network.yaml';
const PGDATA_MOUNT = '/var/lib/postgresql/data';
const POSTGRES_PORT = 5432;
const POSTGRES_USER = 'chainnode';
const POSTGRES_DB = 'chainnode';
/** A node flushes its database and says goodbye to its links on SIGTERM; give it time to. */
const TERMINATION_GRACE_SECONDS = 30;

export interface Owner {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
}

export function ownerReference(owner: Owner): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: owner.name,
    uid: owner.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function commonLabels(network: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'chainnode',
    'app.kubernetes.io/instance': network,
    'app.kubernetes.io/managed-by': FIELD_MANAGER,
    [LABEL_NETWORK]: network,
  };
}

function meta(owner: Owner, name: string, labels: Record<string, string> = {}) {
  return {
    name,
    namespace: owner.namespace,
    labels: { ...commonLabels(owner.name), ...labels },
    ownerReferences: [ownerReference(owner)],
  };
}

/** The CRD allows integer quantities; the API's container resources are strings. */
function containerResources(r: ResourceRequirements | undefined): V1ResourceRequirements {
  const strings = (m: Record<string, string | number> | undefined) =>
    m === undefined ? undefined : Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
  const limits = strings(r?.limits);
  const requests = strings(r?.requests);
  return { ...(limits === undefined ? {} : { limits }), ...(requests === undefined ? {} : { requests }) };
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/**
 * On a node's identity Secret whose certificate was renewed: the uid of the pod that was running
 * with the previous one, to be restarted (a pod created later mounts the renewed certificate).
 */
export const ANNOTATION_RESTART_POD = 'ledger.chainnode.dev/restart-pod-uid';

/**
 * A certificate and its key. Mutable: a renewal replaces the certificate in place (PUT with the
 * resourceVersion read), so the key is never out of the API server, not even for a moment.
 */
export function identitySecret(
  owner: Owner,
  name: string,
  identity: CertificateWithKey,
  labels: Record<string, string>,
  annotations: Record<string, string> = {},
): V1Secret {
  const metadata = meta(owner, name, labels);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: Object.keys(annotations).length === 0 ? metadata : { ...metadata, annotations },
    type: 'Opaque',
    data: { 'cert.pem': b64(identity.certPem), 'key.pem': b64(identity.keyPem) },
  };
}

export function caSecret(owner: Owner, org: string, ca: CertificateWithKey): V1Secret {
  return identitySecret(owner, names.caSecret(owner.name, org), ca, {
    [LABEL_SECRET_KIND]: 'ca',
    [LABEL_ORG]: org,
  });
}

export function nodeSecret(
  owner: Owner,
  node: { name: string; org: string; role: NodeRole },
  identity: CertificateWithKey,
  restartPodUid?: string,
): V1Secret {
  return identitySecret(
    owner,
    names.nodeSecret(node.name),
    identity,
    {
      [LABEL_SECRET_KIND]: 'node',
      [LABEL_ORG]: node.org,
      [LABEL_ROLE]: node.role,
      [LABEL_NODE]: node.name,
    },
    restartPodUid === undefined ? {} : { [ANNOTATION_RESTART_POD]: restartPodUid },
  );
}

export function userSecret(
  owner: Owner,
  org: string,
  role: 'admin' | 'client',
  identity: CertificateWithKey,
): V1Secret {
  return identitySecret(owner, names.userSecret(owner.name, org, role), identity, {
    [LABEL_SECRET_KIND]: role,
    [LABEL_ORG]: org,
  });
}

/** The sidecar PostgreSQL's password; generated once by the caller, kept like the keys. */
export function postgresSecret(owner: Owner, password: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(owner, names.postgresSecret(owner.name), { [LABEL_SECRET_KIND]: 'postgres' }),
    type: 'Opaque',
    immutable: true,
    data: { password: b64(password) },
  };
}

/** The signed genesis configuration: public, no keys. */
export function networkConfigMap(owner: Owner, networkYaml: string): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(owner, names.configMap(owner.name)),
    immutable: true,
    data: { [NETWORK_FILE]: networkYaml },
  };
}

/** Where a committed config update is projected beside network.yaml (`config-updates/NNNNNN.json`). */
export const CONFIG_UPDATES_DIR = 'config-updates';
/** Key of the config update the operator submitted and has not seen committed yet (never projected). */
export const PENDING_UPDATE_KEY = 'pending.json';
export const UPDATE_KEY = /^(\d{6,})\.json$/;
export const updateKey = (sequence: number): string => `${String(sequence).padStart(6, '0')}.json`;

/**
 * The committed config transactions since genesis (`NNNNNN.json`: the envelope JSON), public.
 * Mutable, unlike the genesis ConfigMap: it grows by one key per committed update.
 */
export function configUpdatesConfigMap(owner: Owner, data: Record<string, string>): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(owner, names.updatesConfigMap(owner.name)),
    data,
  };
}

function selectorLabels(network: string, role: NodeRole, org?: string): Record<string, string> {
  return { [LABEL_NETWORK]: network, [LABEL_ROLE]: role, ...(org === undefined ? {} : { [LABEL_ORG]: org }) };
}

/**
 * Headless Service per role: gives every pod `<pod>.<service>.<ns>.svc`, the host in network.yaml.
 * Not-ready addresses are published because nodes must find each other before they are ready.
 */
export function headlessService(owner: Owner, role: NodeRole): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(owner, names.headlessService(owner.name, role), { [LABEL_ROLE]: role }),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels(owner.name, role),
      ports: [
        { name: 'node', port: NODE_PORT, targetPort: 'node', protocol: 'TCP' },
        { name: 'api', port: API_PORT, targetPort: 'api', protocol: 'TCP' },
      ],
    },
  };
}

/** The client entry point: any ready peer is a gateway. */
export function gatewayService(owner: Owner): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(owner, names.gatewayService(owner.name), { [LABEL_ROLE]: 'peer' }),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(owner.name, 'peer'),
      ports: [{ name: 'api', port: API_PORT, targetPort: 'api', protocol: 'TCP' }],
    },
  };
}

/** At most f orderers may be evicted at once, so a drain never costs the 2f+1 quorum. */
export function ordererPdb(owner: Owner, orderers: number): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(owner, names.ordererPdb(owner.name), { [LABEL_ROLE]: 'orderer' }),
    spec: {
      maxUnavailable: faultTolerance(orderers),
      selector: { matchLabels: selectorLabels(owner.name, 'orderer') },
    },
  };
}

/** One peer of an organisation at a time, so its endorsements stay available during a drain. */
export function peerPdb(owner: Owner, org: string): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(owner, names.peerPdb(owner.name, org), { [LABEL_ROLE]: 'peer', [LABEL_ORG]: org }),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(owner.name, 'peer', org) } },
  };
}

function probe(
  path: string,
  periodSeconds: number,
  failureThreshold: number,
  initialDelaySeconds = 0,
): V1Probe {
  // HTTPS without certificate verification (what kubelet does): the API serves the node's certificate.
  return {
    httpGet: { path, port: 'api', scheme: 'HTTPS' },
    initialDelaySeconds,
    periodSeconds,
    timeoutSeconds: 3,
    failureThreshold,
  };
}

/**
 * The identity files of the group's nodes, projected into the layout `readNodeIdentity` expects:
 * orgs/<org>/<orderers|peers>/<name>/{cert.pem,key.pem}, beside network.yaml. Kubernetes cannot
 * mount a different Secret per StatefulSet ordinal, so a pod sees the identities of its own
 * organisation's nodes of the same role (never another organisation's, never a CA key).
 */
export function identityProjections(
  owner: Owner,
  group: NodeGroup,
  updateKeys: readonly string[] = [],
): V1VolumeProjection[] {
  const dir = group.role === 'orderer' ? 'orderers' : 'peers';
  return [
    { configMap: { name: names.configMap(owner.name), items: [{ key: NETWORK_FILE, path: NETWORK_FILE }] } },
    ...(updateKeys.length === 0
      ? []
      : [
          {
            configMap: {
              name: names.updatesConfigMap(owner.name),
              items: updateKeys.map((key) => ({ key, path: `${CONFIG_UPDATES_DIR}/${key}` })),
            },
          },
        ]),
    ...group.nodes.map((node) => ({
      secret: {
        name: names.nodeSecret(node.name),
        items: [
          { key: 'cert.pem', path: `orgs/${node.org}/${dir}/${node.name}/cert.pem` },
          { key: 'key.pem', path: `orgs/${node.org}/${dir}/${node.name}/key.pem`, mode: 0o400 },
        ],
      },
    })),
  ];
}

function databaseEnv(owner: Owner, spec: LedgerNetworkSpec): V1EnvVar[] {
  const external = spec.storage.externalSecretRef;
  if (spec.storage.mode === 'external' && external !== undefined) {
    return [
      { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: external.name, key: external.key } } },
    ];
  }
  return [
    {
      name: 'PGPASSWORD',
      valueFrom: { secretKeyRef: { name: names.postgresSecret(owner.name), key: 'password' } },
    },
    {
      name: 'DATABASE_URL',
      value: `postgres://${POSTGRES_USER}:$(PGPASSWORD)@127.0.0.1:${POSTGRES_PORT}/${POSTGRES_DB}`,
    },
  ];
}

/** The PostgreSQL sidecar as a native sidecar (restartable init container): up before the node starts. */
function postgresSidecar(owner: Owner, spec: LedgerNetworkSpec): V1Container {
  return {
    name: 'postgres',
    image: spec.storage.postgresImage,
    imagePullPolicy: spec.imagePullPolicy,
    restartPolicy: 'Always',
    // Only the node in the same pod may connect.
    args: ['-c', 'listen_addresses=127.0.0.1'],
    env: [
      { name: 'POSTGRES_USER', value: POSTGRES_USER },
      { name: 'POSTGRES_DB', value: POSTGRES_DB },
      {
        name: 'POSTGRES_PASSWORD',
        valueFrom: { secretKeyRef: { name: names.postgresSecret(owner.name), key: 'password' } },
      },
      { name: 'PGDATA', value: `${PGDATA_MOUNT}/pgdata` },
    ],
    ports: [{ name: 'postgres', containerPort: POSTGRES_PORT, protocol: 'TCP' }],
    startupProbe: {
      exec: { command: ['pg_isready', '-h', '127.0.0.1', '-U', POSTGRES_USER, '-d', POSTGRES_DB] },
      periodSeconds: 2,
      failureThreshold: 60,
    },
    resources: containerResources(spec.storage.resources),
    volumeMounts: [{ name: 'data', mountPath: PGDATA_MOUNT }],
  };
}

export function statefulSet(
  owner: Owner,
  spec: LedgerNetworkSpec,
  plan: NetworkPlan,
  group: NodeGroup,
  updateKeys: readonly string[] = [],
): V1StatefulSet {
  const labels = { [LABEL_ROLE]: group.role, [LABEL_ORG]: group.org };
  const podLabels = { ...commonLabels(owner.name), ...labels };
  const sidecar = spec.storage.mode === 'sidecar';
  const resources =
    group.role === 'orderer'
      ? spec.orderers.resources
      : spec.organisations.find((o) => o.name === group.org)?.resources;
  const node: V1Container = {
    name: 'node',
    image: spec.image,
    imagePullPolicy: spec.imagePullPolicy,
    args: ['node', 'start', '--config', `${CONFIG_DIR}/${NETWORK_FILE}`, '--name', '$(POD_NAME)'],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      ...databaseEnv(owner, spec),
    ],
    ports: [
      { name: 'node', containerPort: NODE_PORT, protocol: 'TCP' },
      { name: 'api', containerPort: API_PORT, protocol: 'TCP' },
    ],
    readinessProbe: probe('/readyz', 5, 3),
    livenessProbe: probe('/healthz', 10, 6, 30),
    resources: containerResources(resources),
    securityContext: {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: 'network', mountPath: CONFIG_DIR, readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(owner, group.statefulSet, labels),
    spec: {
      serviceName: names.headlessService(owner.name, group.role),
      replicas: group.replicas,
      // Nodes of a BFT network start independently and find each other; no ordered start-up.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate' },
      selector: { matchLabels: selectorLabels(owner.name, group.role, group.org) },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' },
      template: {
        metadata: { labels: podLabels },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
          securityContext: { fsGroup: 999, seccompProfile: { type: 'RuntimeDefault' } },
          initContainers: sidecar ? [postgresSidecar(owner, spec)] : [],
          containers: [node],
          volumes: [
            {
              name: 'network',
              projected: { defaultMode: 0o444, sources: identityProjections(owner, group, updateKeys) },
            },
            { name: 'tmp', emptyDir: {} },
          ],
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: {
                    topologyKey: 'kubernetes.io/hostname',
                    labelSelector: { matchLabels: selectorLabels(owner.name, group.role) },
                  },
                },
              ],
            },
          },
        },
      },
      volumeClaimTemplates: sidecar
        ? [
            {
              apiVersion: 'v1',
              kind: 'PersistentVolumeClaim',
              metadata: { name: 'data', labels: { ...commonLabels(owner.name), ...labels } },
              spec: {
                accessModes: ['ReadWriteOnce'],
                ...(spec.storage.storageClassName === undefined
                  ? {}
                  : { storageClassName: spec.storage.storageClassName }),
                resources: { requests: { storage: String(spec.storage.size) } },
              },
            },
          ]
        : [],
    },
  };
}

/**
 * Everything but the Secrets and the ConfigMaps, in apply order. `updateKeysOf` says which
 * committed config updates a group's pods see (a template change rolls the group's pods, so the
 * reconciler only adds new ones when the group changes anyway); `votingOrderers` sizes the PDB.
 */
export function workloadObjects(
  owner: Owner,
  spec: LedgerNetworkSpec,
  plan: NetworkPlan,
  options: { updateKeysOf?: (group: NodeGroup) => readonly string[]; votingOrderers?: number } = {},
): (V1Service | V1StatefulSet | V1PodDisruptionBudget)[] {
  return [
    headlessService(owner, 'orderer'),
    headlessService(owner, 'peer'),
    gatewayService(owner),
    ...plan.groups.map((g) => statefulSet(owner, spec, plan, g, options.updateKeysOf?.(g) ?? [])),
    ordererPdb(owner, options.votingOrderers ?? plan.orderers.length),
    ...plan.orgs.map((org) => peerPdb(owner, org)),
  ];
}
