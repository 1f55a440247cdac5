import { Agent, request, type RequestOptions } from 'node:https';
import { SigningKey } from '../crypto/index.js';
import { parseIdentity } from '../../certs/index.js';
import type { Envelope, InvokePayload, NetworkConfig, SignedProposal } from '../protocol/index.js';
import { signProposal, signTransaction, type CallSpec, type ClientIdentity } from './sign.js';

/** Response bodies the client reads; a block with thousands of transactions fits well within. */
export const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;
export const REQUEST_TIMEOUT_MS = 60_000;
/** Connections one client keeps to a node. */
export const CONNECTIONS_MAX = 256;

export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ConnectOptions {
  /** e.g. https://127.0.0.1:8150 (a node's apiPort). */
  readonly url: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** The organisation CA certificates that may have issued the node's certificate. */
  readonly caCerts: readonly string[];
}

export interface SubmitResult {
  readonly txId: string;
  readonly code: number;
  readonly validation: string;
  readonly height: number;
  readonly txIndex: number;
  /** What the contract returned (JSON text), from the endorsed response. */
  readonly result: string;
}

/**
 * The Chainnode client SDK: talks to a node's HTTPS API with the caller's certificate, signs
 * proposals and transactions locally (the key never leaves the process), and does a submit in
 * one call: propose -> the gateway endorses -> sign -> the gateway submits and waits.
 */
export class ChainnodeClient {
  private readonly identity: ClientIdentity;
  private readonly base: URL;
  /** Keeps TLS connections open between calls: a mutual-TLS handshake costs more than most requests. */
  private readonly agent: Agent;

  private constructor(private readonly options: ConnectOptions) {
    this.base = new URL(options.url);
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: CONNECTIONS_MAX,
      cert: options.certPem,
      key: options.keyPem,
      ca: [...options.caCerts],
      minVersion: 'TLSv1.3',
    });
    const id = parseIdentity(options.certPem);
    this.identity = {
      identity: { org: id.org as ClientIdentity['identity']['org'], cert: options.certPem },
      key: SigningKey.fromPem(options.keyPem),
    };
  }

  static connect(options: ConnectOptions): ChainnodeClient {
    return new ChainnodeClient(options);
  }

  /** Closes the kept-alive connections; the client can still be used (it reconnects). */
  close(): void {
    this.agent.destroy();
  }

  get url(): string {
    return this.base.toString();
  }

  status(): Promise<Record<string, unknown>> {
    return this.get('/status');
  }

  /** By height, hash or 'latest'. */
  block(id: number | string): Promise<Record<string, unknown>> {
    return this.get(`/blocks/${String(id)}`);
  }

  blocks(options: { to?: number; limit?: number } = {}): Promise<Record<string, unknown>[]> {
    const q = new URLSearchParams();
    if (options.to !== undefined) q.set('to', String(options.to));
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    return this.get(`/blocks?${q.toString()}`);
  }

  transaction(txId: string): Promise<Record<string, unknown>> {
    return this.get(`/transactions/${txId}`);
  }

  /** Endorse, sign and order a contract call; resolves once the connected peer validated it. */
  async submit(call: CallSpec, options: { timeoutMs?: number } = {}): Promise<SubmitResult> {
    const proposal = signProposal(this.identity, call);
    const { payload } = await this.post<{ payload: InvokePayload }>('/gateway/endorse', { proposal });
    const envelope = signTransaction(this.identity, proposal, payload);
    const outcome = await this.submitEnvelope(envelope, options.timeoutMs);
    return { ...outcome, result: payload.response.result };
  }

  /**
   * Submits an envelope signed elsewhere (an endorsed transaction, or a config transaction from
   * `configEnvelope`) through the connected peer's gateway; resolves once that peer validated it.
   */
  submitEnvelope(envelope: Envelope, timeoutMs?: number): Promise<Omit<SubmitResult, 'result'>> {
    return this.post('/gateway/submit', { envelope, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  }

  /** The network configuration in force at the connected node (admin identities only). */
  config(): Promise<NetworkConfig> {
    return this.get('/admin/config');
  }

  async evaluate(call: CallSpec): Promise<string> {
    const proposal: SignedProposal = signProposal(this.identity, call);
    return (await this.post<{ result: string }>('/gateway/evaluate', { proposal })).result;
  }

  /** Deploys (or upgrades) a contract through the lifecycle: admins' deploy policy applies. */
  deploy(
    name: string,
    code: string,
    options: { version?: string; endorsementPolicy?: unknown } = {},
  ): Promise<SubmitResult> {
    const args = [name, options.version ?? '1', code];
    if (options.endorsementPolicy !== undefined) args.push(JSON.stringify(options.endorsementPolicy));
    return this.submit({ contract: 'lifecycle', fn: 'deploy', args });
  }

  /** Asks the node to stop (admin identities only). */
  stopNode(): Promise<{ stopping: string }> {
    return this.post('/admin/stop', {});
  }

  /** Committed blocks as they happen (server-sent events), until `signal` aborts. */
  async *events(signal?: AbortSignal): AsyncGenerator<{ event: string; data: unknown }> {
    const res = await this.open('GET', '/events', undefined, signal);
    let buffer = '';
    for await (const chunk of res) {
      buffer += (chunk as Buffer).toString('utf8');
      for (let at = buffer.indexOf('\n\n'); at !== -1; at = buffer.indexOf('\n\n')) {
        const raw = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        const event = /^event: (.*)$/m.exec(raw)?.[1];
        const data = /^data: (.*)$/m.exec(raw)?.[1];
        if (event !== undefined && data !== undefined) yield { event, data: JSON.parse(data) as unknown };
      }
    }
  }

  private get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  private post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.open(method, path, body);
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > RESPONSE_BYTES_MAX)
        throw new ClientError(
          0,
          'CLIENT_RESPONSE_TOO_LARGE',
          `response from ${this.base.host} exceeds ${RESPONSE_BYTES_MAX} bytes`,
        );
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
    const status = res.statusCode ?? 0;
    if (status >= 400) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ClientError(
        status,
        error?.code ?? `HTTP_${String(status)}`,
        error?.message ?? `HTTP ${String(status)} from ${this.base.host}`,
      );
    }
    return parsed as T;
  }

  private open(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<import('node:http').IncomingMessage> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const options: RequestOptions = {
      method,
      host: this.base.hostname,
      port: this.base.port,
      path,
      agent: this.agent,
      timeout: REQUEST_TIMEOUT_MS,
      headers:
        payload === undefined
          ? {}
          : { 'content-type': 'application/json', 'content-length': String(payload.length) },
      ...(signal === undefined ? {} : { signal }),
    };
    return new Promise((resolve, reject) => {
      const req = request(options, resolve);
      req.on('timeout', () =>
        req.destroy(
          new ClientError(
            0,
            'CLIENT_TIMEOUT',
            `${this.base.host} did not answer within ${REQUEST_TIMEOUT_MS} ms`,
          ),
        ),
      );
      req.on('error', (e: NodeJS.ErrnoException) => {
        reject(
          e instanceof ClientError
            ? e
            : new ClientError(
                0,
                e.code ?? 'CLIENT_UNREACHABLE',
                `cannot reach ${this.base.host}: ${e.message}`,
              ),
        );
      });
      req.end(payload);
    });
  }
}
