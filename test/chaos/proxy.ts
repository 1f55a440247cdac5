import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A fault-injecting TCP relay: it listens on a loopback address and forwards every connection to
 * one target, byte for byte, so TLS runs end to end through it and certificate checks are the
 * same as on a direct link. Each direction of the relay can be cut (bytes, FIN and RST are held,
 * as a black-holed route holds TCP segments until it heals; nothing is dropped, so the TLS stream
 * never corrupts), delayed (every chunk is held a fixed time plus jitter, order kept), and every
 * connection can be reset (RST on both sides). Refusing makes it a dead server: new connections
 * are reset at once and existing ones too.
 *
 * "forward" is from the side that connected to the relay (the dialer) to the target, "backward"
 * the other way.
 */
export type Direction = 'forward' | 'backward';

/** Held bytes beyond which the relay stops reading from the sender, so TCP pushes back on it. */
const HELD_BYTES_HIGH = 1024 * 1024;
const HELD_BYTES_LOW = 256 * 1024;

export interface ProxyStats {
  readonly connections: number;
  readonly forwardBytes: number;
  readonly backwardBytes: number;
  readonly resets: number;
}

interface DirectionState {
  cut: boolean;
  delayMs: number;
  jitterMs: number;
  bytes: number;
}

type Item = { readonly at: number } & (
  { readonly kind: 'data'; readonly chunk: Buffer } | { readonly kind: 'end' } | { readonly kind: 'reset' }
);

/** One direction of one relayed connection: what `src` sent, on its way to `dst`. */
class Pipe {
  private readonly queue: Item[] = [];
  private held = 0;
  private lastAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingDrain = false;
  private paused = false;
  private discarded = false;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly state: DirectionState,
    private readonly random: () => number,
  ) {
    src.on('data', (chunk: Buffer) => {
      this.push({ kind: 'data', chunk });
    });
    src.on('end', () => {
      this.push({ kind: 'end' });
    });
    src.on('close', (hadError) => {
      // A clean close after FIN was already passed on as 'end'; anything else reaches the other
      // side as the RST it was.
      if (hadError || !src.readableEnded) this.push({ kind: 'reset' });
    });
    dst.on('close', () => {
      this.waitingDrain = false;
    });
  }

  private push(item: { kind: 'data'; chunk: Buffer } | { kind: 'end' } | { kind: 'reset' }): void {
    if (this.discarded) return;
    const delay = this.state.delayMs + Math.floor(this.random() * (this.state.jitterMs + 1));
    // Never before the item ahead of it: a delayed TCP stream stays in order.
    const at = Math.max(Date.now() + delay, this.lastAt);
    this.lastAt = at;
    this.queue.push({ ...item, at });
    if (item.kind === 'data') {
      this.held += item.chunk.length;
      if (this.held > HELD_BYTES_HIGH && !this.paused) {
        this.paused = true;
        this.src.pause();
      }
    }
    this.pump();
  }

  /** Delivers what is due, unless the direction is cut or the receiver pushes back. */
  pump(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.state.cut || this.waitingDrain || this.discarded) return;
    const now = Date.now();
    for (let item = this.queue[0]; item !== undefined; item = this.queue[0]) {
      if (item.at > now) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, item.at - now);
        break;
      }
      this.queue.shift();
      if (item.kind === 'data') {
        this.held -= item.chunk.length;
        this.state.bytes += item.chunk.length;
        if (!this.dst.destroyed && !this.dst.write(item.chunk)) {
          this.waitingDrain = true;
          this.dst.once('drain', () => {
            this.waitingDrain = false;
            this.pump();
          });
          break;
        }
      } else if (item.kind === 'end') {
        if (!this.dst.destroyed) this.dst.end();
      } else {
        resetSocket(this.dst);
      }
    }
    if (this.paused && this.held < HELD_BYTES_LOW) {
      this.paused = false;
      this.src.resume();
    }
  }

  discard(): void {
    this.discarded = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.held = 0;
  }
}

interface Relayed {
  readonly client: Socket;
  readonly server: Socket;
  readonly forward: Pipe;
  readonly backward: Pipe;
}

/** What one fault does to a relay; several faults may impair the same relay at once. */
export interface Impairment {
  readonly cut?: Direction | 'both';
  readonly delay?: { readonly direction: Direction | 'both'; readonly ms: number; readonly jitterMs: number };
  /** A dead server: every connection, existing and new, is reset. */
  readonly refuse?: boolean;
}

export class FaultProxy {
  private readonly relayed = new Set<Relayed>();
  private readonly states: Record<Direction, DirectionState> = {
    forward: { cut: false, delayMs: 0, jitterMs: 0, bytes: 0 },
    backward: { cut: false, delayMs: 0, jitterMs: 0, bytes: 0 },
  };
  /** Impairments in force, by the fault that imposed them: the relay's state is their union. */
  private readonly impairments = new Map<string, Impairment>();
  private refusing = false;
  private accepted = 0;
  private resets = 0;

