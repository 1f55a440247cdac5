import { once } from 'node:events';
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import { PROTOCOL_VERSION } from '../protocol/index.js';
import type { NetworkConfig, NodeName } from '../protocol/index.js';
import {
  allowNodeRoles,
  authorizeInbound,
  checkServerIsMember,
  Membership,
  peerCertificateDer,
  tlsRefusal,
} from './auth.js';
import type { LinkPolicy, Member, PeerIdentity } from './auth.js';
import { backoffDelayMs, RECONNECT_BASE_MS, RECONNECT_MAX_MS } from './backoff.js';
import { Connection } from './connection.js';
import type { ConnectionEvents, ConnectionSettings, Direction, TrafficCounters } from './connection.js';
import { TransportError } from './errors.js';
import type { TransportErrorCode } from './errors.js';
import { encodeFrame, FrameKind, PAYLOAD_BYTES_MAX } from './frame.js';
import { silentLogger, systemTimers } from './logger.js';
import type { TransportLogger, TransportTimers } from './logger.js';
import { OutboundQueue, QUEUE_BYTES_MAX, QUEUE_FRAMES_MAX } from './queue.js';

/** An idle link sends a heartbeat this often. */
export const HEARTBEAT_INTERVAL_MS = 1_000;
/** A link on which nothing arrived for this long is dead: several missed heartbeats, not one late one. */
export const DEAD_PEER_TIMEOUT_MS = 5_000;
/** Between the TLS handshake and the peer's HELLO; a member sends it at once. */
export const HELLO_TIMEOUT_MS = 5_000;
/** A TLS handshake (dial or accept) that takes longer is abandoned; stops slowloris-style handshakes. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 5_000;
/** A peer that reads nothing of what we send for this long is closed, and its frames then drop. */
export const WRITE_STALL_TIMEOUT_MS = 30_000;
/** `close()` waits this long for a peer to answer GOODBYE before destroying the socket. */
export const CLOSE_TIMEOUT_MS = 2_000;
/** Sockets a listener holds, handshakes included: all members twice over, so a flood cannot exhaust fds. */
export const INBOUND_CONNECTIONS_MAX = 2_048;

export interface TransportLimits {
  readonly heartbeatIntervalMs: number;
  readonly deadPeerTimeoutMs: number;
  readonly helloTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly writeStallTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly reconnectBaseMs: number;
  readonly reconnectMaxMs: number;
  readonly queueFramesMax: number;
  readonly queueBytesMax: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  deadPeerTimeoutMs: DEAD_PEER_TIMEOUT_MS,
  helloTimeoutMs: HELLO_TIMEOUT_MS,
  handshakeTimeoutMs: TLS_HANDSHAKE_TIMEOUT_MS,
  writeStallTimeoutMs: WRITE_STALL_TIMEOUT_MS,
  closeTimeoutMs: CLOSE_TIMEOUT_MS,
  reconnectBaseMs: RECONNECT_BASE_MS,
  reconnectMaxMs: RECONNECT_MAX_MS,
  queueFramesMax: QUEUE_FRAMES_MAX,
  queueBytesMax: QUEUE_BYTES_MAX,
};

export interface TransportOptions {
  /** The current network configuration: members, their certificates and addresses, the CAs. */
  readonly config: NetworkConfig;
  /** This node's name in `config`; its entry's certificate is the one presented. */
  readonly name: string;
  /** This node's private key (PKCS#8 PEM). Never logged. */
  readonly keyPem: string;
  /** Where to listen; defaults to this node's host and port in the configuration. */
  readonly listenHost?: string;
  readonly listenPort?: number;
  readonly onMessage: (from: PeerIdentity, payload: Buffer) => void;
  readonly onPeerUp?: (peer: PeerIdentity) => void;
  readonly onPeerDown?: (peer: PeerIdentity, reason: TransportErrorCode) => void;
  /**
   * Which members this node links with, judged on the identity a certificate proves. It decides both
   * the connections accepted and the members dialed, so it should be symmetric across the network.
   * Default: orderers and peers (never client or admin identities).
   */
  readonly allowInbound?: LinkPolicy;
  readonly logger?: TransportLogger;
  readonly timers?: TransportTimers;
  /** Uniform in [0, 1); only reconnect jitter uses it. */
  readonly random?: () => number;
  readonly limits?: Partial<TransportLimits>;
  /**
   * Test-only: where to dial a member instead of its configured address (the chaos runner puts a
   * fault-injecting TCP relay there). TLS runs end to end, so certificate checks are unchanged.
   */
  readonly dialAddress?: (member: NodeName) => { host: string; port: number } | undefined;
}

