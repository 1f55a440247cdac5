// Helpers for this folder's tests: real sockets, recorded logs, and waits bounded by deadlines.
import { once } from 'node:events';
import * as tls from 'node:tls';
import type { PeerIdentity } from './auth.js';
import { waitFor } from './local-network.js';
import type { TransportLogger } from './logger.js';

/** Long enough for a loaded CI machine, short enough that a hang fails fast. */
export const WAIT_MS = 15_000;

export interface LogEntry {
  readonly level: 'info' | 'warn' | 'error' | 'debug';
  readonly obj: object;
  readonly msg: string;
}

export class LogCapture implements TransportLogger {
  readonly entries: LogEntry[] = [];
  info(obj: object, msg: string): void {
    this.entries.push({ level: 'info', obj, msg });
  }
  warn(obj: object, msg: string): void {
    this.entries.push({ level: 'warn', obj, msg });
  }
  error(obj: object, msg: string): void {
    this.entries.push({ level: 'error', obj, msg });
  }
  debug(obj: object, msg: string): void {
    this.entries.push({ level: 'debug', obj, msg });
  }
  messages(level?: LogEntry['level']): string[] {
    return this.entries.filter((e) => level === undefined || e.level === level).map((e) => e.msg);
  }
}

export interface Received {
  readonly from: PeerIdentity;
  readonly payload: Buffer;
}

/** Everything one node's onMessage was handed, in order. */
export class Inbox {
  readonly received: Received[] = [];
  readonly onMessage = (from: PeerIdentity, payload: Buffer): void => {
    this.received.push({ from, payload });
  };

  async waitFor(predicate: (message: Received) => boolean, what: string): Promise<Received> {
    await waitFor(() => this.received.some(predicate), WAIT_MS, what);
    return this.received.find(predicate) as Received;
  }
}

export interface RawClientOptions {
  readonly port: number;
  readonly host?: string;
  readonly certPem?: string;
  readonly keyPem?: string;
}

/**
 * A TLS 1.3 client outside any transport, for playing a misbehaving or impostor node. It does not
 * check the server (the server is what is under test). Resolves once its side of the handshake is done.
 */
export async function rawTlsClient(options: RawClientOptions): Promise<tls.TLSSocket> {
  const socket = tls.connect({
    host: options.host ?? '127.0.0.1',
    port: options.port,
    ...(options.certPem === undefined ? {} : { cert: options.certPem }),
    ...(options.keyPem === undefined ? {} : { key: options.keyPem }),
    rejectUnauthorized: false,
    minVersion: 'TLSv1.3',
  });
  socket.on('error', () => undefined); // the server hanging up on us is the expected outcome
  await once(socket, 'secureConnect');
  return socket;
}

/** Resolves when the socket has closed, whoever closed it. */
export async function closed(socket: {
  destroyed: boolean;
  resume(): unknown;
  once(event: 'close', cb: () => void): unknown;
}): Promise<void> {
  if (socket.destroyed) return;
  // A paused socket never reads the peer's FIN, so it would never close.
  socket.resume();
  await new Promise<void>((resolve) => socket.once('close', resolve));
}
