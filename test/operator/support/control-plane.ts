import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';

/*
 * A real Kubernetes control plane for tests, started the way controller-runtime's envtest does:
 * etcd and kube-apiserver on random loopback ports, a throw-away CA, a serving certificate, a
 * service-account signing key, RBAC authorisation and an admin (system:masters) client
 * certificate in a kubeconfig. Unlike envtest it also runs kube-controller-manager (StatefulSet
 * pods, garbage collection, PV binding, PDB status), kube-scheduler, and kwok as the kubelet of
 * fake nodes, so pods get scheduled and become Ready.
 */

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '../../..');
export const BUILD_SCRIPT = join(REPO, 'scripts/k8s-test-binaries.sh');
/** The first build of the binaries from source takes 5-25 minutes on 2 cores. */
export const BINARIES_BUILD_TIMEOUT_MS = 40 * 60_000;
const START_TIMEOUT_MS = 60_000;
const LOG_LINES_KEPT = 200;

/** Builds (or finds in the cache) the binaries; fails loudly with the build's output. */
export async function testBinaries(): Promise<string> {
  try {
    const { stdout } = await run('bash', [BUILD_SCRIPT], {
      timeout: BINARIES_BUILD_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
      env: process.env,
    });
    const dir = stdout.trim().split('\n').pop();
    if (dir === undefined || dir === '') throw new Error('the build script printed no directory');
    return dir;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(
      `cannot build the Kubernetes test binaries with ${BUILD_SCRIPT} (needs Go >= 1.26 and the Go module proxy): ${err.message}\n${(err.stderr ?? '').slice(-4000)}`,
    );
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

class Daemon {
  readonly log: string[] = [];
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        this.log.push(line);
        if (this.log.length > LOG_LINES_KEPT) this.log.shift();
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd });
}

export class ControlPlane {
  private readonly daemons: Daemon[] = [];

  private constructor(
    readonly dir: string,
    readonly bin: string,
    readonly apiServerUrl: string,
    readonly kubeconfig: string,
  ) {}

  /** kubectl with the admin kubeconfig; resolves with stdout, rejects with stderr in the message. */
  async kubectl(args: readonly string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(join(this.bin, 'kubectl'), ['--kubeconfig', this.kubeconfig, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      child.once('error', reject);
      child.once('exit', (code) => {
        if (code === 0) resolve(stdout);
        else
          reject(
            new KubectlError(
              `kubectl ${args.join(' ')} exited ${code ?? 'by signal'}: ${stderr.trim()}`,
              stderr,
            ),
          );
      });
      child.stdin.end(input ?? '');
    });
  }