export type SendResult = 'queued' | 'dropped-full' | 'unknown-peer' | 'oversized' | 'closed';

export interface PeerMetrics {
  readonly name: string;
  readonly connected: boolean;
  readonly queuedFrames: number;
  readonly queuedBytes: number;
  readonly framesDropped: number;
}

export interface TransportMetrics {
  readonly connectedPeers: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly framesIn: number;
  readonly framesOut: number;
  /** MESSAGE frames refused because a peer's queue was full, or discarded with a removed member's queue. */
  readonly framesDropped: number;
  /** Dials that reached no TLS server (refused, unreachable, timed out); normal while a peer is down. */
  readonly dialFailures: number;
  /** Connections closed before their link came up, by reason: TLS, certificate, membership, HELLO, framing. */
  readonly refusedConnections: Readonly<Partial<Record<TransportErrorCode, number>>>;
  /** Links closed after they were up, by reason. */
  readonly closedLinks: Readonly<Partial<Record<TransportErrorCode, number>>>;
  readonly peers: readonly PeerMetrics[];
}

/** Everything the transport keeps about one member it links with, across that member's connections. */
interface Link {
  member: Member;
  readonly queue: OutboundQueue;
  /** The connection carrying messages, once its HELLO checked out. */
  connection: Connection | undefined;
  /** A dial in progress, from TCP connect until its connection is up or gone. */
  dialing: tls.TLSSocket | undefined;
  cancelReconnect: (() => void) | undefined;
  attempt: number;
  framesDropped: number;
}

/**
 * Mutual-TLS messaging between the members of a network.
 *
 * Dial direction: of two members, only the one whose name sorts lower (JavaScript string order,
 * the same on every node) dials; the other accepts and refuses a dial from a higher name with
 * TRANSPORT_WRONG_DIRECTION. So there is never a duplicate pair of connections to reconcile, and
 * whichever side restarts, the link comes back: the lower one keeps redialing, the higher one is
 * redialed. An accepted connection from a member that already has one replaces it (newest wins):
 * the dialer only dials when it has no link, so its old connection is dead, even if we have not
 * noticed yet (a half-open TCP connection after a crash).
 */
export class Transport {
  private readonly logger: TransportLogger;
  private readonly timers: TransportTimers;
  private readonly random: () => number;
  private readonly limits: TransportLimits;
  private readonly allow: LinkPolicy;
  private readonly name: NodeName;
  private certPem: string;
  private membership: Membership;
  private readonly links = new Map<string, Link>();
  private readonly connections = new Set<Connection>();
  /** Raw TCP sockets of the listener: the only handle on handshakes that never complete. */
  private readonly acceptedSockets = new Set<Socket>();
  private readonly counters: TrafficCounters = { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0 };
  private readonly refused: Partial<Record<TransportErrorCode, number>> = {};
  private readonly closedLinks: Partial<Record<TransportErrorCode, number>> = {};
  private framesDropped = 0;
  private dialFailures = 0;
  private closing: Promise<void> | undefined;
  private readonly server: tls.Server;
  private listening: { host: string; port: number } | undefined;

  private constructor(private readonly options: TransportOptions) {
    this.logger = options.logger ?? silentLogger;
    this.timers = options.timers ?? systemTimers;
    this.random = options.random ?? Math.random;
    this.limits = { ...DEFAULT_TRANSPORT_LIMITS, ...options.limits };
    this.allow = options.allowInbound ?? allowNodeRoles;
    this.membership = Membership.fromConfig(options.config);
    const self = this.membership.get(options.name);
    if (self === undefined) {
      throw new TransportError(
        'TRANSPORT_BAD_OPTIONS',
        `"${options.name}" is not a member of network "${options.config.networkId}"`,
      );
    }
    this.name = self.name;
    this.certPem = self.certPem;
    this.server = tls.createServer({
      ...this.tlsContextOptions(),
      requestCert: true,
      rejectUnauthorized: true,
      handshakeTimeout: this.limits.handshakeTimeoutMs,
    });
    this.server.maxConnections = INBOUND_CONNECTIONS_MAX;
  }

