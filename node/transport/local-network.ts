import { generateNetwork } from '../network/index.js';
import { freeLoopbackPort } from '../util/ports.js';
import type { GeneratedNode, NetworkMaterial } from '../network/index.js';
import { Transport } from './transport.js';
import type { TransportOptions } from './transport.js';

/** Loopback only: this is for benchmarks and tests, which must never listen on a public interface. */
export const LOCAL_HOST = '127.0.0.1';

export interface LocalNetworkOptions {
  readonly orderers: number;
  readonly orgs?: number;
  readonly peersPerOrg?: number;
  readonly networkId?: string;
  /** Issue every certificate as if at this instant (tests back-date networks to issue expired certificates). */
  readonly now?: Date;
}

/** A generated network whose nodes all listen on distinct free loopback ports. */
export async function localNetwork(options: LocalNetworkOptions): Promise<NetworkMaterial> {
  const orgs = options.orgs ?? 1;
  const peersPerOrg = options.peersPerOrg ?? 0;
  const count = options.orderers + orgs * peersPerOrg;
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freeLoopbackPort(LOCAL_HOST));
  const portList = [...ports];
  return generateNetwork({
    orderers: options.orderers,
    orgs,
    peersPerOrg,
    ...(options.networkId === undefined ? {} : { networkId: options.networkId }),
    ...(options.now === undefined ? {} : { now: options.now }),
    address: (role, _name, index) => {
      const port = portList[role === 'orderer' ? index : options.orderers + index] ?? 0;
      return { host: LOCAL_HOST, port, apiPort: 0, dnsNames: ['localhost'], ipAddresses: [LOCAL_HOST] };
    },
  });
}

export function nodeOf(material: NetworkMaterial, name: string): GeneratedNode {
  const node = [...material.orderers, ...material.peers].find((n) => n.entry.name === name);
  if (node === undefined) throw new RangeError(`no node "${name}" in the generated network`);
  return node;
}

/** Starts the transport of one generated node with its own key and the network's configuration. */
export async function startNode(
  material: NetworkMaterial,
  name: string,
  options: Omit<TransportOptions, 'config' | 'name' | 'keyPem'>,
): Promise<Transport> {
  return Transport.start({
    config: material.config,
    name,
    keyPem: nodeOf(material, name).keyPem,
    ...options,
  });
}

/** Polls `condition` until it holds; throws naming `what` once `timeoutMs` has passed. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
