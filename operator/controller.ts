import type { Logger } from 'pino';
import { LABEL_NETWORK } from './builders.js';
import { KubeError, R, type KubeClient, type KubeObject, type Resource, type WatchEvent } from './kube.js';
import type { OperatorMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';
import type { Reconciler } from './reconciler.js';
import { KIND } from './spec.js';

/*
 * Informers (list + watch, re-listing on 410 Gone) on LedgerNetworks and on the kinds they own;
 * every event becomes the owning LedgerNetwork's key in the work queue, and workers reconcile
 * keys one at a time each. A failing key backs off; the others carry on.
 */

/** Reconciles running at once (different keys). */
export const WORKERS = 2;
/** Pause before re-opening a watch that failed, so a down API server is not hammered. */
const WATCH_RETRY_MS = 1_000;

const OWNED: readonly Resource[] = [R.statefulSets, R.services, R.configMaps, R.secrets, R.pdbs, R.pods];

export interface ControllerOptions {
  /** Namespaces to watch; empty = all namespaces. */
  readonly namespaces: readonly string[];
  readonly workers?: number;
}

export class Controller {
  readonly queue = new WorkQueue();
  private readonly abort = new AbortController();
  private readonly running: Promise<void>[] = [];
  /** Keys of every LedgerNetwork seen, for the watches of owned objects. */
  private readonly known = new Set<string>();

  constructor(
    private readonly client: KubeClient,
    private readonly reconciler: Reconciler,
    private readonly options: ControllerOptions,
    private readonly metrics: OperatorMetrics,
    private readonly log: Logger,
  ) {}

  start(): void {
    const scopes = this.options.namespaces.length === 0 ? [undefined] : this.options.namespaces;
    for (const ns of scopes) {
      this.running.push(this.inform(R.ledgerNetworks, ns, undefined, (obj) => this.keyOfNetwork(obj)));
      for (const r of OWNED)
        this.running.push(this.inform(r, ns, LABEL_NETWORK, (obj) => this.keyOfOwned(obj)));
    }
    for (let i = 0; i < (this.options.workers ?? WORKERS); i++) this.running.push(this.work());
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.queue.shutDown();
    await Promise.allSettled(this.running);
  }

  /** A getter, so that checks after an await re-read the signal. */
  private get stopping(): boolean {
    return this.abort.signal.aborted;
  }

  private keyOfNetwork(obj: KubeObject): string | undefined {
    const { namespace, name } = obj.metadata ?? {};
    if (namespace === undefined || name === undefined) return undefined;
    const key = `${namespace}/${name}`;
    this.known.add(key);
    return key;
  }

  private keyOfOwned(obj: KubeObject): string | undefined {
    const namespace = obj.metadata?.namespace;
    const owner = obj.metadata?.ownerReferences?.find((r) => r.kind === KIND && r.controller === true);
    const name = owner?.name ?? obj.metadata?.labels?.[LABEL_NETWORK];
    return namespace === undefined || name === undefined ? undefined : `${namespace}/${name}`;
  }

  private async inform(
    r: Resource,
    namespace: string | undefined,
    labelKey: string | undefined,
    keyOf: (obj: KubeObject) => string | undefined,
  ): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        const list = await this.client.list(r, namespace, labelKey);
        for (const item of list.items) {
          const key = keyOf(item);
          if (key !== undefined) this.queue.add(key);
        }
        let resourceVersion = list.metadata.resourceVersion;
        // Mutated by the watch callback; an object so the loop condition re-reads it.
        const state = { gone: false };
        while (!this.stopping && !state.gone) {
          await this.client.watch(
            r,
            namespace,
            resourceVersion,
            (event: WatchEvent) => {
              if (event.type === 'ERROR') {
                state.gone = true; // 410 Gone or similar: list again
                return;
              }
              const rv = event.object.metadata?.resourceVersion;
              if (rv !== undefined) resourceVersion = rv;
              if (event.type === 'BOOKMARK') return;
              const key = keyOf(event.object);
              if (key === undefined) return;
              if (event.type === 'DELETED' && r === R.ledgerNetworks) this.known.delete(key);
              this.queue.add(key);
              this.metrics.queueDepth.set(this.queue.length);
            },
            signal,
            labelKey,
          );
          this.metrics.watchRestarts.inc({ resource: r.plural });
        }
      } catch (e) {
        if (this.stopping) return;
        const forbidden = e instanceof KubeError && (e.status === 403 || e.status === 401);
        this.log[forbidden ? 'error' : 'warn'](
          { err: e, resource: r.plural, namespace },
          'watch failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, WATCH_RETRY_MS));
      }
    }
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.metrics.queueDepth.set(this.queue.length);
      const [namespace, name] = key.split('/') as [string, string];
      const end = this.metrics.reconcileSeconds.startTimer();
      try {
        const result = await this.reconciler.reconcile(namespace, name);
        this.queue.forget(key);
        this.metrics.reconciles.inc({ result: 'success' });
        if (result.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
      } catch (e) {
        // Never crash on one resource: log, back off, keep serving the others.
        const delayMs = this.queue.addRateLimited(key);
        this.metrics.reconciles.inc({ result: 'error' });
        this.log.warn(
          { err: e, ledgerNetwork: key, retryInMs: delayMs, failures: this.queue.failuresOf(key) },
          'reconcile failed',
        );
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }
}
