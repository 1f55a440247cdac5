import type { TLSSocket } from 'node:tls';
import type { Member } from './auth.js';
import { TransportError } from './errors.js';
import { encodeFrame, FrameDecoder, FrameKind, frameKindName } from './frame.js';
import type { Frame } from './frame.js';
import { decodeHello, encodeHello, helloMismatch } from './hello.js';
import type { Hello } from './hello.js';
import type { TransportLogger, TransportTimers } from './logger.js';

export type Direction = 'inbound' | 'outbound';

/** Counters shared by every connection of one transport; plain numbers, read by `metrics()`. */
export interface TrafficCounters {
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
}

export interface ConnectionSettings {
  readonly localHello: Hello;
  readonly heartbeatIntervalMs: number;
  readonly deadPeerTimeoutMs: number;
  readonly helloTimeoutMs: number;
  readonly writeStallTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly timers: TransportTimers;
  readonly logger: TransportLogger;
  readonly counters: TrafficCounters;
}

export interface ConnectionEvents {
  /** The peer's HELLO checked out: the link may carry messages. */
  up(connection: Connection): void;
  message(connection: Connection, payload: Buffer): void;
  /** The socket accepts writes again after a `write` returned false. */
  drain(connection: Connection): void;
  /** Exactly once, when the socket has closed. `wasUp` tells a refused link from a lost one. */
  closed(connection: Connection, reason: TransportError, wasUp: boolean): void;
}

const GOODBYE_FRAME = encodeFrame(FrameKind.goodbye);
const HEARTBEAT_FRAME = encodeFrame(FrameKind.heartbeat);

/**
 * One authenticated TLS socket to one member: the HELLO exchange, frame decoding, heartbeats and
 * the dead-peer and write-stall timeouts. It owns no queue; the transport pulls from the member's
 * queue while `canWrite` holds, so a queue outlives the connections that drain it.
 */
export class Connection {
  readonly remote: string;
  readonly closedPromise: Promise<void>;
  private readonly decoder = new FrameDecoder();
  private state: 'hello' | 'up' | 'closing' | 'closed' = 'hello';
  private wasUp = false;
  private reason: TransportError | undefined;
  private lastReceivedAtMs: number;
  private drainWaitSinceMs: number | undefined;
  private cancelTimer: (() => void) | undefined;
  private cancelCloseTimer: (() => void) | undefined;
  private resolveClosed: () => void = () => undefined;

