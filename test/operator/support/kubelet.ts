/* eslint-disable @typescript-eslint/no-unsafe-argument -- pods, Secrets and ConfigMaps are untyped API objects, read as such */
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import { loadLatestConfig, parseNetworkFile } from '../../../node/config/index.js';
import { KubeClient, R, resourcePath } from '../../../operator/kube.js';
import { ChainnodeProcess } from '../../support/processes.js';

/*
 * The kubelet of a test control plane for the pods of one LedgerNetwork: kwok schedules nothing
 * to run, so this runs each scheduled pod's `node` container as a real `chainnode` process on
 * the loopback address the network was rendered for. As a kubelet does, it materialises the
 * pod: env (values, fieldRef, secretKeyRef, $(VAR) expansion), the projected volume's files
 * (network.yaml, config-updates/, the node's identity from its Secret) under a directory of
 * its own per pod incarnation, and the container's args; it reports the pod Running and Ready
 * once the node's readiness endpoint (`/readyz`, the pod's readinessProbe) answers 200, and
 * stops the process (SIGTERM) when the pod is deleted or replaced. One incarnation of a pod
 * name at a time: a replacement starts only after the old process has exited.
 *
 * Use with a control plane whose kwok does not make pods Ready by itself
 * (`ControlPlane.start({ podReadiness: 'test' })`).
 */

const POLL_MS = 200;
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;

interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: any;
  status?: any;
}

export interface Container {
  readonly pod: string;
  readonly uid: string;
  readonly process: ChainnodeProcess;
  readonly startedAt: number;
  ready: boolean;
  stopping: boolean;
}

export interface KubeletHooks {
  /** Called before a pod's node starts; a thrown error or returned string is recorded as a violation. */
  beforeStart?(pod: string): Promise<string | undefined>;
  /** Called after a deleted pod's node has stopped. */
  afterStop?(pod: string): Promise<string | undefined>;
  /** Called when a pod becomes ready or stops being ready, with `readyPods()` already updated. */
  readinessChanged?(pod: string, ready: boolean): void;
}

