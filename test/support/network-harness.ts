import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { writeNetworkDir } from '../../node/config/index.js';
import { SigningKey } from '../../node/crypto/index.js';
import { generateNetwork, localAddresses, type NetworkMaterial } from '../../node/network/index.js';
import { ChainNode } from '../../node/node/index.js';
import { OrdererRole } from '../../node/orderer/index.js';
import { PeerRole } from '../../node/peer/index.js';
import type { ClientIdentity } from '../../node/sdk/index.js';
import { dropSchema, testDatabaseUrl, uniqueSchema } from './database.js';
import { randomLoopback } from './processes.js';

/**
 * A whole network in one test process: every node a real ChainNode with its own schema in the
 * test PostgreSQL and real mutual-TLS links on a loopback address of its own.
 */
export class InProcessNetwork {
  readonly orderers = new Map<string, OrdererRole>();
  readonly peers = new Map<string, PeerRole>();
  private readonly schemas = new Map<string, string>();

  private constructor(
    readonly dir: string,
    readonly material: NetworkMaterial,
    readonly client: ClientIdentity,
    private readonly logger: Logger,
  ) {}

  static async start(options: {
    orderers: number;
    orgs: number;
    logLevel?: string;
  }): Promise<InProcessNetwork> {
    const dir = await mkdtemp(join(tmpdir(), 'chainnode-net-'));
    const { host, basePort } = randomLoopback();
    const material = await generateNetwork({
      orderers: options.orderers,
      orgs: options.orgs,
      peersPerOrg: 1,
      address: localAddresses(host, basePort),
      consensus: { batchTimeoutMs: 20, viewTimeoutMs: 1_000 },
    });
    await writeNetworkDir(dir, material);
    const user = material.users.find((u) => u.org === 'org1' && u.role === 'client');
    if (user === undefined) throw new Error('no client');
    const client = {
      identity: { org: user.org, cert: user.certPem },
      key: SigningKey.fromPem(user.keyPem),
    } as ClientIdentity;
    const net = new InProcessNetwork(dir, material, client, pino({ level: options.logLevel ?? 'silent' }));
    await Promise.all([...material.orderers, ...material.peers].map((n) => net.startNode(n.entry.name)));
    return net;
  }

  async startNode(name: string): Promise<void> {
    let schema = this.schemas.get(name);
    if (schema === undefined) {
      schema = uniqueSchema(name.replaceAll('-', '_'));
      this.schemas.set(name, schema);
    }
    const node = await ChainNode.start({
      networkFile: join(this.dir, 'network.yaml'),
      name,
      databaseUrl: testDatabaseUrl(),
      schema,
      logger: this.logger.child({ node: name }),
    });
    if (node.role === 'orderer') this.orderers.set(name, await OrdererRole.attach(node));
    else this.peers.set(name, await PeerRole.attach(node));
  }

  async stopNode(name: string): Promise<void> {
    const role = this.orderers.get(name) ?? this.peers.get(name);
    if (role === undefined) return;
    role.stop();
    await role.node.stop();
    this.orderers.delete(name);
    this.peers.delete(name);
  }

  peer(name = 'peer0-org1'): PeerRole {
    const p = this.peers.get(name);
    if (p === undefined) throw new Error(`no running peer ${name}`);
    return p;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.orderers.keys(), ...this.peers.keys()].map((n) => this.stopNode(n)));
    await Promise.all([...this.schemas.values()].map(dropSchema));
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Polls `condition` (bounded by `timeoutMs`) on the event loop; for cross-node convergence. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