  constructor(
    private readonly socket: TLSSocket,
    readonly member: Member,
    readonly direction: Direction,
    private readonly settings: ConnectionSettings,
    private readonly events: ConnectionEvents,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.lastReceivedAtMs = settings.timers.now();
    this.closedPromise = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  /** Up and not waiting for 'drain': the transport may hand it another frame. */
  get canWrite(): boolean {
    return this.state === 'up' && !this.socket.writableNeedDrain;
  }

  start(): void {
    const socket = this.socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.onData(chunk);
    });
    socket.on('end', () => {
      this.onEnd();
    });
    socket.on('drain', () => {
      this.drainWaitSinceMs = undefined;
      if (this.state === 'up') this.events.drain(this);
    });
    socket.on('error', (error: Error) => {
      this.reason ??= new TransportError('TRANSPORT_SOCKET', `socket error: ${error.message}`, {
        cause: error,
      });
    });
    socket.on('close', () => {
      this.onClose();
    });
    this.rawWrite(encodeHello(this.settings.localHello));
    this.schedule(this.settings.helloTimeoutMs, () => {
      this.fail(
        new TransportError(
          'TRANSPORT_HELLO_TIMEOUT',
          `no HELLO from ${this.describe()} within ${this.settings.helloTimeoutMs} ms`,
        ),
      );
    });
  }

  /** Hands one MESSAGE frame to the socket; false means wait for the drain event before the next. */
  write(frame: Buffer): boolean {
    if (this.state !== 'up') return false;
    return this.rawWrite(frame);
  }

  /** Clean shutdown: GOODBYE, then end; destroyed if the peer does not close within the timeout. */
  goodbye(): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    const sayGoodbye = this.state === 'up';
    this.state = 'closing';
    this.reason ??= new TransportError('TRANSPORT_CLOSED', 'this node is shutting down');
    this.cancelTimer?.();
    if (sayGoodbye) this.rawWrite(GOODBYE_FRAME);
    this.socket.end();
    this.cancelCloseTimer = this.settings.timers.setTimeout(() => {
      this.socket.destroy();
    }, this.settings.closeTimeoutMs);
  }

  /** Closes at once for `reason`, which is logged and reported by the closed event. */
  fail(reason: TransportError): void {
    if (this.state === 'closed') return;
    this.reason ??= reason;
    this.socket.destroy();
  }

  /** Closes at once without GOODBYE, as a crash would look to the peer. */
  destroy(): void {
    this.reason ??= new TransportError('TRANSPORT_CLOSED', 'this node stopped abruptly');
    this.socket.destroy();
  }

  describe(): string {
    return `${this.member.name} (${this.direction}, ${this.remote})`;
  }

  private rawWrite(frame: Buffer): boolean {
    this.settings.counters.bytesOut += frame.length;
    this.settings.counters.framesOut += 1;
    const accepted = this.socket.write(frame);
    if (!accepted) this.drainWaitSinceMs ??= this.settings.timers.now();
    return accepted;
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.settings.counters.bytesIn += chunk.length;
    this.lastReceivedAtMs = this.settings.timers.now();
    const { frames, error } = this.decoder.push(chunk);
    for (const frame of frames) {
      if (this.socket.destroyed) return;
      this.settings.counters.framesIn += 1;
      this.onFrame(frame);
    }
    if (error !== undefined) {
      this.fail(new TransportError(error.code, `${error.message}, from ${this.describe()}`));
    }
  }

  private onFrame(frame: Frame): void {
    if (this.state === 'hello') {
      if (frame.kind !== FrameKind.hello) {
        this.fail(
          new TransportError(
            'TRANSPORT_PROTOCOL',
            `expected HELLO from ${this.describe()}, got ${frameKindName(frame.kind)}`,
          ),
        );
        return;
      }
      this.onHello(frame.payload);
      return;
    }
    switch (frame.kind) {
      case FrameKind.hello:
        this.fail(new TransportError('TRANSPORT_PROTOCOL', `a second HELLO from ${this.describe()}`));
        return;
      case FrameKind.heartbeat:
        return;
      case FrameKind.message:
        // A link being closed by us still hands up what arrives: it was sent by an authenticated member.
        this.events.message(this, frame.payload);
        return;
      case FrameKind.goodbye:
        this.reason ??= new TransportError('TRANSPORT_PEER_CLOSED', `${this.describe()} said GOODBYE`);
        this.socket.end();
        return;
      default: {
        const unreachable: never = frame.kind;
        this.fail(new TransportError('TRANSPORT_FRAME_UNKNOWN_KIND', `unknown kind ${String(unreachable)}`));
      }
    }
  }

  private onHello(payload: Buffer): void {
    let mismatch: string | undefined;
    try {
      mismatch = helloMismatch(decodeHello(payload), {
        ...this.settings.localHello,
        name: this.member.name,
      });
    } catch (error) {
      const reason =
        error instanceof TransportError
          ? error
          : new TransportError('TRANSPORT_PROTOCOL', 'HELLO cannot be read', { cause: error });
      this.fail(new TransportError(reason.code, `${reason.message}, from ${this.describe()}`));
      return;
    }
    if (mismatch !== undefined) {
      this.fail(new TransportError('TRANSPORT_HELLO_MISMATCH', `HELLO from ${this.describe()}: ${mismatch}`));
      return;
    }
    this.state = 'up';
    this.wasUp = true;
    this.scheduleTick();
    this.events.up(this);
  }

  private onEnd(): void {
    const truncated = this.decoder.end();
    if (truncated !== undefined && this.reason === undefined) {
      this.fail(new TransportError(truncated.code, `${truncated.message}, from ${this.describe()}`));
      return;
    }
    this.reason ??= new TransportError('TRANSPORT_PEER_CLOSED', `${this.describe()} closed the connection`);
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.cancelTimer?.();
    this.cancelCloseTimer?.();
    const reason =
      this.reason ?? new TransportError('TRANSPORT_PEER_CLOSED', `${this.describe()} closed the connection`);
    this.events.closed(this, reason, this.wasUp);
    this.resolveClosed();
  }

  /** One periodic tick does heartbeats and both liveness checks, so each connection holds one timer. */
  private scheduleTick(): void {
    this.schedule(this.settings.heartbeatIntervalMs, () => {
      this.tick();
    });
  }

  private tick(): void {
    if (this.state !== 'up') return;
    const nowMs = this.settings.timers.now();
    const silentMs = nowMs - this.lastReceivedAtMs;
    if (silentMs >= this.settings.deadPeerTimeoutMs) {
      this.fail(
        new TransportError(
          'TRANSPORT_PEER_TIMEOUT',
          `nothing received from ${this.describe()} for ${silentMs} ms (dead-peer timeout ${this.settings.deadPeerTimeoutMs} ms)`,
        ),
      );
      return;
    }
    if (this.drainWaitSinceMs !== undefined) {
      const stalledMs = nowMs - this.drainWaitSinceMs;
      if (stalledMs >= this.settings.writeStallTimeoutMs) {
        this.fail(
          new TransportError(
            'TRANSPORT_PEER_STALLED',
            `${this.describe()} has not read for ${stalledMs} ms (write-stall timeout ${this.settings.writeStallTimeoutMs} ms)`,
          ),
        );
        return;
      }
      // Data is already waiting for this peer: a heartbeat would only grow the socket buffer.
    } else {
      this.rawWrite(HEARTBEAT_FRAME);
    }
    this.scheduleTick();
  }

  private schedule(delayMs: number, callback: () => void): void {
    this.cancelTimer?.();
    this.cancelTimer = this.settings.timers.setTimeout(() => {
      this.cancelTimer = undefined;
      callback();
    }, delayMs);
  }
}