export class TestKubelet {
  readonly containers = new Map<string, Container>();
  /** Every start and stop, in order, for failure messages. */
  readonly events: string[] = [];
  readonly violations: string[] = [];
  /** Processes that exited without being asked to (with their last log lines). */
  readonly crashes: string[] = [];
  /** Every process ever started (kept for log inspection after they stop). */
  readonly history: ChainnodeProcess[] = [];
  private readonly busy = new Set<string>();
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private incarnation = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly labelSelector: string,
    private readonly workDir: string,
    private readonly hooks: KubeletHooks = {},
    /** Where to keep each node process's output (`<pod>.<incarnation>.log`), if anywhere. */
    private readonly logDir?: string,
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        try {
          await this.sync();
        } catch (e) {
          this.events.push(`sync failed: ${(e as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, POLL_MS)); // the kubelet's resync period
      }
    })();
  }

  /** Stops syncing and every node process. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await Promise.all([...this.containers.values()].map((c) => this.kill(c, 'SIGTERM')));
  }

  /** Names of the pods whose node process runs and is ready. */
  readyPods(): string[] {
    return [...this.containers.values()].filter((c) => c.ready && !c.stopping).map((c) => c.pod);
  }

  private async sync(): Promise<void> {
    const pods = (await this.client.list<Pod>(R.pods, this.namespace, this.labelSelector)).items;
    const live = new Map(
      pods.filter((p) => p.metadata.deletionTimestamp === undefined).map((p) => [p.metadata.name, p]),
    );
    for (const c of this.containers.values()) {
      if (this.busy.has(c.pod)) continue;
      if (live.get(c.pod)?.metadata.uid !== c.uid) this.act(c.pod, () => this.stopContainer(c));
      else if (!c.process.running && !c.stopping) this.act(c.pod, () => this.crashed(c));
    }
    for (const pod of live.values()) {
      if (this.busy.has(pod.metadata.name) || this.containers.has(pod.metadata.name)) continue;
      if (pod.spec.nodeName === undefined) continue; // not scheduled yet
      this.act(pod.metadata.name, () => this.run(pod));
    }
  }

  private act(name: string, work: () => Promise<void>): void {
    this.busy.add(name);
    void work()
      .catch((e: unknown) => {
        this.violations.push(`${name}: ${(e as Error).message}`);
      })
      .finally(() => this.busy.delete(name));
  }

  private async run(pod: Pod): Promise<void> {
    const name = pod.metadata.name;
    const problem = await this.hooks.beforeStart?.(name);
    if (problem !== undefined) this.violations.push(problem);
    const root = join(this.workDir, `${name}.${++this.incarnation}`);
    const { args, env } = await materialise(this.client, this.namespace, pod, root);
    const child = ChainnodeProcess.start(name, args, {
      ...env,
      LOG_LEVEL: process.env.OPERATOR_TEST_NODE_LOG_LEVEL ?? 'info',
    });
    if (this.logDir !== undefined) {
      await mkdir(this.logDir, { recursive: true });
      const file = createWriteStream(join(this.logDir, `${name}.${this.incarnation}.log`));
      child.child.stdout?.pipe(file);
      child.child.stderr?.pipe(file);
    }
    const container: Container = {
      pod: name,
      uid: pod.metadata.uid,
      process: child,
      startedAt: Date.now(),
      ready: false,
      stopping: false,
    };
    this.containers.set(name, container);
    this.history.push(child);
    this.events.push(`start ${name} (${pod.metadata.uid.slice(0, 8)})`);
    // The readiness probe: the node's /readyz on its API address, as rendered for this pod.
    const configPath = args[args.indexOf('--config') + 1] as string;
    const api = await apiAddressOf(configPath, name);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await probe(api))) {
      if (!child.running || container.stopping) return;
      if (Date.now() > deadline)
        throw new Error(
          `not ready within ${READY_TIMEOUT_MS} ms; last lines: ${JSON.stringify(child.lines.slice(-5))}`,
        );
      await new Promise((r) => setTimeout(r, POLL_MS)); // the probe's period
    }
    container.ready = true;
    this.hooks.readinessChanged?.(name, true);
    await this.setStatus(name, pod.metadata.uid, true);
  }

  private async setStatus(name: string, uid: string, ready: boolean): Promise<void> {
    const now = new Date().toISOString();
    const condition = (type: string) => ({
      type,
      status: ready ? 'True' : 'False',
      lastTransitionTime: now,
    });
    await this.client.request('PATCH', resourcePath(R.pods, this.namespace, name, 'status'), {
      contentType: 'application/strategic-merge-patch+json',
      body: {
        metadata: { uid }, // precondition: only this incarnation of the pod
        status: {
          phase: 'Running',
          startTime: now,
          conditions: [condition('Initialized'), condition('ContainersReady'), condition('Ready')],
          containerStatuses: [
            {
              name: 'node',
              image: 'chainnode',
              imageID: '',
              ready,
              restartCount: 0,
              started: true,
              state: { running: { startedAt: now } },
            },
          ],
        },
      },
    });
  }

  private async stopContainer(c: Container): Promise<void> {
    await this.kill(c, 'SIGTERM');
    this.containers.delete(c.pod);
    this.events.push(`stop ${c.pod} (${c.uid.slice(0, 8)})`);
    const problem = await this.hooks.afterStop?.(c.pod);
    if (problem !== undefined) this.violations.push(problem);
  }

  private async kill(c: Container, signal: NodeJS.Signals): Promise<void> {
    const wasReady = c.ready && !c.stopping;
    c.stopping = true;
    if (wasReady) this.hooks.readinessChanged?.(c.pod, false);
    const timer = setTimeout(() => c.process.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const { code, signal: by } = await c.process.stop(signal);
    clearTimeout(timer);
    if (code !== 0 && by !== 'SIGTERM')
      this.crashes.push(`${c.pod} stopped with exit ${String(code)} / ${String(by)}`);
  }

  /** restartPolicy Always: report it, and run the pod again. */
  private async crashed(c: Container): Promise<void> {
    const exit = await c.process.exited;
    this.crashes.push(
      `${c.pod} exited by itself (${JSON.stringify(exit)}); last lines: ${JSON.stringify(c.process.lines.slice(-8))} stderr: ${c.process.stderr.slice(-8).join(' | ')}`,
    );
    this.containers.delete(c.pod);
    if (c.ready) this.hooks.readinessChanged?.(c.pod, false);
    // The pod may be gone already (deleted while its process was down): say so, do not fail.
    await this.setStatus(c.pod, c.uid, false).catch((e: unknown) => {
      this.events.push(`could not report ${c.pod} not ready: ${(e as Error).message}`);
    });
  }
}

/** The pod's `node` container as the kubelet would run it: env, files of the projected volume, args. */
export async function materialise(
  client: KubeClient,
  namespace: string,
  pod: Pod,
  root: string,
): Promise<{ args: string[]; env: Record<string, string> }> {
  const container = pod.spec.containers.find((c: any) => c.name === 'node');
  const env: Record<string, string> = {};
  const expand = (s: string) => s.replace(/\$\(([A-Z_]+)\)/g, (m, v: string) => env[v] ?? m);
  const secret = (name: string) => client.get<any>(R.secrets, namespace, name);
  for (const e of container.env) {
    if (e.value !== undefined) env[e.name] = expand(e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = pod.metadata.name;
    else if (e.valueFrom?.secretKeyRef !== undefined) {
      const s = await secret(e.valueFrom.secretKeyRef.name);
      env[e.name] = Buffer.from(s.data[e.valueFrom.secretKeyRef.key], 'base64').toString();
    } else throw new Error(`unexpected env ${JSON.stringify(e)}`);
  }
  await rm(root, { recursive: true, force: true });
  for (const mount of container.volumeMounts) {
    const volume = pod.spec.volumes.find((v: any) => v.name === mount.name);
    if (volume.projected === undefined) continue;
    for (const source of volume.projected.sources) {
      const data: Record<string, Buffer> =
        source.configMap !== undefined
          ? Object.fromEntries(
              Object.entries(
                (await client.get<any>(R.configMaps, namespace, source.configMap.name)).data ?? {},
              ).map(([k, v]) => [k, Buffer.from(v as string)]),
            )
          : Object.fromEntries(
              Object.entries((await secret(source.secret.name)).data ?? {}).map(([k, v]) => [
                k,
                Buffer.from(v as string, 'base64'),
              ]),
            );
      for (const item of (source.configMap ?? source.secret).items) {
        const content = data[item.key];
        if (content === undefined)
          throw new Error(`${pod.metadata.name}: ${item.key} is missing from its volume's source`);
        const path = join(root, mount.mountPath, item.path);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, content, { mode: item.mode ?? volume.projected.defaultMode ?? 0o644 });
      }
    }
  }
  const args: string[] = container.args
    .map((a: string) => expand(a))
    .map((a: string) => (a.startsWith('/etc/chainnode/') ? join(root, a) : a));
  return { args, env };
}

async function apiAddressOf(networkFile: string, name: string): Promise<{ host: string; port: number }> {
  const { readFile } = await import('node:fs/promises');
  const genesis = parseNetworkFile(await readFile(networkFile, 'utf8'), networkFile, new Date());
  const config = await loadLatestConfig(dirname(networkFile), genesis.config);
  const entry = [...config.orderers, ...config.peers].find((n) => n.name === name);
  if (entry === undefined) throw new Error(`${name} is not in the configuration its pod sees`);
  return { host: entry.host, port: entry.apiPort };
}

/** An HTTPS GET of /readyz as a kubelet probes: no client certificate, the serving one not checked. */
function probe(at: { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: at.host,
        port: at.port,
        path: '/readyz',
        rejectUnauthorized: false,
        timeout: 2_000,
        agent: false,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => {
      req.destroy(new Error('timeout'));
    });
    req.on('error', () => {
      resolve(false);
    });
    req.end();
  });
}
