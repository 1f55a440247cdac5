import canonicalize from 'canonicalize';
import { ProtocolError } from './errors.js';
import { JSON_DEPTH_MAX } from './limits.js';

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
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
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
  if (jsonDepth(value) > JSON_DEPTH_MAX) {
    throw new ProtocolError('PROTOCOL_MALFORMED', `${what} nests deeper than ${JSON_DEPTH_MAX} levels`);
  }
  // Strict UTF-8 cannot carry a lone surrogate, but a JSON escape (\ud800) can; such a string has
  // no canonical encoding, so hashing or verifying the value later would throw. Refuse it here.
  if (SURROGATE_ESCAPE.test(text) && hasLoneSurrogate(value)) {
    throw new ProtocolError(
      'PROTOCOL_MALFORMED',
      `${what} contains a string that is not well-formed Unicode (a lone surrogate)`,
    );
  }
  return value;
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Iterative, as jsonDepth; looks at keys and string values. */
function hasLoneSurrogate(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) return true;
    } else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        if (LONE_SURROGATE.test(key)) return true;
        stack.push(child);
      }
    }
  }
  return false;
}

/** Iterative, so a hostile document cannot overflow the stack while being measured. */
function jsonDepth(root: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[root, 1]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [value, depth] = item;
    if (value === null || typeof value !== 'object') continue;
    if (depth > deepest) deepest = depth;
    if (deepest > JSON_DEPTH_MAX) return deepest;
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return deepest;
}
