import { KubeClient, R, type WatchEvent } from '../../../operator/kube.js';

/*
 * Records every change of a StatefulSet's spec.replicas (list, then watch from the list's
 * resourceVersion; re-list and re-watch when the server closes the watch). A failed list or
 * watch is recorded in `failures` (a change could have been missed while it was down), retried
 * after a growing pause, and after WATCH_FAILURES_MAX failures in a row the watch gives up:
 * tests assert `failures` is empty, so a broken watch fails the test instead of hiding.
 */

/** Consecutive failed list/watch attempts before giving up. */
export const WATCH_FAILURES_MAX = 5;
/** Pause before the first retry; doubled per consecutive failure, up to RETRY_PAUSE_MS_MAX. */
const RETRY_PAUSE_MS = 250;
const RETRY_PAUSE_MS_MAX = 4_000;

interface Sts {
  metadata: { name: string };
  spec: { replicas: number };
}

export class ReplicaWatch {
  readonly failures: string[] = [];
  private readonly seen = new Map<string, number>();
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly labelSelector: string,
    private readonly onChange: (statefulSet: string, from: number, to: number) => void,
    private readonly signal: AbortSignal,
  ) {}

  start(): void {
    this.done = this.run();
  }

  /** Resolves once the watch has ended (aborted, or given up). Never rejects. */
  stopped(): Promise<void> {
    return this.done;
  }

  private observe(s: Sts): void {
    const before = this.seen.get(s.metadata.name);
    if (before !== undefined && before !== s.spec.replicas)
      this.onChange(s.metadata.name, before, s.spec.replicas);
    this.seen.set(s.metadata.name, s.spec.replicas);
  }

  /** A method, so a check after an await re-reads the signal. */
  private aborted(): boolean {
    return this.signal.aborted;
  }

  private async run(): Promise<void> {
    let failed = 0;
    while (!this.aborted()) {
      try {
        const list = await this.client.list<Sts>(R.statefulSets, this.namespace, this.labelSelector);
        for (const s of list.items) this.observe(s);
        await this.client.watch(
          R.statefulSets,
          this.namespace,
          list.metadata.resourceVersion,
          (e: WatchEvent) => {
            if (e.type === 'ADDED' || e.type === 'MODIFIED') this.observe(e.object as unknown as Sts);
            else if (e.type === 'ERROR') throw new Error(`watch ERROR event: ${JSON.stringify(e.object)}`);
          },
          this.signal,
          this.labelSelector,
        );
        failed = 0; // the server closed a healthy watch: list and watch again
      } catch (e) {
        if (this.aborted()) return;
        failed += 1;
        this.failures.push(`StatefulSet watch failed (${failed} in a row): ${(e as Error).message}`);
        if (failed >= WATCH_FAILURES_MAX) {
          this.failures.push(`StatefulSet watch gave up after ${failed} failures in a row`);
          return;
        }
        // Retry pacing with backoff, not synchronisation.
        await new Promise((r) =>
          setTimeout(r, Math.min(RETRY_PAUSE_MS * 2 ** (failed - 1), RETRY_PAUSE_MS_MAX)),
        );
      }
    }
  }
}