  /**
   * `podReadiness: 'test'` leaves pods Pending after scheduling (kwok runs without its pod-ready
   * stage), so the test acts as their kubelet and reports them Running and Ready itself
   * (test/operator/support/kubelet.ts); kwok still completes pod deletions.
   */
  static async start(
    options: { nodes?: number; podReadiness?: 'kwok' | 'test' } = {},
  ): Promise<ControlPlane> {
    const bin = await testBinaries();
    const dir = await mkdtemp(join(tmpdir(), 'chainnode-k8s-'));
    let stages = join(bin, '..', 'kwok-stages.yaml');
    if (options.podReadiness === 'test') {
      const kept = readFileSync(stages, 'utf8')
        .split(/^---$/m)
        .filter((doc) => doc.trim() !== '' && !/^\s*name: pod-ready\s*$/m.test(doc));
      stages = join(dir, 'kwok-stages.yaml');
      await writeFile(stages, kept.map((doc) => `---${doc}`).join(''));
    }
    // Certificates: a CA, the API server's serving certificate, an admin client certificate.
    await openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
    await openssl(dir, [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-subj',
      '/CN=chainnode-test-ca',
      '-days',
      '2',
      '-out',
      'ca.crt',
    ]);
    const leaf = async (name: string, subject: string, ext: string): Promise<void> => {
      await openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
      await openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
      await writeFile(join(dir, `${name}.ext`), ext);
      await openssl(dir, [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.crt`,
      ]);
    };
    await leaf(
      'apiserver',
      '/CN=kube-apiserver',
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n',
    );
    await leaf('admin', '/O=system:masters/CN=chainnode-test-admin', 'extendedKeyUsage=clientAuth\n');
    await openssl(dir, ['genrsa', '-out', 'sa.key', '2048']);
    await openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);

    const etcdPort = await freePort();
    const etcdPeerPort = await freePort();
    const apiPort = await freePort();
    const apiServerUrl = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = join(dir, 'kubeconfig');
    const b64 = (file: string): string => readFileSync(join(dir, file)).toString('base64');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: test',
        '  cluster:',
        `    server: ${apiServerUrl}`,
        `    certificate-authority-data: ${b64('ca.crt')}`,
        'users:',
        '- name: admin',
        '  user:',
        `    client-certificate-data: ${b64('admin.crt')}`,
        `    client-key-data: ${b64('admin.key')}`,
        'contexts:',
        '- name: test',
        '  context: {cluster: test, user: admin, namespace: default}',
        'current-context: test',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const plane = new ControlPlane(dir, bin, apiServerUrl, kubeconfig);
    try {
      plane.spawn('etcd', [
        '--data-dir',
        join(dir, 'etcd'),
        '--listen-client-urls',
        `http://127.0.0.1:${etcdPort}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${etcdPort}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${etcdPeerPort}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${etcdPeerPort}`,
        '--initial-cluster',
        `default=http://127.0.0.1:${etcdPeerPort}`,
        '--unsafe-no-fsync',
        '--log-level',
        'warn',
      ]);
      plane.spawn('kube-apiserver', [
        '--etcd-servers',
        `http://127.0.0.1:${etcdPort}`,
        '--bind-address',
        '127.0.0.1',
        '--advertise-address',
        '127.0.0.1',
        '--secure-port',
        String(apiPort),
        '--tls-cert-file',
        join(dir, 'apiserver.crt'),
        '--tls-private-key-file',
        join(dir, 'apiserver.key'),
        '--client-ca-file',
        join(dir, 'ca.crt'),
        '--authorization-mode',
        'RBAC',
        '--service-account-issuer',
        'https://kubernetes.default.svc',
        '--service-account-key-file',
        join(dir, 'sa.pub'),
        '--service-account-signing-key-file',
        join(dir, 'sa.key'),
        '--service-cluster-ip-range',
        '10.96.0.0/16',
        '--allow-privileged=true',
        '--cert-dir',
        join(dir, 'apiserver-certs'),
        // No Endpoints for the loopback address (refused as an endpoint IP), as envtest does.
        '--endpoint-reconciler-type',
        'none',
        '--v',
        '0',
      ]);
      await plane.waitHealthy(apiServerUrl);
      const kube = ['--kubeconfig', kubeconfig];
      plane.spawn('kube-controller-manager', [
        ...kube,
        '--authentication-kubeconfig',
        kubeconfig,
        '--authorization-kubeconfig',
        kubeconfig,
        '--service-account-private-key-file',
        join(dir, 'sa.key'),
        '--root-ca-file',
        join(dir, 'ca.crt'),
        '--leader-elect=false',
        '--bind-address',
        '127.0.0.1',
        '--secure-port',
        String(await freePort()),
        '--controllers',
        '*',
        '--concurrent-gc-syncs',
        '5',
      ]);
      plane.spawn('kube-scheduler', [
        ...kube,
        '--authentication-kubeconfig',
        kubeconfig,
        '--authorization-kubeconfig',
        kubeconfig,
        '--leader-elect=false',
        '--bind-address',
        '127.0.0.1',
        '--secure-port',
        String(await freePort()),
      ]);
      plane.spawn('kwok', [
        ...kube,
        '--config',
        stages,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector',
        'kwok.x-k8s.io/node=fake',
        '--cidr',
        '10.244.0.0/16',
        '--node-ip',
        '10.1.0.1',
        '--server-address',
        `127.0.0.1:${await freePort()}`,
      ]);
      for (let i = 0; i < (options.nodes ?? 3); i++) await plane.addFakeNode(`kwok-node-${i}`);
      return plane;
    } catch (e) {
      await plane.stop();
      throw e;
    }
  }

  private spawn(name: string, args: string[]): Daemon {
    const child = spawn(join(this.bin, name), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const daemon = new Daemon(name, child);
    this.daemons.push(daemon);
    return daemon;
  }

  /** The last lines of every component, for failure messages. */
  logs(lines = 20): string {
    return this.daemons
      .map((d) => `--- ${d.name} (${d.running ? 'running' : 'exited'})\n${d.log.slice(-lines).join('\n')}`)
      .join('\n');
  }

  private async waitHealthy(url: string): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    const ca = readFileSync(join(this.dir, 'ca.crt'));
    const cert = readFileSync(join(this.dir, 'admin.crt'));
    const key = readFileSync(join(this.dir, 'admin.key'));
    let last = '';
    while (Date.now() < deadline) {
      const dead = this.daemons.find((d) => !d.running);
      if (dead !== undefined) throw new Error(`${dead.name} exited during start-up:\n${this.logs()}`);
      const ok = await new Promise<boolean>((resolve) => {
        const req = request(`${url}/readyz`, { ca, cert, key, timeout: 5_000, agent: false }, (res) => {
          res.resume();
          last = `HTTP ${res.statusCode ?? 0}`;
          resolve(res.statusCode === 200);
        });
        req.on('error', (e) => {
          last = e.message;
          resolve(false);
        });
        req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
        req.end();
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 250)); // polling an HTTP endpoint, not synchronising tests
    }
    throw new Error(`kube-apiserver not ready within ${START_TIMEOUT_MS} ms (${last}):\n${this.logs()}`);
  }

  /** A Node that kwok plays the kubelet of: it becomes Ready and runs (pretends to) its pods. */
  async addFakeNode(name: string): Promise<void> {
    await this.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', type: 'kwok' },
        },
        status: {
          allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
          capacity: { cpu: '32', memory: '256Gi', pods: '110' },
        },
      }),
    );
  }

  async stop(): Promise<void> {
    for (const d of [...this.daemons].reverse()) await d.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export class KubectlError extends Error {
  override readonly name = 'KubectlError';
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}