  /** Listens, then dials the members this node dials; resolves once listening. */
  static async start(options: TransportOptions): Promise<Transport> {
    const transport = new Transport(options);
    await transport.listen();
    return transport;
  }

  get address(): { host: string; port: number } {
    if (this.listening === undefined) throw new TransportError('TRANSPORT_CLOSED', 'not listening');
    return this.listening;
  }

  /**
   * Queues `payload` for one member. A member that is not connected right now still gets it when
   * its link comes up (within the queue's bounds): short outages, such as a restart, lose nothing
   * that was not yet handed to a socket.
   */
  send(peer: string, payload: Uint8Array): SendResult {
    if (this.closing !== undefined) return 'closed';
    if (payload.length > PAYLOAD_BYTES_MAX) return 'oversized';
    const link = this.links.get(peer);
    if (link === undefined) return 'unknown-peer';
    return this.enqueue(link, encodeFrame(FrameKind.message, payload));
  }

  /** Queues `payload` for every member whose link is up; the frame is encoded once and shared. */
  broadcast(payload: Uint8Array): { queued: number; dropped: number } {
    const result = { queued: 0, dropped: 0 };
    if (this.closing !== undefined || payload.length > PAYLOAD_BYTES_MAX) return result;
    const frame = encodeFrame(FrameKind.message, payload);
    for (const link of this.links.values()) {
      if (link.connection === undefined) continue;
      if (this.enqueue(link, frame) === 'queued') result.queued += 1;
      else result.dropped += 1;
    }
    return result;
  }

  connectedPeers(): PeerIdentity[] {
    return [...this.links.values()].flatMap((link) =>
      link.connection === undefined ? [] : [identityOf(link.member)],
    );
  }

  /**
   * Adopts a new configuration (after a config transaction): new CA list for handshakes from now
   * on, links to new members, and the links of members that left, changed certificate or are no
   * longer allowed are closed and their queues discarded. This node's own certificate and key stay
   * those it started with.
   */
  updateConfig(config: NetworkConfig): void {
    if (this.closing !== undefined) return;
    if (config.networkId !== this.membership.networkId) {
      throw new TransportError(
        'TRANSPORT_BAD_OPTIONS',
        `a configuration of network "${config.networkId}" cannot replace one of "${this.membership.networkId}"`,
      );
    }
    const next = Membership.fromConfig(config);
    // Members are recognised by their key (Member.fingerprint), which our current certificate
    // certifies: a new certificate of ours with the same fingerprint is a renewal.
    const ownKey = this.membership.get(this.name)?.fingerprint;
    this.membership = next;
    const self = next.get(this.name);
    const newCert = self?.certPem;
    // Present a renewed certificate from now on. Links stay up: a renewal keeps the key.
    if (self !== undefined && self.certPem !== this.certPem && self.fingerprint === ownKey) {
      this.certPem = self.certPem;
      this.logger.info({ node: this.name }, "adopted this node's renewed certificate");
    }
    this.server.setSecureContext(this.tlsContextOptions());
    const selfStays = newCert === this.certPem;
    if (!selfStays) {
      this.logger.warn(
        { node: this.name },
        'this node is no longer a member with its certificate: dropping every link',
      );
    }
    for (const link of [...this.links.values()]) {
      const member = next.get(link.member.name);
      if (!selfStays || member?.fingerprint !== link.member.fingerprint || !this.allow(identityOf(member))) {
        this.removeLink(link);
      } else {
        link.member = member;
      }
    }
    if (selfStays) this.addLinks();
    this.logger.info(
      { sequence: config.sequence, links: this.links.size },
      'transport adopted a new network configuration',
    );
  }

  metrics(): TransportMetrics {
    const peers = [...this.links.values()].map((link) => ({
      name: link.member.name,
      connected: link.connection !== undefined,
      queuedFrames: link.queue.frames,
      queuedBytes: link.queue.bytes,
      framesDropped: link.framesDropped,
    }));
    return {
      connectedPeers: peers.filter((peer) => peer.connected).length,
      ...this.counters,
      framesDropped: this.framesDropped,
      dialFailures: this.dialFailures,
      refusedConnections: { ...this.refused },
      closedLinks: { ...this.closedLinks },
      peers,
    };
  }

