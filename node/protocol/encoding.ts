import canonicalize from 'canonicalize';
import { ProtocolError } from './errors.js';

/**
 * The ONE byte encoding used for every hash and signature: RFC 8785 JSON Canonicalization
 * Scheme (JCS) in UTF-8. Object keys are sorted by UTF-16 code units, no whitespace, strings
 * escaped as ECMAScript's JSON.stringify does. Our schemas allow only strings, booleans, null,
 * arrays, objects and safe integers, so JCS's number rules never meet a fraction or exponent.
 * Binary data travels as lowercase hex (hashes, signatures) or base64 (state values).
 *
 * Why JCS and not CBOR: the same bytes are readable in PostgreSQL (`convert_from(header,
 * 'UTF8')::jsonb`), in logs and by any implementer with a JSON library plus a key sort.
 */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalString(value), 'utf8');
}

export function canonicalString(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (cause) {
    throw new ProtocolError(
      'PROTOCOL_MALFORMED',
      `value cannot be canonicalised: ${(cause as Error).message}`,
      undefined,
      {
        cause,
      },
    );
  }
  if (text === undefined) throw new ProtocolError('PROTOCOL_MALFORMED', 'value has no JSON representation');
  return text;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses inbound bytes into untyped JSON, refusing oversized input before looking at it and
 * invalid UTF-8 instead of silently replacing it. The caller then runs one schema check.
 */
export function decodeJson(bytes: Uint8Array, maxBytes: number, what: string): unknown {
  if (bytes.byteLength > maxBytes) {
    throw new ProtocolError(
      'PROTOCOL_OVERSIZED',
      `${what} is ${bytes.byteLength} bytes, over the ${maxBytes}-byte limit`,
    );
  }
  let text: string;
  try {
    text = utf8Strict.decode(bytes);
  } catch (cause) {
    throw new ProtocolError('PROTOCOL_MALFORMED', `${what} is not valid UTF-8`, undefined, { cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new ProtocolError(
      'PROTOCOL_MALFORMED',
      `${what} is not valid JSON: ${(cause as Error).message}`,
      undefined,
      {
        cause,
      },
    );
  }
}
