import { localAddresses, type NodeAddress } from '../node/network/index.js';
import { LOOPBACK_ANNOTATION, type LedgerNetworkSpec } from './spec.js';

/*
 * Pure naming and placement: which nodes a LedgerNetwork has, which StatefulSet runs each, and
 * where each listens. Node names are pod names, so `--name $(POD_NAME)` finds the node in
 * network.yaml.
 */

export type NodeRole = 'orderer' | 'peer';

/** Every node listens on these in its own pod (each pod has its own IP). */
export const NODE_PORT = 7050;
export const API_PORT = 8050;

export interface PlannedNode {
  readonly name: string;
  readonly role: NodeRole;
  readonly org: string;
  /** Ordinal within its StatefulSet. */
  readonly ordinal: number;
  /** Index among the nodes of its role (orderers are spread over the organisations round-robin). */
  readonly index: number;
  readonly statefulSet: string;
}

export interface NodeGroup {
  readonly statefulSet: string;
  readonly role: NodeRole;
  readonly org: string;
  readonly replicas: number;
  readonly nodes: readonly PlannedNode[];
}

export interface NetworkPlan {
  readonly network: string;
  readonly namespace: string;
  readonly orgs: readonly string[];
  readonly orderers: readonly PlannedNode[];
  readonly peers: readonly PlannedNode[];
  /** One StatefulSet per role and organisation, including those with 0 replicas. */
  readonly groups: readonly NodeGroup[];
}

export const names = {
  statefulSet: (network: string, org: string, role: NodeRole): string => `${network}-${org}-${role}`,
  pod: (network: string, org: string, role: NodeRole, ordinal: number): string =>
    `${network}-${org}-${role}-${ordinal}`,
  headlessService: (network: string, role: NodeRole): string => `${network}-${role}s`,
  gatewayService: (network: string): string => `${network}-gateway`,
  configMap: (network: string): string => `${network}-network`,
  updatesConfigMap: (network: string): string => `${network}-config-updates`,
  caSecret: (network: string, org: string): string => `${network}-${org}-ca`,
  nodeSecret: (pod: string): string => `${pod}-identity`,
  userSecret: (network: string, org: string, role: 'admin' | 'client'): string => `${network}-${org}-${role}`,
  postgresSecret: (network: string): string => `${network}-postgres`,
  ordererPdb: (network: string): string => `${network}-orderers`,
  peerPdb: (network: string, org: string): string => `${network}-${org}-peers`,
};

/** The nodes a spec asks for; `ordererCount` overrides the spec's (the genesis' count wins). */
export function planNetwork(
  network: string,
  namespace: string,
  spec: LedgerNetworkSpec,
  ordererCount: number = spec.orderers.count,
): NetworkPlan {
  const orgs = spec.organisations.map((o) => o.name);
  const orderers = Array.from({ length: ordererCount }, (_, index): PlannedNode => {
    const org = orgs[index % orgs.length] as string;
    const ordinal = Math.floor(index / orgs.length);
    return {
      name: names.pod(network, org, 'orderer', ordinal),
      role: 'orderer',
      org,
      ordinal,
      index,
      statefulSet: names.statefulSet(network, org, 'orderer'),
    };
  });
  let peerIndex = 0;
  const peers = spec.organisations.flatMap((o) =>
    Array.from({ length: o.peers }, (_, ordinal): PlannedNode => ({
      name: names.pod(network, o.name, 'peer', ordinal),
      role: 'peer',
      org: o.name,
      ordinal,
      index: peerIndex++,
      statefulSet: names.statefulSet(network, o.name, 'peer'),
    })),
  );
  const groups = orgs.flatMap((org) =>
    (['orderer', 'peer'] as const).map((role): NodeGroup => {
      const nodes = (role === 'orderer' ? orderers : peers).filter((n) => n.org === org);
      return { statefulSet: names.statefulSet(network, org, role), role, org, replicas: nodes.length, nodes };
    }),
  );
  return { network, namespace, orgs, orderers, peers, groups };
}

export type AddressOf = (node: PlannedNode) => NodeAddress;

/** In-cluster addresses: the pod's stable DNS name under its role's headless Service. */
export function clusterAddresses(network: string, namespace: string): AddressOf {
  return (node) => {
    const service = names.headlessService(network, node.role);
    const host = `${node.name}.${service}.${namespace}.svc`;
    const gateway = names.gatewayService(network);
    const gatewayNames =
      node.role === 'peer' ? [gateway, `${gateway}.${namespace}`, `${gateway}.${namespace}.svc`] : [];
    return {
      host,
      port: NODE_PORT,
      apiPort: API_PORT,
      dnsNames: [
        host,
        `${host}.cluster.local`,
        `${node.name}.${service}`,
        `${node.name}.${service}.${namespace}`,
        ...gatewayNames,
        'localhost',
      ],
      ipAddresses: ['127.0.0.1'],
    };
  };
}

/** Parses the test-only loopback annotation; undefined when absent, throws on a malformed one. */
export function loopbackOverride(
  annotations: Readonly<Record<string, string>>,
): { host: string; basePort: number } | undefined {
  const value = annotations[LOOPBACK_ANNOTATION];
  if (value === undefined) return undefined;
  const match = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}):(\d{1,5})$/.exec(value);
  if (match === null)
    throw new RangeError(`annotation ${LOOPBACK_ANNOTATION} must be "127.a.b.c:basePort", got "${value}"`);
  return { host: match[1] as string, basePort: Number(match[2]) };
}

export function addressesFor(
  network: string,
  namespace: string,
  annotations: Readonly<Record<string, string>>,
): AddressOf {
  const loopback = loopbackOverride(annotations);
  if (loopback === undefined) return clusterAddresses(network, namespace);
  const local = localAddresses(loopback.host, loopback.basePort);
  return (node) => local(node.role, node.name, node.index);
}
