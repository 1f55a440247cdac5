import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of the operator, served with /healthz and /readyz on one port. */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'chainnode_operator_reconcile_total',
    help: 'Reconciles by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly reconcileSeconds = new Histogram({
    name: 'chainnode_operator_reconcile_duration_seconds',
    help: 'Time per reconcile',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'chainnode_operator_workqueue_depth',
    help: 'Keys waiting in the work queue',
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'chainnode_operator_leader',
    help: '1 while this replica holds the leader Lease',
    registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: 'chainnode_operator_watch_restarts_total',
    help: 'Watches re-opened (server timeout, error or 410 Gone)',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });
}

export function serveMetrics(metrics: OperatorMetrics, port: number, ready: () => boolean): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    } else if (req.url === '/healthz') {
      res.writeHead(200);
      res.end('ok');
    } else if (req.url === '/readyz') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503);
      res.end(ok ? 'ok' : 'not ready');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      resolve(server);
    });
  });
}
