import type { TransportLogger } from './logger.js';
import { localNetwork, startNode, waitFor } from './local-network.js';
import type { Transport } from './transport.js';

export interface BenchTransportOptions {
  /** How long each scenario sends; bounded so a run takes seconds, not minutes. */
  readonly durationMs?: number;
  /** MESSAGE payload sizes to measure. */
  readonly frameSizes?: readonly number[];
  readonly logger?: TransportLogger;
}

export interface BenchTransportRow {
  /** `link` (one mTLS link, one direction) or `mesh4` (4 nodes, each broadcasting to the 3 others). */
  readonly scenario: string;
  readonly frameBytes: number;
  /** Messages delivered to `onMessage`, all receivers together, per second. */
  readonly messagesPerSec: number;
  /** Payload megabytes (10^6) delivered per second, all receivers together. */
  readonly mbPerSec: number;
}

export interface BenchTransportResult {
  readonly rows: BenchTransportRow[];
}

export const BENCH_DURATION_MS = 2_000;
export const BENCH_FRAME_SIZES = [256, 64 * 1024] as const;
/** Messages in flight per sender: enough to keep every socket busy, few enough never to fill a queue. */
const WINDOW_BYTES = 8 * 1024 * 1024;
const WINDOW_MESSAGES_MAX = 4_096;
/** After a scenario, in-flight messages get this long to arrive before the next one starts. */
const SETTLE_TIMEOUT_MS = 10_000;
const MESH_TIMEOUT_MS = 10_000;

/**
 * Messages/s and MB/s over real mTLS 1.3 sockets on loopback, all nodes in this one process (so the
 * figures include every node's TLS and framing work on a shared event loop: a floor, not a ceiling).
 * Senders keep a bounded window of messages in flight, so nothing is dropped and what is measured is
 * delivery, not queueing.
 */
export async function benchTransport(options: BenchTransportOptions = {}): Promise<BenchTransportResult> {
  const durationMs = options.durationMs ?? BENCH_DURATION_MS;
  const frameSizes = options.frameSizes ?? BENCH_FRAME_SIZES;
  const rows: BenchTransportRow[] = [];
  for (const [scenario, orderers] of [
    ['link', 2],
    ['mesh4', 4],
  ] as const) {
    const cluster = await Cluster.start(orderers, options.logger);
    try {
      for (const frameBytes of frameSizes) {
        const delivered = await cluster.run(scenario === 'link', frameBytes, durationMs);
        const seconds = durationMs / 1000;
        rows.push({
          scenario,
          frameBytes,
          messagesPerSec: Math.round(delivered / seconds),
          mbPerSec: Math.round(((delivered * frameBytes) / seconds / 1e6) * 10) / 10,
        });
      }
    } finally {
      await cluster.close();
    }
  }
  return { rows };
}

class Cluster {
  private readonly outstanding = new Map<string, number>();
  private readonly waiters = new Map<string, () => void>();
  private counting = false;
  private delivered = 0;
  private windowMessages = 1;

  private constructor(private readonly transports: Map<string, Transport>) {}

  static async start(orderers: number, logger: TransportLogger | undefined): Promise<Cluster> {
    const material = await localNetwork({ orderers, networkId: 'bench' });
    const transports = new Map<string, Transport>();
    const cluster = new Cluster(transports);
    for (const node of material.orderers) {
      const transport = await startNode(material, node.entry.name, {
        onMessage: (from) => {
          cluster.onDelivered(from.name);
        },
        ...(logger === undefined ? {} : { logger }),
      });
      transports.set(node.entry.name, transport);
    }
    await waitFor(
      () => [...transports.values()].every((t) => t.connectedPeers().length === orderers - 1),
      MESH_TIMEOUT_MS,
      'a full mesh',
    );
    return cluster;
  }

  /** Messages delivered within `durationMs`. One sender for a link, every node for the mesh. */
  async run(oneLink: boolean, frameBytes: number, durationMs: number): Promise<number> {
    const payload = Buffer.alloc(frameBytes, 0xab);
    const names = [...this.transports.keys()];
    const senders = oneLink ? names.slice(0, 1) : names;
    this.windowMessages = Math.max(1, Math.min(WINDOW_MESSAGES_MAX, Math.floor(WINDOW_BYTES / frameBytes)));
    this.delivered = 0;
    this.counting = true;
    const deadline = Date.now() + durationMs;
    await Promise.all(
      senders.map(async (name) => this.pump(name, oneLink ? names[1] : undefined, payload, deadline)),
    );
    this.counting = false;
    const delivered = this.delivered;
    await waitFor(
      () => [...this.outstanding.values()].every((n) => n === 0),
      SETTLE_TIMEOUT_MS,
      'in-flight messages to arrive',
    );
    return delivered;
  }

  async close(): Promise<void> {
    await Promise.all([...this.transports.values()].map(async (t) => t.close()));
  }

  private onDelivered(from: string): void {
    if (this.counting) this.delivered += 1;
    const left = (this.outstanding.get(from) ?? 0) - 1;
    this.outstanding.set(from, left);
    if (left <= this.windowMessages / 2) {
      const wake = this.waiters.get(from);
      this.waiters.delete(from);
      wake?.();
    }
  }

  private async pump(
    name: string,
    target: string | undefined,
    payload: Buffer,
    deadline: number,
  ): Promise<void> {
    const transport = this.transports.get(name);
    if (transport === undefined) return;
    while (Date.now() < deadline) {
      if ((this.outstanding.get(name) ?? 0) >= this.windowMessages) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
          this.waiters.set(name, () => {
            clearTimeout(timer);
            resolve();
          });
        });
        continue;
      }
      const sent =
        target === undefined
          ? transport.broadcast(payload).queued
          : transport.send(target, payload) === 'queued'
            ? 1
            : 0;
      if (sent === 0) throw new Error(`benchmark sender ${name} could not queue a message`);
      this.outstanding.set(name, (this.outstanding.get(name) ?? 0) + sent);
    }
  }
}
