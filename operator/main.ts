import { KubeConfig } from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { pino } from 'pino';
import { Controller } from './controller.js';
import { eventRecorder } from './events.js';
import { KubeClient } from './kube.js';
import { LeaderElector } from './leader.js';
import { OperatorMetrics, serveMetrics } from './metrics.js';
import { Reconciler } from './reconciler.js';

/*
 * `node dist/operator/main.js`: the operator process. Configuration by environment:
 *   KUBECONFIG                 kubeconfig file (else the in-cluster service account)
 *   WATCH_NAMESPACES           comma-separated namespaces to reconcile (empty: all)
 *   POD_NAME / POD_NAMESPACE   this replica's identity and the Lease's namespace
 *   LEADER_ELECTION_ID         Lease name (default chainnode-operator)
 *   LEASE_DURATION_MS, RENEW_DEADLINE_MS, RETRY_PERIOD_MS   leader election timing
 *   METRICS_PORT               /metrics, /healthz, /readyz (default 8080; 0 = any free port)
 *   LOG_LEVEL                  pino level (default info)
 *   CERT_RENEW_FRACTION        renew a node certificate once less than this fraction of its
 *                              lifetime is left (default 0.333; 0 < x < 1)
 * Logs are JSON lines on stdout. SIGTERM releases the Lease, so a standby takes over at once.
 */

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new RangeError(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

async function main(): Promise<void> {
  const log = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { component: 'chainnode-operator' } });
  const config = new KubeConfig();
  if (process.env.KUBECONFIG !== undefined && process.env.KUBECONFIG !== '')
    config.loadFromFile(process.env.KUBECONFIG);
  else config.loadFromCluster();
  const client = new KubeClient(config);
  const identity = process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
  const leaseNamespace = process.env.POD_NAMESPACE ?? 'default';
  const namespaces = (process.env.WATCH_NAMESPACES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const metrics = new OperatorMetrics();
  const renewRaw = process.env.CERT_RENEW_FRACTION;
  const renewFraction = renewRaw === undefined || renewRaw === '' ? undefined : Number(renewRaw);
  if (renewFraction !== undefined && !(renewFraction > 0 && renewFraction < 1))
    throw new RangeError(`CERT_RENEW_FRACTION must be a number between 0 and 1, got "${renewRaw ?? ''}"`);
  const reconciler = new Reconciler({
    client,
    log,
    event: eventRecorder(client, identity, log),
    ...(renewFraction === undefined ? {} : { renewFraction }),
  });
  let controller: Controller | undefined;

  const elector = new LeaderElector(
    client,
    {
      namespace: leaseNamespace,
      name: process.env.LEADER_ELECTION_ID ?? 'chainnode-operator',
      identity,
      leaseDurationMs: intEnv('LEASE_DURATION_MS', 15_000),
      renewDeadlineMs: intEnv('RENEW_DEADLINE_MS', 10_000),
      retryPeriodMs: intEnv('RETRY_PERIOD_MS', 2_000),
    },
    {
      onStartedLeading: () => {
        metrics.leader.set(1);
        controller = new Controller(client, reconciler, { namespaces }, metrics, log);
        controller.start();
        log.info(
          { identity, namespaces: namespaces.length === 0 ? 'all' : namespaces },
          'controller started',
        );
      },
      onStoppedLeading: () => {
        metrics.leader.set(0);
        // A replica that lost the Lease may already be replaced; stop at once and let the
        // Deployment restart it as a standby (client-go's behaviour too).
        log.error('leadership lost; exiting');
        void controller?.stop().finally(() => process.exit(1));
      },
    },
    log,
  );
  const server = await serveMetrics(metrics, intEnv('METRICS_PORT', 8080), () => true);
  const address = server.address();
  log.info(
    { identity, metricsPort: typeof address === 'object' && address !== null ? address.port : undefined },
    'operator starting; waiting for the leader lease',
  );
  elector.start();

  const shutdown = (signal: string): void => {
    log.info({ signal }, 'stopping');
    void (async () => {
      await controller?.stop();
      controller = undefined;
      await elector.stop({ release: true });
      server.close();
      process.exit(0);
    })();
  };
  process.once('SIGTERM', () => {
    shutdown('SIGTERM');
  });
  process.once('SIGINT', () => {
    shutdown('SIGINT');
  });
}

main().catch((e: unknown) => {
  console.error(JSON.stringify({ level: 60, msg: 'operator failed to start', err: String(e) }));
  process.exit(1);
});
