import type { KubeConfig } from '@kubernetes/client-node';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import { FIELD_MANAGER } from './spec.js';

/*
 * A thin REST client over the API server: @kubernetes/client-node's KubeConfig supplies the
 * credentials (kubeconfig file or in-cluster service account); requests are plain HTTPS so that
 * server-side apply, subresources and watches are exactly what the API documents.
 */

/** One request's limits: a slow API server must not stall a worker forever. */
const REQUEST_TIMEOUT_MS = 30_000;
/** Largest response body read into memory (a list of a namespace's Secrets stays far below). */
const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;
/** Watches are closed by the server after a few minutes; ask for a bounded one and re-open. */
const WATCH_TIMEOUT_SECONDS = 300;

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
  };
  [key: string]: unknown;
}

export class KubeError extends Error {
  override readonly name = 'KubeError';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
  get notFound(): boolean {
    return this.status === 404;
  }
  get conflict(): boolean {
    return this.status === 409;
  }
}

/** Where a kind lives in the REST API. */
export interface Resource {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespaced: boolean;
  readonly kind: string;
}

export const R = {
  ledgerNetworks: {
    kind: 'LedgerNetwork',
    group: 'ledger.chainnode.dev',
    version: 'v1alpha1',
    plural: 'ledgernetworks',
    namespaced: true,
  },
  secrets: { kind: 'Secret', group: '', version: 'v1', plural: 'secrets', namespaced: true },
  configMaps: { kind: 'ConfigMap', group: '', version: 'v1', plural: 'configmaps', namespaced: true },
  services: { kind: 'Service', group: '', version: 'v1', plural: 'services', namespaced: true },
  pods: { kind: 'Pod', group: '', version: 'v1', plural: 'pods', namespaced: true },
  events: { kind: 'Event', group: '', version: 'v1', plural: 'events', namespaced: true },
  pvcs: {
    kind: 'PersistentVolumeClaim',
    group: '',
    version: 'v1',
    plural: 'persistentvolumeclaims',
    namespaced: true,
  },
  statefulSets: {
    kind: 'StatefulSet',
    group: 'apps',
    version: 'v1',
    plural: 'statefulsets',
    namespaced: true,
  },
  pdbs: {
    kind: 'PodDisruptionBudget',
    group: 'policy',
    version: 'v1',
    plural: 'poddisruptionbudgets',
    namespaced: true,
  },
  leases: { kind: 'Lease', group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true },
} as const satisfies Record<string, Resource>;

export function resourceOf(apiVersion: string, kind: string): Resource {
  for (const r of Object.values(R)) {
    const av = r.group === '' ? r.version : `${r.group}/${r.version}`;
    if (av === apiVersion && r.kind === kind) return r;
  }
  throw new RangeError(`no REST mapping for ${apiVersion} ${kind}`);
}

export function resourcePath(
  r: Resource,
  namespace: string | undefined,
  name?: string,
  sub?: string,
): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const tail = name === undefined ? '' : `/${encodeURIComponent(name)}${sub === undefined ? '' : `/${sub}`}`;
  return `${base}${ns}/${r.plural}${tail}`;
}

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: KubeObject;
}

export class KubeClient {
  private readonly server: URL;

