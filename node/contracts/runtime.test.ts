import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { canonicalString, EVENTS_MAX, RESULT_CHARS_MAX } from '../protocol/index.js';
import { ContractError, ContractRuntime, InMemoryState, loadSampleContract } from './index.js';
import { ContractInstance, DEFAULT_CONTRACT_LIMITS } from './runtime.js';
import { newSandbox } from './sandbox.js';
import { b64, request } from './test-support.js';

let runtime: ContractRuntime;
beforeAll(async () => {
  runtime = await ContractRuntime.create();
  runtime.install('kv', loadSampleContract('kv').source);
});
afterAll(() => {
  runtime.dispose();
});

/** The ContractError a call throws (fails the test if it does not throw one). */
function errorOf(run: () => unknown): ContractError {
  try {
    run();
  } catch (error) {
    if (error instanceof ContractError) return error;
    throw error;
  }
  throw new Error('expected a ContractError');
}

describe('loading', () => {
  test('lists the exported functions and content-addresses the source', () => {
    const source = 'export function a(ctx) { return 1; }\nfunction helper() {}\nexport function b(ctx) {}\n';
    const info = runtime.install('load-ok', source);
    expect(info.functions).toEqual(['a', 'b']);
    expect(info.codeHash).toMatch(/^[0-9a-f]{64}$/);
    expect(runtime.install('load-ok', source).codeHash).toBe(info.codeHash);
    expect(runtime.install('load-ok', `${source} `).codeHash).not.toBe(info.codeHash);
  });

  test('a syntax error names its line and column', () => {
    const error = errorOf(() =>
      runtime.install('bad-syntax', 'export function f(ctx) {\n  return 1 +;\n}\n'),
    );
    expect(error.code).toBe('CONTRACT_SYNTAX');
    expect(error.details.line).toBe(2);
    expect(error.details.column).toBeGreaterThan(0);
    expect(error.message).toMatch(/line 2, column \d+/);
  });

  test('refuses export forms other than `export function` and sources exporting nothing', () => {
    expect(
      errorOf(() => runtime.install('bad-export', 'export const x = 1;\nexport function f() {}')).code,
    ).toBe('CONTRACT_LOAD_FAILED');
    expect(errorOf(() => runtime.install('bad-export', 'function f() {}')).code).toBe('CONTRACT_LOAD_FAILED');
    expect(
      errorOf(() => runtime.install('bad-export', 'import x from "y";\nexport function f() {}')).code,
    ).toBe('CONTRACT_LOAD_FAILED');
    // A template literal that looks like an export must not be rewritten silently.
    const tricky = 'export function f() { return `\nexport function g() {}`; }';
    expect(errorOf(() => runtime.install('bad-export', tricky)).code).toBe('CONTRACT_LOAD_FAILED');
  });

  test('unknown contracts and functions have their own codes', () => {
    const state = new InMemoryState();
    expect(errorOf(() => runtime.simulate(request('nope', 'put', [], state))).code).toBe(
      'CONTRACT_NOT_FOUND',
    );
    expect(errorOf(() => runtime.simulate(request('kv', 'nope', [], state))).code).toBe(
      'CONTRACT_FUNCTION_NOT_FOUND',
    );
    // Helpers that are not exported are not callable.
    runtime.install('helper', 'function secret() { return 1; }\nexport function f() {}');
    expect(errorOf(() => runtime.simulate(request('helper', 'secret', [], state))).code).toBe(
      'CONTRACT_FUNCTION_NOT_FOUND',
    );
  });
});