  /** Clean shutdown: GOODBYE on every link, sockets ended, listener closed, timers cleared. */
  async close(): Promise<void> {
    this.closing ??= this.shutdown(true);
    return this.closing;
  }

  /** Abrupt shutdown: every socket destroyed without GOODBYE, as a crash looks to the other members. */
  async destroy(): Promise<void> {
    this.closing ??= this.shutdown(false);
    return this.closing;
  }

  private async listen(): Promise<void> {
    const server = this.server;
    server.on('connection', (socket: Socket) => {
      this.acceptedSockets.add(socket);
      // Remembered now: a socket destroyed by a failed handshake no longer knows its peer's address.
      acceptedRemotes.set(socket, remoteOf(socket));
      socket.once('close', () => this.acceptedSockets.delete(socket));
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      this.accept(socket);
    });
    server.on('tlsClientError', (error: Error, socket: tls.TLSSocket) => {
      const { code, cause } = tlsRefusal(error, socket.authorizationError);
      this.refuse(code, cause, remoteOf(socket));
    });
    const self = this.membership.get(this.name);
    const host = this.options.listenHost ?? self?.host ?? '127.0.0.1';
    const port = this.options.listenPort ?? self?.port ?? 0;
    server.listen(port, host);
    await once(server, 'listening');
    server.on('error', (error: Error) => {
      this.logger.error({ err: error }, 'transport listener error');
    });
    const address = server.address();
    this.listening = {
      host,
      port: typeof address === 'object' && address !== null ? address.port : port,
    };
    this.logger.info({ node: this.name, ...this.listening }, 'transport listening');
    this.addLinks();
  }

  private tlsContextOptions(): tls.SecureContextOptions {
    return {
      key: this.options.keyPem,
      cert: this.certPem,
      ca: [...this.membership.caCerts],
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
    };
  }

  private dials(member: Member): boolean {
    return this.name < member.name;
  }

  private addLinks(): void {
    for (const member of this.membership.members()) {
      if (member.name === this.name || this.links.has(member.name)) continue;
      if (!this.allow(identityOf(member))) continue;
      const link: Link = {
        member,
        queue: new OutboundQueue(this.limits.queueFramesMax, this.limits.queueBytesMax),
        connection: undefined,
        dialing: undefined,
        cancelReconnect: undefined,
        attempt: 0,
        framesDropped: 0,
      };
      this.links.set(member.name, link);
      if (this.dials(member)) this.dial(link);
    }
  }

  private removeLink(link: Link): void {
    this.links.delete(link.member.name);
    link.cancelReconnect?.();
    link.cancelReconnect = undefined;
    link.dialing?.destroy();
    const reason = new TransportError(
      'TRANSPORT_MEMBER_REMOVED',
      `${link.member.name} left the configuration or changed certificate`,
    );
    for (const connection of this.connections) {
      if (connection.member.name === link.member.name) connection.fail(reason);
    }
    const discarded = link.queue.clear();
    this.framesDropped += discarded;
    this.logger.info({ peer: link.member.name, discarded }, 'link removed with the membership change');
  }

  private enqueue(link: Link, frame: Buffer): SendResult {
    if (!link.queue.push(frame)) {
      link.framesDropped += 1;
      this.framesDropped += 1;
      return 'dropped-full';
    }
    this.flush(link);
    return 'queued';
  }

  private flush(link: Link): void {
    const connection = link.connection;
    if (connection === undefined) return;
    while (connection.canWrite) {
      const frame = link.queue.shift();
      if (frame === undefined) return;
      connection.write(frame);
    }
  }

  private accept(socket: tls.TLSSocket): void {
    const remote = remoteOf(socket);
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    let member: Member;
    try {
      member = authorizeInbound(
        peerCertificateDer(socket),
        this.membership,
        this.allow,
        new Date(this.timers.now()),
      );
    } catch (error) {
      socket.destroy();
      if (error instanceof TransportError) this.refuse(error.code, error.message, remote);
      else {
        this.logger.error({ err: error, remote }, 'unexpected failure while authorising a connection');
        this.refuse('TRANSPORT_CERT_INVALID', String(error), remote);
      }
      return;
    }
    const link = this.links.get(member.name);
    if (link === undefined || this.dials(member)) {
      socket.destroy();
      this.refuse(
        link === undefined ? 'TRANSPORT_NOT_MEMBER' : 'TRANSPORT_WRONG_DIRECTION',
        link === undefined
          ? `"${member.name}" has no link with this node (it is this node itself, or not allowed)`
          : `"${member.name}" dialed "${this.name}", but the lower name dials`,
        remote,
      );
      return;
    }
    this.startConnection(socket, member, 'inbound');
  }

