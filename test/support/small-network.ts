import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startApiServer, type ApiServer } from '../../node/api/index.js';
import { writeNetworkDir } from '../../node/config/index.js';
import {
  generateNetwork,
  localAddresses,
  signConfig,
  type NetworkMaterial,
} from '../../node/network/index.js';
import { ChainNode } from '../../node/node/index.js';
import { OrdererRole } from '../../node/orderer/index.js';
import { PeerRole } from '../../node/peer/index.js';
import { buildGenesisBlock, type NetworkConfig } from '../../node/protocol/index.js';
import { ChainnodeClient } from '../../node/sdk/index.js';
import { dropSchema, testDatabaseUrl, uniqueSchema } from './database.js';
import { randomLoopback } from './processes.js';

/**
 * One orderer and peers in one test process, each a real ChainNode with its own schema in the
 * test PostgreSQL, real mutual-TLS links and its real HTTPS API. Unlike InProcessNetwork
 * (network-harness.ts) the policies can be set and some organisations can have no peer, and
 * every log line of every node is kept, for tests of permissions, refusals and log hygiene.
 */
export class SmallNetwork {
  readonly orderers = new Map<string, OrdererRole>();
  readonly peers = new Map<string, PeerRole>();
  readonly apis = new Map<string, ApiServer>();
  readonly schemas = new Map<string, string>();
  /** Every JSON log line any node of this network wrote, in order. */
  readonly logLines: string[] = [];
  readonly caCerts: string[];

  private constructor(
    readonly dir: string,
    readonly material: NetworkMaterial,
  ) {
    this.caCerts = material.config.orgs.flatMap((o) => o.caCerts);
  }

  /**
   * `orgs` organisations; orderer0 and a peer in each of `peerOrgs` (default: every org);
   * `policies` override the defaults; `now` back-dates every certificate (and the genesis).
   */
  static async start(options: {
    orgs: number;
    peerOrgs?: readonly string[];
    policies?: Partial<NetworkConfig['policies']>;
    now?: Date;
    logLevel?: string;
  }): Promise<SmallNetwork> {
    const { host, basePort } = randomLoopback();
    const now = options.now ?? new Date();
    const generated = await generateNetwork({
      orderers: 1,
      orgs: options.orgs,
      peersPerOrg: 1,
      address: localAddresses(host, basePort),
      consensus: { batchTimeoutMs: 20, viewTimeoutMs: 1_000 },
      now,
    });
    const peers = generated.peers.filter((p) => options.peerOrgs?.includes(p.entry.org) ?? true);
    const config: NetworkConfig = {
      ...generated.config,
      peers: peers.map((p) => p.entry),
      policies: { ...generated.config.policies, ...options.policies },
    };
    const admins = generated.users.filter((u) => u.role === 'admin');
    const material: NetworkMaterial = {
      ...generated,
      config,
      peers,
      genesis: buildGenesisBlock(signConfig(config, admins), now.getTime()),
    };
    const dir = await mkdtemp(join(tmpdir(), 'chainnode-small-'));
    await writeNetworkDir(dir, material);
    const net = new SmallNetwork(dir, material);
    try {
      for (const node of [...material.orderers, ...material.peers])
        await net.startNode(node.entry.name, options.logLevel ?? 'debug');
    } catch (e) {
      await net.stop();
      throw e;
    }
    return net;
  }

  private async startNode(name: string, level: string): Promise<void> {
    const schema = uniqueSchema(name.replaceAll('-', '_'));
    this.schemas.set(name, schema);
    const logger = pino(
      { level, base: { node: name } },
      {
        write: (line: string) => {
          this.logLines.push(line);
        },
      },
    );
    const node = await ChainNode.start({
      networkFile: join(this.dir, 'network.yaml'),
      name,
      databaseUrl: testDatabaseUrl(),
      schema,
      logger,
    });
    const role = node.role === 'orderer' ? await OrdererRole.attach(node) : await PeerRole.attach(node);
    if (role instanceof OrdererRole) this.orderers.set(name, role);
    else this.peers.set(name, role);
    const identity = this.nodeIdentity(name);
    this.apis.set(
      name,
      await startApiServer({
        node,
        orderer: role instanceof OrdererRole ? role : undefined,
        peer: role instanceof PeerRole ? role : undefined,
        certPem: identity.certPem,
        keyPem: identity.keyPem,
        port: 0,
        logger: logger.child({ component: 'api' }),
      }),
    );
  }

  /** Stops a node (its API, role and ChainNode); its schema stays until stop(). */
  async stopNode(name: string): Promise<void> {
    await this.apis.get(name)?.close();
    this.apis.delete(name);
    const role = this.orderers.get(name) ?? this.peers.get(name);
    if (role === undefined) return;
    role.stop();
    await role.node.stop();
    this.orderers.delete(name);
    this.peers.delete(name);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.orderers.keys(), ...this.peers.keys()].map((n) => this.stopNode(n)));
    await Promise.all([...this.schemas.values()].map(dropSchema));
    await rm(this.dir, { recursive: true, force: true });
  }

  peer(name = 'peer0-org1'): PeerRole {
    const p = this.peers.get(name);
    if (p === undefined) throw new Error(`no running peer ${name}`);
    return p;
  }

  orderer(name = 'orderer0'): OrdererRole {
    const o = this.orderers.get(name);
    if (o === undefined) throw new Error(`no running orderer ${name}`);
    return o;
  }

  apiUrl(name: string): string {
    const api = this.apis.get(name);
    if (api === undefined) throw new Error(`no API for ${name}`);
    return api.url;
  }

  user(org: string, role: 'admin' | 'client'): { certPem: string; keyPem: string } {
    const u = this.material.users.find((x) => x.org === org && x.role === role);
    if (u === undefined) throw new Error(`no ${role} of ${org}`);
    return { certPem: u.certPem, keyPem: u.keyPem };
  }

  nodeIdentity(name: string): { certPem: string; keyPem: string } {
    const n = [...this.material.orderers, ...this.material.peers].find((x) => x.entry.name === name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return { certPem: n.entry.cert, keyPem: n.keyPem };
  }

  client(node: string, who: { certPem: string; keyPem: string }): ChainnodeClient {
    return ChainnodeClient.connect({ url: this.apiUrl(node), ...who, caCerts: this.caCerts });
  }

  /** Every private key of the network (CAs, nodes, users), as PEM. */
  privateKeys(): string[] {
    return [
      ...this.material.cas.map((c) => c.keyPem),
      ...this.material.orderers.map((o) => o.keyPem),
      ...this.material.peers.map((p) => p.keyPem),
      ...this.material.users.map((u) => u.keyPem),
    ];
  }
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * One HTTPS request with full control of method, path, headers and body bytes, over `agent`
 * (which carries the client certificate, if any); the server's certificate is checked.
 */
export function rawRequest(
  url: string,
  agent: Agent,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Uint8Array | string } = {},
): Promise<RawResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: target.hostname, port: target.port, method, path, agent, headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A keep-alive agent presenting `who` (or no certificate) and trusting the network's CAs. */
export function agentFor(caCerts: readonly string[], who?: { certPem: string; keyPem: string }): Agent {
  return new Agent({
    keepAlive: true,
    ca: [...caCerts],
    minVersion: 'TLSv1.3',
    ...(who === undefined ? {} : { cert: who.certPem, key: who.keyPem }),
  });
}