describe('read/write sets', () => {
  test('reads record the version seen, and null for an absent key', () => {
    const state = new InMemoryState();
    state.set('kv', 'present', 'x', { height: 7, txIndex: 2 });
    runtime.install(
      'reader',
      'export function f(ctx) { return [ctx.get("present"), ctx.get("absent"), ctx.get("present")]; }',
    );
    state.set('reader', 'present', 'hello', { height: 3, txIndex: 1 });
    const out = runtime.simulate(request('reader', 'f', [], state));
    expect(JSON.parse(out.result)).toEqual(['hello', null, 'hello']);
    expect(out.rwset.reads).toEqual([
      { ns: 'reader', key: 'absent', version: null },
      { ns: 'reader', key: 'present', version: { height: 3, txIndex: 1 } },
    ]);
    expect(out.rwset.writes).toEqual([]);
  });

  test('a transaction reads its own writes, which are not recorded as reads; last write wins', () => {
    const state = new InMemoryState();
    runtime.install(
      'ryow',
      `export function f(ctx) {
        ctx.put('a', 'one'); ctx.put('a', 'two'); const a = ctx.get('a');
        ctx.put('b', 'x'); ctx.del('b'); const b = ctx.get('b');
        return { a, b, all: ctx.range('', '') };
      }`,
    );
    state.set('ryow', 'c', 'committed', { height: 1, txIndex: 0 });
    const out = runtime.simulate(request('ryow', 'f', [], state));
    expect(JSON.parse(out.result)).toEqual({
      a: 'two',
      b: null,
      all: [
        { key: 'a', value: 'two' },
        { key: 'c', value: 'committed' },
      ],
    });
    expect(out.rwset.reads).toEqual([{ ns: 'ryow', key: 'c', version: { height: 1, txIndex: 0 } }]);
    expect(out.rwset.writes).toEqual([
      { ns: 'ryow', key: 'a', value: b64('two') },
      { ns: 'ryow', key: 'b', value: null },
    ]);
  });

  test('values are UTF-8 text stored as base64', () => {
    const out = runtime.simulate(request('kv', 'put', ['k', 'blåbærgrød €'], new InMemoryState()));
    expect(out.rwset.writes).toEqual([{ ns: 'kv', key: 'k', value: b64('blåbærgrød €') }]);
  });

  test('a contract cannot read or write another contract’s keys', () => {
    const state = new InMemoryState();
    state.set('kv', 'secret', 'kv-only', { height: 1, txIndex: 0 });
    runtime.install(
      'snoop',
      'export function f(ctx) { ctx.put("secret", "overwritten"); return [ctx.range("", ""), ctx.get("kv~secret")]; }',
    );
    const out = runtime.simulate(request('snoop', 'f', [], state));
    expect(JSON.parse(out.result)).toEqual([[{ key: 'secret', value: 'overwritten' }], null]);
    expect([...out.rwset.reads, ...out.rwset.writes].every((e) => e.ns === 'snoop')).toBe(true);
    expect(state.get('kv', 'secret')?.version).toEqual({ height: 1, txIndex: 0 });
  });
});

describe('failures', () => {
  test('a contract that throws yields CONTRACT_THREW with its message and no writes leak into the next call', () => {
    runtime.install(
      'thrower',
      'export function f(ctx) { ctx.put("k", "v"); throw new Error("no such thing"); }',
    );
    const state = new InMemoryState();
    const error = errorOf(() => runtime.simulate(request('thrower', 'f', [], state)));
    expect(error.code).toBe('CONTRACT_THREW');
    expect(error.details.jsMessage).toBe('no such thing');
    const after = runtime.simulate(request('kv', 'get', ['k'], state));
    expect(after.rwset.writes).toEqual([]);
  });

  test('an endless loop ends with CONTRACT_STEP_LIMIT (counted work, not the clock) and the contract serves the next call', () => {
    runtime.install(
      'spin',
      'export function loop(ctx) { for (;;) {} }\nexport function ok(ctx) { return "fine"; }',
    );
    const state = new InMemoryState();
    expect(errorOf(() => runtime.simulate(request('spin', 'loop', [], state))).code).toBe(
      'CONTRACT_STEP_LIMIT',
    );
    // A try/catch cannot swallow the interrupt.
    runtime.install('spin2', 'export function f(ctx) { try { for (;;) {} } catch (e) { return "caught"; } }');
    expect(errorOf(() => runtime.simulate(request('spin2', 'f', [], state))).code).toBe(
      'CONTRACT_STEP_LIMIT',
    );
    expect(runtime.simulate(request('spin', 'ok', [], state)).result).toBe('"fine"');
  });

  test('a memory bomb ends with CONTRACT_OUT_OF_MEMORY and the contract serves the next call', () => {
    runtime.install(
      'bomb',
      `export function arrays(ctx) { const a = []; for (;;) a.push([a.length]); }
export function map(ctx) { const m = new Map(); for (let i = 0; ; i++) m.set('k' + i, i); }
export function ok(ctx) { return 1; }`,
    );
    const state = new InMemoryState();
    // The code, not a stopwatch: the memory limit is counted in bytes, so a bomb cannot outlast it
    // and end with CONTRACT_TIMEOUT on a slow or busy machine.
    expect(errorOf(() => runtime.simulate(request('bomb', 'arrays', [], state))).code).toBe(
      'CONTRACT_OUT_OF_MEMORY',
    );
    expect(runtime.simulate(request('bomb', 'ok', [], state)).result).toBe('1');
    expect(errorOf(() => runtime.simulate(request('bomb', 'map', [], state))).code).toBe(
      'CONTRACT_OUT_OF_MEMORY',
    );
    expect(runtime.simulate(request('bomb', 'ok', [], state)).result).toBe('1');
  });

  test('unbounded recursion ends with CONTRACT_STACK_OVERFLOW', () => {
    runtime.install(
      'deep',
      'function r(n) { return r(n + 1) + 1; }\nexport function f(ctx) { return r(0); }',
    );
    expect(errorOf(() => runtime.simulate(request('deep', 'f', [], new InMemoryState()))).code).toBe(
      'CONTRACT_STACK_OVERFLOW',
    );
  });

  test('oversized results and too many or too large events are refused, even when the contract catches', () => {
    const state = new InMemoryState();
    runtime.install(
      'big',
      `export function result(ctx) { return "x".repeat(${RESULT_CHARS_MAX + 1}); }
export function events(ctx) { for (let i = 0; i <= ${EVENTS_MAX}; i++) { try { ctx.emit("e", "p"); } catch (e) {} } return 1; }
export function payload(ctx) { ctx.emit("e", "x".repeat(70000)); }
export function promise(ctx) { return Promise.resolve(1); }
export function bigint(ctx) { return 1n; }`,
    );
    expect(errorOf(() => runtime.simulate(request('big', 'result', [], state))).code).toBe(
      'CONTRACT_BAD_RESULT',
    );
    expect(errorOf(() => runtime.simulate(request('big', 'events', [], state))).code).toBe(
      'CONTRACT_LIMIT_EXCEEDED',
    );
    expect(errorOf(() => runtime.simulate(request('big', 'payload', [], state))).code).toBe(
      'CONTRACT_LIMIT_EXCEEDED',
    );
    expect(errorOf(() => runtime.simulate(request('big', 'promise', [], state))).code).toBe(
      'CONTRACT_BAD_RESULT',
    );
    expect(errorOf(() => runtime.simulate(request('big', 'bigint', [], state))).code).toBe(
      'CONTRACT_BAD_RESULT',
    );
  });

  test('malformed requests are refused before any contract code runs', () => {
    const state = new InMemoryState();
    const bad = [
      request('kv', 'put', [1 as unknown as string], state),
      request('kv', 'put', [], state, { txId: 'not-hex' }),
      request('Bad Name', 'put', [], state),
      request('kv', 'put', [], state, {
        caller: null as unknown as { org: string; role: string; name: string },
      }),
    ];
    for (const r of bad) expect(errorOf(() => runtime.simulate(r)).code).toBe('CONTRACT_BAD_REQUEST');
  });
});

