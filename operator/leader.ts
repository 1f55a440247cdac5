import type { Logger } from 'pino';
import { KubeError, R, type KubeClient } from './kube.js';

/*
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection: the holder
 * renews every `retryPeriodMs`; a candidate takes the Lease only when it has seen the same
 * record unchanged for `leaseDurationMs` by ITS OWN clock (so clock skew between replicas does
 * not matter). Updates carry the resourceVersion, so two candidates cannot both win.
 */

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  /** How long a silent holder keeps the Lease (client-go default 15 s). */
  readonly leaseDurationMs?: number;
  /** A holder gives up leading if it could not renew for this long (client-go default 10 s). */
  readonly renewDeadlineMs?: number;
  /** Interval between tries, for holder and candidates (client-go default 2 s). */
  readonly retryPeriodMs?: number;
}

interface LeaseObject {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const microTime = (d: Date): string => d.toISOString().replace('Z', '000Z');

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private observedRecord = '';
  private observedAtMs = 0;
  private lastRenewMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;

  constructor(
    private readonly client: KubeClient,
    private readonly options: LeaderElectionOptions,
    private readonly callbacks: { onStartedLeading: () => void; onStoppedLeading: () => void },
    private readonly log: Logger,
  ) {
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadlineMs < this.leaseDurationMs && this.retryPeriodMs < this.renewDeadlineMs))
      throw new RangeError('leader election needs retryPeriod < renewDeadline < leaseDuration');
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /** Stops trying; a leader releases the Lease so a standby takes over at once. */
  async stop(options: { release: boolean } = { release: true }): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.leading && options.release) {
      try {
        const lease = await this.client.get<LeaseObject>(R.leases, this.options.namespace, this.options.name);
        if (lease.spec.holderIdentity === this.options.identity) {
          lease.spec = {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            renewTime: microTime(new Date()),
          };
          await this.client.replace(R.leases, this.options.namespace, this.options.name, lease);
        }
      } catch (e) {
        this.log.warn({ err: e }, 'could not release the leader lease');
      }
    }
    if (this.leading) {
      this.leading = false;
      this.callbacks.onStoppedLeading();
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (e) {
      this.log.warn({ err: e }, 'leader election: lease request failed');
    }
    const now = Date.now();
    if (ok) {
      this.lastRenewMs = now;
      if (!this.leading) {
        this.leading = true;
        this.log.info({ lease: this.options.name, identity: this.options.identity }, 'became leader');
        this.callbacks.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenewMs > this.renewDeadlineMs) {
      this.leading = false;
      this.log.error({ lease: this.options.name }, 'lost leadership: could not renew the lease in time');
      this.callbacks.onStoppedLeading();
    }
    if (this.stopped as boolean) return; // stop() may have run during the request
    this.timer = setTimeout(() => void this.tick(), this.retryPeriodMs);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const now = new Date();
    const leaseDurationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    let lease: LeaseObject;
    try {
      lease = await this.client.get<LeaseObject>(R.leases, namespace, name);
    } catch (e) {
      if (!(e instanceof KubeError && e.notFound)) throw e;
      try {
        await this.client.create(R.leases, namespace, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        } satisfies LeaseObject);
        return true;
      } catch (createError) {
        if (createError instanceof KubeError && createError.conflict) return false;
        throw createError;
      }
    }
    const record = JSON.stringify(lease.spec);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAtMs = Date.now();
    }
    const holder = lease.spec.holderIdentity ?? '';
    const heldByOther = holder !== '' && holder !== identity;
    const durationMs = (lease.spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (heldByOther && this.observedAtMs + durationMs > Date.now()) return false;
    const spec = {
      ...lease.spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: microTime(now),
      ...(holder === identity
        ? {}
        : { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 }),
    };
    try {
      const updated = await this.client.replace(R.leases, namespace, name, { ...lease, spec });
      this.observedRecord = JSON.stringify(updated.spec);
      this.observedAtMs = Date.now();
      return true;
    } catch (e) {
      if (e instanceof KubeError && e.conflict) return false;
      throw e;
    }
  }
}