  private constructor(
    readonly label: string,
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
    private readonly target: { host: string; port: number },
    private readonly random: () => number,
  ) {}

  /** Listens on `listenHost` (port 0: the kernel picks one) and relays to `target`. */
  static async start(options: {
    label: string;
    listenHost: string;
    target: { host: string; port: number };
    /** Uniform in [0, 1): delay jitter only. */
    random?: () => number;
  }): Promise<FaultProxy> {
    const server = createServer({ allowHalfOpen: true });
    server.listen(0, options.listenHost);
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address !== 'object') throw new Error('relay has no address');
    const proxy = new FaultProxy(
      options.label,
      server,
      options.listenHost,
      address.port,
      options.target,
      options.random ?? Math.random,
    );
    server.on('connection', (socket: Socket) => {
      proxy.onConnection(socket);
    });
    return proxy;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get stats(): ProxyStats {
    return {
      connections: this.accepted,
      forwardBytes: this.states.forward.bytes,
      backwardBytes: this.states.backward.bytes,
      resets: this.resets,
    };
  }

  /** Connections relayed right now. */
  get open(): number {
    return this.relayed.size;
  }

  get faulty(): boolean {
    return this.impairments.size > 0;
  }

  /**
   * Imposes `impairment` on behalf of `owner` (replacing what that owner imposed before). A cut
   * black-holes a direction: nothing passes until it is lifted, then everything held does. A delay
   * holds every chunk `ms` plus up to `jitterMs`, in order. Refusing resets every connection.
   */
  impair(owner: string, impairment: Impairment): void {
    this.impairments.set(owner, impairment);
    this.recompute();
  }

  /** Lifts what `owner` imposed; the relay is transparent again once no owner impairs it. */
  release(owner: string): void {
    if (this.impairments.delete(owner)) this.recompute();
  }

  /** Lifts every impairment. */
  heal(): void {
    this.impairments.clear();
    this.recompute();
  }

  /** Resets every relayed connection (RST to both ends); new ones are relayed as before. */
  reset(): void {
    for (const r of [...this.relayed]) {
      this.resets += 1;
      this.drop(r);
    }
  }

  async close(): Promise<void> {
    this.impairments.clear();
    this.refusing = true;
    const closed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    for (const r of [...this.relayed]) this.drop(r);
    await closed;
  }

  private recompute(): void {
    const next: Record<Direction, { cut: boolean; delayMs: number; jitterMs: number }> = {
      forward: { cut: false, delayMs: 0, jitterMs: 0 },
      backward: { cut: false, delayMs: 0, jitterMs: 0 },
    };
    let refusing = false;
    for (const imp of this.impairments.values()) {
      if (imp.refuse === true) refusing = true;
      if (imp.cut !== undefined) for (const d of directions(imp.cut)) next[d].cut = true;
      if (imp.delay !== undefined) {
        for (const d of directions(imp.delay.direction)) {
          next[d].delayMs = Math.max(next[d].delayMs, imp.delay.ms);
          next[d].jitterMs = Math.max(next[d].jitterMs, imp.delay.jitterMs);
        }
      }
    }
    for (const d of directions('both')) Object.assign(this.states[d], next[d]);
    const startsRefusing = refusing && !this.refusing;
    this.refusing = refusing;
    if (startsRefusing) this.reset();
    for (const r of this.relayed) {
      r.forward.pump();
      r.backward.pump();
    }
  }

  private onConnection(client: Socket): void {
    client.on('error', () => undefined);
    if (this.refusing) {
      this.resets += 1;
      resetSocket(client);
      return;
    }
    this.accepted += 1;
    client.setNoDelay(true);
    const server = connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    server.on('error', () => undefined);
    server.setNoDelay(true);
    const relayed: Relayed = {
      client,
      server,
      forward: new Pipe(client, server, this.states.forward, this.random),
      backward: new Pipe(server, client, this.states.backward, this.random),
    };
    this.relayed.add(relayed);
    let closed = 0;
    const onClose = (): void => {
      closed += 1;
      if (closed === 2) {
        relayed.forward.discard();
        relayed.backward.discard();
        this.relayed.delete(relayed);
      }
    };
    client.once('close', onClose);
    server.once('close', onClose);
  }

  private drop(r: Relayed): void {
    r.forward.discard();
    r.backward.discard();
    resetSocket(r.client);
    resetSocket(r.server);
    this.relayed.delete(r);
  }
}

function directions(direction: Direction | 'both'): Direction[] {
  return direction === 'both' ? ['forward', 'backward'] : [direction];
}

/** Closes with an RST, as a crashed host or a middlebox reset does; falls back to destroy. */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