describe('memory limit: bytes of a sandbox of its own per contract', () => {
  const MIB = 1024 * 1024;
  const BOMBS = `export function strings(ctx, count) { const a = []; for (let i = 0; i < Number(count); i++) a.push('x'.repeat(${MIB})); return a.length; }
export function small(ctx) { const a = []; for (;;) a.push('x'.repeat(1024)); }
export function huge(ctx) { return 'x'.repeat(${256 * MIB}).length; }
export function buffer(ctx, mib) { return new ArrayBuffer(Number(mib) * ${MIB}).byteLength; }
export function typed(ctx) { const a = []; for (;;) a.push(new Float64Array(${MIB / 8})); }
export function ok(ctx) { return 1; }`;

  test('large-string, single huge allocation and typed-array bombs end with CONTRACT_OUT_OF_MEMORY, and the contract serves the next call', () => {
    runtime.install('bombs', BOMBS);
    const state = new InMemoryState();
    const bombs: [string, string[]][] = [
      ['strings', ['1000']],
      ['small', []],
      ['huge', []],
      ['buffer', ['64']],
      ['typed', []],
    ];
    for (const [fn, args] of bombs) {
      // The code, not a stopwatch: no bomb can outlast a limit counted in bytes and time out.
      const error = errorOf(() => runtime.simulate(request('bombs', fn, args, state)));
      expect({ fn, code: error.code }).toEqual({ fn, code: 'CONTRACT_OUT_OF_MEMORY' });
      expect(error.message).toMatch(/out of memory/);
      expect(runtime.simulate(request('bombs', 'ok', [], state)).result).toBe('1');
    }
  });

  test('a contract just under the limit runs, also right after a bomb: the bomb’s memory is released', () => {
    runtime.install('near', BOMBS);
    const state = new InMemoryState();
    expect(runtime.simulate(request('near', 'strings', ['8'], state)).result).toBe('8');
    expect(runtime.simulate(request('near', 'buffer', ['8'], state)).result).toBe(String(8 * MIB));
    expect(errorOf(() => runtime.simulate(request('near', 'strings', ['1000'], state))).code).toBe(
      'CONTRACT_OUT_OF_MEMORY',
    );
    expect(runtime.simulate(request('near', 'strings', ['8'], state)).result).toBe('8');
  });

  test('a bomb leaves the memory of other contracts alone', () => {
    runtime.install('holder', BOMBS);
    runtime.install('bomber', BOMBS);
    const state = new InMemoryState();
    expect(runtime.simulate(request('holder', 'strings', ['8'], state)).result).toBe('8');
    expect(errorOf(() => runtime.simulate(request('bomber', 'small', [], state))).code).toBe(
      'CONTRACT_OUT_OF_MEMORY',
    );
    expect(runtime.simulate(request('holder', 'strings', ['8'], state)).result).toBe('8');
    expect(runtime.simulate(request('kv', 'put', ['k', 'v'], state)).rwset.writes).toHaveLength(1);
  });

  test('the limit is counted in bytes: twenty 1 MiB strings need a sandbox larger than the default 16 MiB', async () => {
    const state = new InMemoryState();
    runtime.install('twenty', BOMBS);
    expect(errorOf(() => runtime.simulate(request('twenty', 'strings', ['20'], state))).code).toBe(
      'CONTRACT_OUT_OF_MEMORY',
    );
    const larger = await ContractRuntime.create({ limits: { memoryBytesMax: 32 * MIB } });
    try {
      larger.install('twenty', BOMBS);
      expect(larger.simulate(request('twenty', 'strings', ['20'], state)).result).toBe('20');
      expect(errorOf(() => larger.simulate(request('twenty', 'strings', ['1000'], state))).code).toBe(
        'CONTRACT_OUT_OF_MEMORY',
      );
    } finally {
      larger.dispose();
    }
  });

  test('a sandbox’s WebAssembly memory grows on demand but never past memoryBytesMax', async () => {
    const limits = { ...DEFAULT_CONTRACT_LIMITS, memoryBytesMax: 24 * MIB };
    const sandbox = await newSandbox(limits.memoryBytesMax);
    const memory = sandbox.getWasmMemory() as unknown as { readonly buffer: ArrayBuffer };
    const instance = ContractInstance.create(sandbox, 'bombs', BOMBS, limits);
    try {
      expect(memory.buffer.byteLength).toBe(16 * MIB);
      expect(
        errorOf(() => instance.call(request('bombs', 'strings', ['1000'], new InMemoryState()))).code,
      ).toBe('CONTRACT_OUT_OF_MEMORY');
      expect(memory.buffer.byteLength).toBeGreaterThan(16 * MIB);
      expect(memory.buffer.byteLength).toBeLessThanOrEqual(24 * MIB);
    } finally {
      instance.dispose();
    }
  });

  test('a source whose top level exhausts memory is refused, and the version before stays installed', () => {
    const state = new InMemoryState();
    runtime.install('top', 'export function f(ctx) { return "v1"; }');
    const error = errorOf(() =>
      runtime.install(
        'top',
        `const a = []; for (;;) a.push('x'.repeat(${MIB}));\nexport function f(ctx) { return "v2"; }`,
      ),
    );
    expect(error.code).toBe('CONTRACT_OUT_OF_MEMORY');
    expect(runtime.simulate(request('top', 'f', [], state)).result).toBe('"v1"');
  });

  test('refuses a sandbox memory below 16 MiB (what the QuickJS build needs) or not in whole 64 KiB pages', async () => {
    await expect(ContractRuntime.create({ limits: { memoryBytesMax: 8 * MIB } })).rejects.toThrow(RangeError);
    await expect(ContractRuntime.create({ limits: { memoryBytesMax: 16 * MIB + 1 } })).rejects.toThrow(
      RangeError,
    );
  });
});

