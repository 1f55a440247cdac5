import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { canonicalBytes, canonicalString, decodeJson } from './encoding.js';
import { ProtocolError } from './errors.js';

describe('canonical encoding (RFC 8785)', () => {
  it('produces the same bytes whatever the key order', () => {
    const a = { b: 1, a: { d: [3, 'x'], c: null }, e: true };
    const b = { e: true, a: { c: null, d: [3, 'x'] }, b: 1 };
    expect(canonicalString(a)).toBe('{"a":{"c":null,"d":[3,"x"]},"b":1,"e":true}');
    expect(canonicalBytes(a).equals(canonicalBytes(b))).toBe(true);
  });

  it('matches the RFC 8785 vectors for key order by UTF-16 code unit and string escaping', () => {
    // RFC 8785 section 3.2.3: keys sort by UTF-16 code units, not by code point or locale.
    const value = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    expect(canonicalString(value)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
    expect(canonicalString({ s: '\u0000\u001f"\\/\u2028' })).toBe('{"s":"\\u0000\\u001f\\"\\\\/\u2028"}');
  });

  it('round-trips any JSON value to identical canonical bytes (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const bytes = canonicalBytes(value);
        const again = canonicalBytes(decodeJson(bytes, bytes.length, 'value'));
        expect(again.equals(bytes)).toBe(true);
      }),
    );
  });

  it('refuses lone surrogates, which have no canonical UTF-8 form', () => {
    expect(() => canonicalBytes({ s: '\ud800' })).toThrow(ProtocolError);
  });
});

describe('decodeJson', () => {
  it('refuses input over the limit before parsing it', () => {
    const err = captureError(() => decodeJson(Buffer.alloc(11, 0x20), 10, 'envelope'));
    expect(err).toMatchObject({ code: 'PROTOCOL_OVERSIZED' });
    expect(err.message).toContain('envelope is 11 bytes, over the 10-byte limit');
  });

  it('refuses invalid UTF-8 and invalid JSON with a named error', () => {
    expect(captureError(() => decodeJson(Buffer.from([0x22, 0xff, 0x22]), 100, 'block'))).toMatchObject({
      code: 'PROTOCOL_MALFORMED',
      message: 'block is not valid UTF-8',
    });
    expect(captureError(() => decodeJson(Buffer.from('{"a":'), 100, 'block')).message).toMatch(
      /^block is not valid JSON/,
    );
  });

  it('never throws anything but a ProtocolError on arbitrary bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          decodeJson(bytes, 128, 'frame');
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
    );
  });
});

function captureError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
  throw new Error('expected a ProtocolError');
}