  constructor(private readonly config: KubeConfig) {
    const cluster = config.getCurrentCluster();
    if (cluster === null) throw new Error('the kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  private async open(
    method: string,
    path: string,
    options: { body?: unknown; contentType?: string; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<IncomingMessage> {
    const opts: RequestOptions = {
      method,
      protocol: this.server.protocol,
      hostname: this.server.hostname,
      port: this.server.port,
      path: `${this.server.pathname.replace(/\/$/, '')}${path}`,
      headers: { Accept: 'application/json' },
      timeout: options.timeoutMs ?? REQUEST_TIMEOUT_MS,
    };
    await this.config.applyToHTTPSOptions(opts);
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    if (payload !== undefined) {
      opts.headers = {
        ...(opts.headers as Record<string, string | number>),
        'Content-Type': options.contentType ?? 'application/json',
        'Content-Length': payload.length,
      };
    }
    const send = this.server.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        { ...opts, ...(options.signal === undefined ? {} : { signal: options.signal }) },
        resolve,
      );
      req.on('timeout', () =>
        req.destroy(new Error(`${method} ${path}: no response within ${opts.timeout ?? 0} ms`)),
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async request<T = KubeObject>(
    method: string,
    path: string,
    options: { body?: unknown; contentType?: string } = {},
  ): Promise<T> {
    const res = await this.open(method, path, options);
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > RESPONSE_BYTES_MAX) {
        res.destroy();
        throw new Error(`${method} ${path}: response larger than ${RESPONSE_BYTES_MAX} bytes`);
      }
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status >= 400) {
      let reason = 'Unknown';
      let message = text;
      try {
        const parsed = JSON.parse(text) as { reason?: string; message?: string };
        reason = parsed.reason ?? reason;
        message = parsed.message ?? message;
      } catch {
        // not a Status object; keep the raw text
      }
      throw new KubeError(status, reason, `${method} ${path}: ${status} ${reason}: ${message}`);
    }
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  get<T = KubeObject>(r: Resource, namespace: string | undefined, name: string, sub?: string): Promise<T> {
    return this.request<T>('GET', resourcePath(r, namespace, name, sub));
  }

  async getOrUndefined<T = KubeObject>(r: Resource, namespace: string, name: string): Promise<T | undefined> {
    try {
      return await this.get<T>(r, namespace, name);
    } catch (e) {
      if (e instanceof KubeError && e.notFound) return undefined;
      throw e;
    }
  }

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller states the item shape it reads
  async list<T = KubeObject>(
    r: Resource,
    namespace: string | undefined,
    labelSelector?: string,
  ): Promise<{ items: T[]; metadata: { resourceVersion: string } }> {
    const query = labelSelector === undefined ? '' : `?labelSelector=${encodeURIComponent(labelSelector)}`;
    return this.request('GET', `${resourcePath(r, namespace)}${query}`);
  }

  create<T extends object>(r: Resource, namespace: string, obj: T): Promise<T> {
    return this.request<T>('POST', `${resourcePath(r, namespace)}?fieldManager=${FIELD_MANAGER}`, {
      body: obj,
    });
  }

  replace<T extends object>(r: Resource, namespace: string, name: string, obj: T, sub?: string): Promise<T> {
    return this.request<T>('PUT', `${resourcePath(r, namespace, name, sub)}?fieldManager=${FIELD_MANAGER}`, {
      body: obj,
    });
  }

  /** Server-side apply as the operator's field manager; `force` takes over conflicting fields. */
  apply<T extends object>(obj: T, options: { subresource?: string; force?: boolean } = {}): Promise<T> {
    const { apiVersion, kind, metadata } = obj as KubeObject;
    if (apiVersion === undefined || kind === undefined || metadata?.name === undefined)
      throw new RangeError('apply needs apiVersion, kind and metadata.name');
    const r = resourceOf(apiVersion, kind);
    const force = options.force ?? true;
    return this.request<T>(
      'PATCH',
      `${resourcePath(r, metadata.namespace, metadata.name, options.subresource)}?fieldManager=${FIELD_MANAGER}&force=${force}`,
      { body: obj, contentType: 'application/apply-patch+yaml' },
    );
  }

  mergePatch<T = KubeObject>(r: Resource, namespace: string, name: string, patch: unknown): Promise<T> {
    return this.request<T>('PATCH', `${resourcePath(r, namespace, name)}?fieldManager=${FIELD_MANAGER}`, {
      body: patch,
      contentType: 'application/merge-patch+json',
    });
  }

  async delete(r: Resource, namespace: string, name: string, propagation = 'Background'): Promise<void> {
    try {
      await this.request('DELETE', resourcePath(r, namespace, name), {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: propagation },
      });
    } catch (e) {
      if (!(e instanceof KubeError && e.notFound)) throw e;
    }
  }

  /**
   * Streams watch events from `resourceVersion` until the server closes the watch (resolves) or
   * the signal aborts; a 410 Gone arrives as an ERROR event and the caller re-lists.
   */
  async watch(
    r: Resource,
    namespace: string | undefined,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
    labelSelector?: string,
  ): Promise<void> {
    const query = new URLSearchParams({
      watch: '1',
      resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(WATCH_TIMEOUT_SECONDS),
      ...(labelSelector === undefined ? {} : { labelSelector }),
    });
    const res = await this.open('GET', `${resourcePath(r, namespace)}?${query.toString()}`, {
      signal,
      timeoutMs: (WATCH_TIMEOUT_SECONDS + 30) * 1000,
    });
    if ((res.statusCode ?? 0) >= 400) {
      res.resume();
      throw new KubeError(
        res.statusCode ?? 0,
        'WatchFailed',
        `watch ${r.plural}: HTTP ${res.statusCode ?? 0}`,
      );
    }
    const lines = createInterface({ input: res });
    try {
      for await (const line of lines) {
        if (line.trim() === '') continue;
        onEvent(JSON.parse(line) as WatchEvent);
      }
    } catch (e) {
      if (!signal.aborted) throw e;
    }
  }
}
