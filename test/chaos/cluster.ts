import { Agent, request } from 'node:https';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadNetworkDir, type LoadedNetwork } from '../../node/config/index.js';
import { nodeSchema } from '../../node/ledger/index.js';
import { ChainnodeClient } from '../../node/sdk/index.js';
import { randomLoopback, runChainnode } from '../support/processes.js';
import { NodeProcess } from './node-process.js';
import { FaultProxy, type Direction } from './proxy.js';

/** What the runner reads of a node's /status. */
export interface NodeStatus {
  readonly name: string;
  readonly height: number;
  readonly headHash: string;
  readonly leaderName: string | null;
  readonly view: number | null;
  readonly connectedPeers: readonly string[];
}

export interface Identity {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A JSON request to a node's API with a deadline of our own (a frozen node never answers). */
export function callJson<T>(
  agent: Agent,
  url: URL,
  method: 'GET' | 'POST',
  path: string,
  body: unknown,
  timeoutMs: number,
): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        method,
        host: url.hostname,
        port: url.port,
        path,
        agent,
        headers:
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': String(payload.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            reject(new CallError(status, 'BAD_JSON', text.slice(0, 200)));
            return;
          }
          if (status >= 400) {
            const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
            reject(new CallError(status, e?.code ?? `HTTP_${status}`, e?.message ?? text.slice(0, 200)));
          } else resolve(parsed as T);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new CallError(0, 'TIMEOUT', `${method} ${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e instanceof CallError ? e : new CallError(0, e.code ?? 'UNREACHABLE', e.message));
    });
    req.end(payload);
  });
}

export class CallError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ClusterOptions {
  /** Where the network directory is created. */
  readonly dir: string;
  readonly logDir: string;
  /** The real PostgreSQL; every node reaches it through a relay of its own. */
  readonly databaseUrl: string;
  /** Prefix of the per-run schemas (`<prefix>_<node>`). */
  readonly schemaPrefix: string;
  /** Delay jitter in the relays. */
  readonly random: () => number;
}

/**
 * A local network of real `chainnode node start` processes (4 orderers, 2 orgs with a peer each),
 * in which every node-to-node dial and every node's PostgreSQL connection go through a
 * FaultProxy the runner controls. The lower name of two members dials (node/transport), so there
 * is one relay per pair, `a->b` with a < b.
 */
export class ChaosCluster {
  readonly procs = new Map<string, NodeProcess>();
  private readonly runs = new Map<string, number>();
  readonly schemas = new Map<string, string>();
  private readonly agents = new Map<string, Agent>();
  private readonly clients = new Map<string, ChainnodeClient>();

  private constructor(
    readonly options: ClusterOptions,
    readonly network: LoadedNetwork,
    readonly linkProxies: ReadonlyMap<string, FaultProxy>,
    readonly dbProxies: ReadonlyMap<string, FaultProxy>,
    readonly admin: Identity,
    readonly users: ReadonlyMap<string, Identity>,
  ) {
    for (const name of this.names) this.schemas.set(name, `${options.schemaPrefix}_${nodeSchema(name)}`);
  }

  static async create(options: ClusterOptions): Promise<ChaosCluster> {
    const { host, basePort } = randomLoopback();
    const init = await runChainnode([
      'network',
      'init',
      '--orderers',
      '4',
      '--orgs',
      '2',
      '--peers-per-org',
      '1',
      '--host',
      host,
      '--base-port',
      String(basePort),
      '--out',
      options.dir,
    ]);
    if (init.code !== 0) throw new Error(`network init failed: ${init.stderr}`);
    const network = await loadNetworkDir(options.dir);
    // Relays on a loopback address of their own, so their kernel-chosen ports never take a node's.
    const relayHost = host.replace(/\.1$/, '.2');
    const members = [...network.config.orderers, ...network.config.peers];
    const links = new Map<string, FaultProxy>();
    for (const a of members) {
      for (const b of members) {
        if (a.name >= b.name) continue;
        const label = `${a.name}->${b.name}`;
        links.set(
          label,
          await FaultProxy.start({
            label,
            listenHost: relayHost,
            target: { host: b.host, port: b.port },
            random: options.random,
          }),
        );
      }
    }
    const db = new URL(options.databaseUrl);
    const dbs = new Map<string, FaultProxy>();
    for (const m of members) {
      dbs.set(
        m.name,
        await FaultProxy.start({
          label: `${m.name}->postgres`,
          listenHost: relayHost,
          target: { host: db.hostname, port: Number(db.port === '' ? '5432' : db.port) },
        }),
      );
    }
    const read = async (org: string, user: string): Promise<Identity> => ({
      certPem: await readFile(join(options.dir, `orgs/${org}/users/${user}/cert.pem`), 'utf8'),
      keyPem: await readFile(join(options.dir, `orgs/${org}/users/${user}/key.pem`), 'utf8'),
    });
    const users = new Map<string, Identity>();
    for (const org of network.config.orgs) users.set(org.name, await read(org.name, 'client'));
    return new ChaosCluster(options, network, links, dbs, await read('org1', 'admin'), users);
  }

  get orderers(): string[] {
    return this.network.config.orderers.map((o) => o.name);
  }

  get peers(): string[] {
    return this.network.config.peers.map((p) => p.name);
  }

  get names(): string[] {
    return [...this.orderers, ...this.peers];
  }

  entry(name: string): { name: string; org: string; host: string; port: number; apiPort: number } {
    const e = [...this.network.config.orderers, ...this.network.config.peers].find((n) => n.name === name);
    if (e === undefined) throw new RangeError(`no node ${name}`);
    return e;
  }

  isOrderer(name: string): boolean {
    return this.orderers.includes(name);
  }

  /** The relay carrying the link between `a` and `b`, and which of its directions is a -> b. */
  link(a: string, b: string): { proxy: FaultProxy; from: (node: string) => Direction } {
    const [low, high] = a < b ? [a, b] : [b, a];
    const proxy = this.linkProxies.get(`${low}->${high}`);
    if (proxy === undefined) throw new RangeError(`no link ${a}-${b}`);
    return { proxy, from: (node) => (node === low ? 'forward' : 'backward') };
  }

  /** Every link of `node`, with the other end. */
  linksOf(node: string): { other: string; proxy: FaultProxy; out: Direction; in: Direction }[] {
    return this.names
      .filter((n) => n !== node)
      .map((other) => {
        const { proxy, from } = this.link(node, other);
        return { other, proxy, out: from(node), in: from(other) };
      });
  }

  /** Starts `name` (again): its own schema, its PostgreSQL relay, its dials through the relays. */
  start(name: string): NodeProcess {
    const run = (this.runs.get(name) ?? 0) + 1;
    this.runs.set(name, run);
    const overrides: Record<string, string> = {};
    for (const other of this.names) {
      if (other > name) overrides[other] = this.link(name, other).proxy.address;
    }
    const db = new URL(this.options.databaseUrl);
    const relay = this.dbProxies.get(name);
    if (relay === undefined) throw new RangeError(`no database relay for ${name}`);
    db.hostname = relay.host;
    db.port = String(relay.port);
    const proc = new NodeProcess(
      name,
      run,
      [
        'node',
        'start',
        '--config',
        join(this.options.dir, 'network.yaml'),
        '--name',
        name,
        '--schema',
        this.schemas.get(name) ?? '',
      ],
      { DATABASE_URL: db.toString(), CHAINNODE_DIAL_OVERRIDES: JSON.stringify(overrides) },
      this.options.logDir,
    );
    this.procs.set(name, proc);
    return proc;
  }

  proc(name: string): NodeProcess {
    const p = this.procs.get(name);
    if (p === undefined) throw new RangeError(`${name} was never started`);
    return p;
  }

  apiUrl(name: string): URL {
    const e = this.entry(name);
    return new URL(`https://${e.host}:${e.apiPort}`);
  }

  /** An HTTPS agent speaking as `identity` (the org1 admin unless given) to the nodes' APIs. */
  agent(identity: Identity = this.admin, key = 'admin'): Agent {
    let agent = this.agents.get(key);
    if (agent === undefined) {
      agent = new Agent({
        keepAlive: true,
        maxSockets: 64,
        cert: identity.certPem,
        key: identity.keyPem,
        ca: this.network.config.orgs.flatMap((o) => o.caCerts),
        minVersion: 'TLSv1.3',
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** The SDK client of `identity` for `name`'s API (kept alive, one per pair). */
  client(name: string, identity: Identity = this.admin, key = 'admin'): ChainnodeClient {
    const id = `${key}@${name}`;
    let c = this.clients.get(id);
    if (c === undefined) {
      c = ChainnodeClient.connect({
        url: this.apiUrl(name).toString(),
        ...identity,
        caCerts: this.network.config.orgs.flatMap((o) => o.caCerts),
      });
      this.clients.set(id, c);
    }
    return c;
  }

  /** `name`'s /status, or undefined if it does not answer within `timeoutMs`. */
  async status(name: string, timeoutMs = 2_000): Promise<NodeStatus | undefined> {
    try {
      return await callJson<NodeStatus>(
        this.agent(),
        this.apiUrl(name),
        'GET',
        '/status',
        undefined,
        timeoutMs,
      );
    } catch {
      return undefined;
    }
  }

  async statuses(timeoutMs = 2_000): Promise<Map<string, NodeStatus | undefined>> {
    const all = await Promise.all(this.names.map(async (n) => [n, await this.status(n, timeoutMs)] as const));
    return new Map(all);
  }

  /** Lifts every impairment of every relay. */
  healNetwork(): void {
    for (const p of [...this.linkProxies.values(), ...this.dbProxies.values()]) p.heal();
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    for (const a of this.agents.values()) a.destroy();
    await Promise.all([...this.procs.values()].map((p) => p.stop('SIGKILL', 10_000)));
    await Promise.all([...this.linkProxies.values(), ...this.dbProxies.values()].map((p) => p.close()));
  }
}
