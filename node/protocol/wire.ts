/**
 * Bytes of a message on the wire. Hashes and signatures cover canonical bytes (JCS,
 * encoding.ts), and receivers recompute those from the decoded value, so what travels need only
 * be valid JSON of the same value: V8's JSON.stringify is several times faster than JCS, whose
 * key sorting was the largest CPU cost of sending a block. Decoding is the same for both
 * (decodeJson + the schema).
 */
export function wireBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