describe('sandboxes', () => {
  test('more contracts than sandboxes all run: the least recently used is rebuilt on its next call, unchanged', async () => {
    const few = await ContractRuntime.create({ limits: { sandboxesMax: 2, sandboxesSpare: 1 } });
    try {
      const names = ['one', 'two', 'three'];
      for (const name of names) {
        few.install(name, `let calls = 0;\nexport function f(ctx) { calls++; return ["${name}", calls]; }`);
      }
      const state = new InMemoryState();
      for (let round = 0; round < 3; round++) {
        for (const name of names) {
          expect(JSON.parse(few.simulate(request(name, 'f', [], state)).result)).toEqual([name, 1]);
        }
      }
      expect(few.list().map((c) => c.name)).toEqual(names);
    } finally {
      few.dispose();
    }
  });
});

describe('isolation and determinism', () => {
  test('module-level and global state do not leak from one call to the next', () => {
    runtime.install(
      'leaky',
      `let counter = 0;
const cache = {};
export function bump(ctx) {
  counter++;
  cache.seen = (cache.seen || 0) + 1;
  let globalWrite = 'refused';
  try { globalThis.leak = 1; globalWrite = 'allowed'; } catch (e) {}
  let protoWrite = 'refused';
  try { Array.prototype.evil = 1; protoWrite = 'allowed'; } catch (e) {}
  return { counter, seen: cache.seen, globalWrite, protoWrite, leak: typeof globalThis.leak };
}`,
    );
    const state = new InMemoryState();
    const first = runtime.simulate(request('leaky', 'bump', [], state)).result;
    const second = runtime.simulate(request('leaky', 'bump', [], state)).result;
    expect(JSON.parse(first)).toEqual({
      counter: 1,
      seen: 1,
      globalWrite: 'refused',
      protoWrite: 'refused',
      leak: 'undefined',
    });
    expect(second).toBe(first);
  });

  test('Math.random throws, and Date only knows the transaction time, in UTC', () => {
    runtime.install(
      'clock',
      `export function random(ctx) { return Math.random(); }
export function time(ctx) {
  return [Date.now(), new Date().getTime(), new Date(0).getHours(), new Date(2020, 0, 1).toISOString(), new Date(0).getTimezoneOffset()];
}
export function localParse(ctx) { return new Date('2020-01-01T10:00').getTime(); }`,
    );
    const state = new InMemoryState();
    const error = errorOf(() => runtime.simulate(request('clock', 'random', [], state)));
    expect(error.code).toBe('CONTRACT_THREW');
    expect(error.details.jsMessage).toMatch(/Math\.random is not available/);
    const out = runtime.simulate(request('clock', 'time', [], state, { timestampMs: 1_234_567 }));
    expect(JSON.parse(out.result)).toEqual([1_234_567, 1_234_567, 0, '2020-01-01T00:00:00.000Z', 0]);
    expect(errorOf(() => runtime.simulate(request('clock', 'localParse', [], state))).code).toBe(
      'CONTRACT_THREW',
    );
  });

  test('the same inputs give byte-identical responses, also from a separate runtime', async () => {
    const other = await ContractRuntime.create();
    try {
      const source = loadSampleContract('asset-transfer').source;
      runtime.install('asset-transfer', source);
      other.install('asset-transfer', source);
      const state = new InMemoryState();
      state.set(
        'asset-transfer',
        'asset9',
        '{"AppraisedValue":1,"Color":"c","ID":"asset9","Owner":"o","Size":1}',
        {
          height: 4,
          txIndex: 0,
        },
      );
      const r = request('asset-transfer', 'TransferAsset', ['asset9', 'Bob'], state);
      const a = runtime.simulate(r);
      const b = other.simulate(r);
      const c = runtime.simulate(r);
      expect(canonicalString({ rwset: b.rwset, result: b.result, events: b.events })).toBe(
        canonicalString({ rwset: a.rwset, result: a.result, events: a.events }),
      );
      expect(canonicalString(c)).toBe(canonicalString(a));
    } finally {
      other.dispose();
    }
  });

  test('console output is captured, not printed', () => {
    runtime.install(
      'chatty',
      'export function f(ctx) { console.log("hello", { a: 1 }); return ctx.caller; }',
    );
    const out = runtime.simulate(request('chatty', 'f', [], new InMemoryState()));
    expect(out.logs).toEqual(['hello {"a":1}']);
    expect(JSON.parse(out.result)).toEqual({ org: 'org1', role: 'client', name: 'alice' });
  });

  test('arbitrary JSON-able arguments never crash the host: only results or typed errors', () => {
    runtime.install(
      'echo',
      `export function echo(ctx, ...args) { return args; }
export function parse(ctx, text) { const v = JSON.parse(text); ctx.put('k', JSON.stringify(v)); return v; }
export function store(ctx, key, value) { ctx.put(key, value); return ctx.get(key); }`,
    );
    const state = new InMemoryState();
    fc.assert(
      fc.property(
        fc.constantFrom('echo', 'parse', 'store', 'missing'),
        fc.array(
          fc.oneof(
            fc.string({ unit: 'binary' }),
            fc.jsonValue().map((v) => JSON.stringify(v)),
            fc.jsonValue(),
          ),
          {
            maxLength: 5,
          },
        ),
        (fn, args) => {
          try {
            const out = runtime.simulate(request('echo', fn, args as string[], state));
            expect(typeof out.result).toBe('string');
          } catch (error) {
            expect(error).toBeInstanceOf(ContractError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