  private dial(link: Link): void {
    if (this.closing !== undefined || link.connection !== undefined || link.dialing !== undefined) return;
    const member = link.member;
    const target = this.options.dialAddress?.(member.name) ?? member;
    let refusal: TransportError | undefined;
    let socketError: Error | undefined;
    const socket = tls.connect({
      ...this.tlsContextOptions(),
      host: target.host,
      port: target.port,
      // The configuration pins the exact certificate of the member at this address; that replaces,
      // and is stricter than, matching the host name against the certificate's SANs.
      checkServerIdentity: (_host, cert) => {
        refusal = checkServerIsMember(cert.raw, member, this.membership, new Date(this.timers.now()));
        return refusal;
      },
    });
    link.dialing = socket;
    let handedOver = false;
    const cancelHandshakeTimer = this.timers.setTimeout(() => {
      socketError ??= new TransportError(
        'TRANSPORT_TLS_HANDSHAKE',
        `no TLS handshake within ${this.limits.handshakeTimeoutMs} ms`,
      );
      socket.destroy();
    }, this.limits.handshakeTimeoutMs);
    socket.once('secureConnect', () => {
      cancelHandshakeTimer();
      handedOver = true;
      this.startConnection(socket, member, 'outbound');
    });
    socket.on('error', (error: Error) => {
      if (!handedOver) socketError ??= error;
    });
    socket.once('close', () => {
      if (handedOver) return;
      cancelHandshakeTimer();
      if (link.dialing === socket) link.dialing = undefined;
      const remote = `${target.host}:${target.port}`;
      if (refusal !== undefined) {
        this.refuse(refusal.code, refusal.message, remote);
      } else if (socketError !== undefined && isTlsFailure(socketError)) {
        const { code, cause } = tlsRefusal(socketError);
        this.refuse(code, cause, remote);
      } else {
        this.dialFailures += 1;
        this.logger.debug(
          { peer: member.name, remote, err: socketError?.message },
          `could not reach ${member.name} at ${remote}`,
        );
      }
      this.scheduleReconnect(link);
    });
  }

  private scheduleReconnect(link: Link): void {
    if (this.closing !== undefined || this.links.get(link.member.name) !== link) return;
    if (!this.dials(link.member) || link.cancelReconnect !== undefined) return;
    const delayMs = backoffDelayMs(
      link.attempt,
      this.random,
      this.limits.reconnectBaseMs,
      this.limits.reconnectMaxMs,
    );
    link.attempt += 1;
    link.cancelReconnect = this.timers.setTimeout(() => {
      link.cancelReconnect = undefined;
      this.dial(link);
    }, delayMs);
  }

  private startConnection(socket: tls.TLSSocket, member: Member, direction: Direction): Connection {
    const settings: ConnectionSettings = {
      localHello: { version: PROTOCOL_VERSION, networkId: this.membership.networkId, name: this.name },
      heartbeatIntervalMs: this.limits.heartbeatIntervalMs,
      deadPeerTimeoutMs: this.limits.deadPeerTimeoutMs,
      helloTimeoutMs: this.limits.helloTimeoutMs,
      writeStallTimeoutMs: this.limits.writeStallTimeoutMs,
      closeTimeoutMs: this.limits.closeTimeoutMs,
      timers: this.timers,
      logger: this.logger,
      counters: this.counters,
    };
    const events: ConnectionEvents = {
      up: (connection) => {
        this.onUp(connection);
      },
      message: (connection, payload) => {
        try {
          this.options.onMessage(identityOf(connection.member), payload);
        } catch (error) {
          this.logger.error({ err: error, peer: connection.member.name }, 'onMessage threw');
        }
      },
      drain: (connection) => {
        const link = this.links.get(connection.member.name);
        if (link?.connection === connection) this.flush(link);
      },
      closed: (connection, reason, wasUp) => {
        this.onClosed(connection, reason, wasUp);
      },
    };
    const connection = new Connection(socket, member, direction, settings, events);
    this.connections.add(connection);
    connection.start();
    return connection;
  }

