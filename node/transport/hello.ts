import { NAME_CHARS_MAX, PROTOCOL_VERSION } from '../protocol/index.js';
import { TransportError } from './errors.js';
import { encodeFrame, FrameKind, HELLO_PAYLOAD_BYTES_MAX } from './frame.js';

/** The first frame each way. The name must match the certificate; TLS already proved the key. */
export interface Hello {
  readonly version: number;
  readonly networkId: string;
  readonly name: string;
}

export function encodeHello(hello: Hello): Buffer {
  return encodeFrame(FrameKind.hello, Buffer.from(JSON.stringify(hello), 'utf8'));
}

/** Parses a HELLO payload; throws TRANSPORT_PROTOCOL naming what is wrong. */
export function decodeHello(payload: Buffer): Hello {
  if (payload.length > HELLO_PAYLOAD_BYTES_MAX) {
    throw new TransportError('TRANSPORT_PROTOCOL', `HELLO of ${payload.length} bytes is too long`);
  }
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    throw new TransportError('TRANSPORT_PROTOCOL', 'HELLO is not JSON', { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TransportError('TRANSPORT_PROTOCOL', 'HELLO is not a JSON object');
  }
  const record = value as Record<string, unknown>;
  const { version, networkId, name } = record;
  if (Object.keys(record).length !== 3) {
    throw new TransportError('TRANSPORT_PROTOCOL', 'HELLO must have exactly version, networkId and name');
  }
  if (typeof version !== 'number' || !Number.isSafeInteger(version)) {
    throw new TransportError('TRANSPORT_PROTOCOL', 'HELLO.version is not an integer');
  }
  for (const [field, text] of [
    ['networkId', networkId],
    ['name', name],
  ] as const) {
    if (typeof text !== 'string' || text.length === 0 || text.length > NAME_CHARS_MAX) {
      throw new TransportError(
        'TRANSPORT_PROTOCOL',
        `HELLO.${field} is not a name of 1 to ${NAME_CHARS_MAX} characters`,
      );
    }
  }
  return { version, networkId: networkId as string, name: name as string };
}

/** Why a well-formed HELLO is not the one expected on this link, or undefined when it is. */
export function helloMismatch(hello: Hello, expected: Hello): string | undefined {
  if (hello.version !== PROTOCOL_VERSION) {
    return `protocol version ${hello.version}, expected ${PROTOCOL_VERSION}`;
  }
  if (hello.networkId !== expected.networkId) {
    return `network "${hello.networkId}", expected "${expected.networkId}"`;
  }
  if (hello.name !== expected.name) {
    return `node name "${hello.name}" but its certificate is that of "${expected.name}"`;
  }
  return undefined;
}
