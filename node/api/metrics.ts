import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ChainNode } from '../node/index.js';
import type { OrdererRole } from '../orderer/index.js';
import { validationCodeName } from '../protocol/index.js';

/**
 * Prometheus metrics of one node, in a registry of its own (several nodes may share a process
 * in tests). Gauges are read at scrape time from the node, so they are never stale.
 */
export function nodeMetrics(
  node: ChainNode,
  orderer: OrdererRole | undefined,
  transportMetrics: () => {
    connectedPeers: number;
    framesDropped: number;
    bytesIn: number;
    bytesOut: number;
  },
): { registry: Registry; submitSeconds: Histogram } {
  const registry = new Registry();
  registry.setDefaultLabels({ node: node.name, role: node.role });
  new Gauge({
    name: 'chainnode_height',
    help: 'Height of the last committed block',
    registers: [registry],
    collect() {
      this.set(node.chainHead.height);
    },
  });
  new Gauge({
    name: 'chainnode_connected_peers',
    help: 'Members with an authenticated link up',
    registers: [registry],
    collect() {
      this.set(transportMetrics().connectedPeers);
    },
  });
  new Gauge({
    name: 'chainnode_transport_frames_dropped',
    help: 'Frames dropped because a peer queue was full',
    registers: [registry],
    collect() {
      this.set(transportMetrics().framesDropped);
    },
  });
  new Gauge({
    name: 'chainnode_transport_bytes',
    help: 'Bytes through the transport',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      const m = transportMetrics();
      this.set({ direction: 'in' }, m.bytesIn);
      this.set({ direction: 'out' }, m.bytesOut);
    },
  });
  if (orderer !== undefined) {
    new Gauge({
      name: 'chainnode_consensus_view',
      help: 'Current consensus view',
      registers: [registry],
      collect() {
        const metrics = orderer.metrics();
        if (metrics !== undefined) this.set(metrics.view);
      },
    });
    new Gauge({
      name: 'chainnode_consensus_view_changes',
      help: 'View changes since start',
      registers: [registry],
      collect() {
        const metrics = orderer.metrics();
        if (metrics !== undefined) this.set(metrics.viewChanges);
      },
    });
    new Gauge({
      name: 'chainnode_consensus_rejected_messages',
      help: 'Consensus messages and requests refused, by reason',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        for (const [reason, count] of Object.entries(orderer.metrics()?.rejected ?? {}))
          this.set({ reason }, count);
      },
    });
  }
  const txs = new Counter({
    name: 'chainnode_transactions_total',
    help: 'Committed transactions by validation code',
    labelNames: ['code'],
    registers: [registry],
  });
  const blocks = new Counter({
    name: 'chainnode_blocks_total',
    help: 'Committed blocks',
    registers: [registry],
  });
  node.events.on('block', ({ codes }) => {
    blocks.inc();
    for (const code of codes) txs.inc({ code: validationCodeName(code) });
  });
  const submitSeconds = new Histogram({
    name: 'chainnode_submit_seconds',
    help: 'Gateway submit latency, from submission to this peer committing the transaction',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return { registry, submitSeconds };
}