  private onUp(connection: Connection): void {
    const link = this.links.get(connection.member.name);
    if (this.closing !== undefined) {
      connection.goodbye();
      return;
    }
    if (link?.member.fingerprint !== connection.member.fingerprint) {
      connection.fail(
        new TransportError('TRANSPORT_MEMBER_REMOVED', `${connection.describe()} left during the handshake`),
      );
      return;
    }
    const previous = link.connection;
    link.connection = connection;
    link.attempt = 0;
    if (previous !== undefined) {
      previous.fail(
        new TransportError('TRANSPORT_REPLACED', `${previous.describe()} replaced by a newer one`),
      );
    }
    this.logger.info({ peer: connection.member.name, remote: connection.remote }, 'peer link up');
    this.notify(() => this.options.onPeerUp?.(identityOf(connection.member)), 'onPeerUp');
    this.flush(link);
  }

  private onClosed(connection: Connection, reason: TransportError, wasUp: boolean): void {
    this.connections.delete(connection);
    const link = this.links.get(connection.member.name);
    const peer = connection.member.name;
    if (wasUp) {
      this.closedLinks[reason.code] = (this.closedLinks[reason.code] ?? 0) + 1;
      const clean = reason.code === 'TRANSPORT_PEER_CLOSED' || reason.code === 'TRANSPORT_CLOSED';
      const fields = { peer, remote: connection.remote, code: reason.code };
      if (clean) this.logger.info(fields, `peer link down: ${reason.message}`);
      else this.logger.warn(fields, `peer link down: ${reason.message}`);
    } else {
      this.refuse(reason.code, reason.message, connection.remote);
    }
    if (link?.connection === connection) {
      link.connection = undefined;
      this.notify(() => this.options.onPeerDown?.(identityOf(connection.member), reason.code), 'onPeerDown');
    }
    if (link !== undefined && connection.direction === 'outbound') {
      // The dial stays "in progress" for the life of its connection, so no second dial overlaps it.
      link.dialing = undefined;
      this.scheduleReconnect(link);
    }
  }

  private refuse(code: TransportErrorCode, message: string, remote: string): void {
    this.refused[code] = (this.refused[code] ?? 0) + 1;
    this.logger.warn({ remote, code }, `refused connection with ${remote}: ${code}: ${message}`);
  }

  private notify(callback: () => void, what: string): void {
    try {
      callback();
    } catch (error) {
      this.logger.error({ err: error }, `${what} threw`);
    }
  }

  private async shutdown(graceful: boolean): Promise<void> {
    for (const link of this.links.values()) {
      link.cancelReconnect?.();
      link.cancelReconnect = undefined;
      link.dialing?.destroy();
    }
    const serverClosed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    const connections = [...this.connections];
    for (const connection of connections) {
      if (graceful) connection.goodbye();
      else connection.destroy();
    }
    await Promise.all(connections.map(async (connection) => connection.closedPromise));
    // What is left on the listener never became a link: handshakes in progress, refused sockets.
    for (const socket of this.acceptedSockets) socket.destroy();
    await serverClosed;
    for (const link of this.links.values()) link.queue.clear();
    this.logger.info({ node: this.name, graceful }, 'transport closed');
  }
}

function identityOf(member: Member): PeerIdentity {
  return { name: member.name, org: member.org, role: member.role };
}

const acceptedRemotes = new WeakMap<Socket, string>();

function remoteOf(socket: Socket): string {
  if (socket.remoteAddress !== undefined) return `${socket.remoteAddress}:${socket.remotePort ?? '?'}`;
  // A server-side TLSSocket wraps the accepted TCP socket as `_parent` (Node internals, hence the
  // guard); that is where the address was remembered.
  const parent = (socket as unknown as { _parent?: unknown })._parent;
  // Not `instanceof Object`: sockets made by Node internals may come from another realm (jest's VM).
  const remembered =
    typeof parent === 'object' && parent !== null ? acceptedRemotes.get(parent as Socket) : undefined;
  return remembered ?? 'an unknown address';
}

/** A dial error that is a verdict of TLS (certificates, alerts) rather than a network failure. */
function isTlsFailure(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('ERR_SSL') || /CERT|VERIFY|ISSUER/.test(code));
}
