/**
 * The JavaScript run inside every fresh QuickJS context before any contract code. It is an
 * expression evaluating to `function (host) { ... }`; called with the host functions, it
 *  - makes time deterministic: `Date.now()` and `new Date()` are the transaction's timestamp, local
 *    time is UTC (QuickJS-in-Wasm would otherwise use the host's time zone), and only ISO-8601
 *    strings with an explicit zone are parsed;
 *  - makes `Math.random` throw, removes WeakRef/FinalizationRegistry (they expose GC timing);
 *  - gives `console.log` that only appends to the call's captured log;
 *  - deep-freezes every intrinsic and the global object, so a call cannot leave state behind
 *    (module-level bindings are handled by re-running the contract body per call: see runtime.ts);
 *  - returns `bind(factory)`, which turns a compiled contract factory into the `invoke(callJson)`
 *    function the host calls once per transaction. The host functions stay in closures only.
 * Written as plain ES2020 text (no backticks), because it is embedded here as a string.
 */
export const SANDBOX_PRELUDE = String.raw`(function (host) {
  'use strict';
  var RealDate = Date;
  var realUtc = RealDate.UTC;
  var realParse = RealDate.parse;
  var proto = RealDate.prototype;
  var realToIso = proto.toISOString;
  var JSONparse = JSON.parse;
  var JSONstringify = JSON.stringify;
  var reflectApply = Reflect.apply;
  var reflectConstruct = Reflect.construct;
  var arraySlice = Array.prototype.slice;
  var nowMs = 0;

  var ISO_WITH_ZONE = /^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[+-]?[0-9]{4,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:[0-9]{2}))$/;
  function parseUtc(text) {
    if (!ISO_WITH_ZONE.test(text)) {
      throw new RangeError('Date: only ISO-8601 text with a time zone (Z or +hh:mm) or a plain date is accepted in a contract, so every peer reads it alike; got ' + JSONstringify(text));
    }
    return realParse(text);
  }
  var SafeDate = function Date() {
    if (new.target === undefined) return realToIso.call(new RealDate(nowMs));
    var args = reflectApply(arraySlice, arguments, []);
    var ms;
    if (args.length === 0) ms = nowMs;
    else if (args.length === 1) ms = typeof args[0] === 'string' ? parseUtc(args[0]) : args[0];
    else ms = realUtc.apply(undefined, args);
    return reflectConstruct(RealDate, [ms], new.target);
  };
  SafeDate.prototype = proto;
  SafeDate.now = function now() { return nowMs; };
  SafeDate.UTC = realUtc;
  SafeDate.parse = function parse(text) { return parseUtc(String(text)); };
  Object.defineProperty(proto, 'constructor', { value: SafeDate, writable: true, configurable: true });
  var UTC_OF = ['FullYear', 'Month', 'Date', 'Day', 'Hours', 'Minutes', 'Seconds', 'Milliseconds'];
  for (var i = 0; i < UTC_OF.length; i++) {
    var unit = UTC_OF[i];
    Object.defineProperty(proto, 'get' + unit, { value: proto['getUTC' + unit], writable: true, configurable: true });
    if (unit !== 'Day') {
      Object.defineProperty(proto, 'set' + unit, { value: proto['setUTC' + unit], writable: true, configurable: true });
    }
  }
  proto.getTimezoneOffset = function getTimezoneOffset() { return 0; };
  var TO_ISO = ['toString', 'toLocaleString', 'toDateString', 'toTimeString', 'toLocaleDateString', 'toLocaleTimeString'];
  for (var j = 0; j < TO_ISO.length; j++) {
    Object.defineProperty(proto, TO_ISO[j], { value: realToIso, writable: true, configurable: true });
  }
  if ('getYear' in proto) delete proto.getYear;
  if ('setYear' in proto) delete proto.setYear;
  globalThis.Date = SafeDate;

  Math.random = function random() {
    throw new Error('Math.random is not available in a contract: every peer must compute the same result');
  };
  delete globalThis.WeakRef;
  delete globalThis.FinalizationRegistry;
  delete globalThis.SharedArrayBuffer;
  delete globalThis.Atomics;

  function logLine() {
    var parts = [];
    for (var k = 0; k < arguments.length; k++) {
      var a = arguments[k];
      parts.push(typeof a === 'string' ? a : String(JSONstringify(a)));
    }
    host.log(parts.join(' '));
  }
  globalThis.console = { log: logLine, info: logLine, warn: logLine, error: logLine, debug: logLine };

  // Every intrinsic, including those only reachable through syntax (iterators, generators).
  var roots = [
    globalThis,
    Object.getPrototypeOf(function* () {}),
    Object.getPrototypeOf(async function () {}),
    Object.getPrototypeOf(async function* () {}),
    Object.getPrototypeOf([][Symbol.iterator]()),
    Object.getPrototypeOf(new Map()[Symbol.iterator]()),
    Object.getPrototypeOf(new Set()[Symbol.iterator]()),
    Object.getPrototypeOf(''[Symbol.iterator]()),
    Object.getPrototypeOf('a'.matchAll(/a/g)),
    Object.getPrototypeOf(Int8Array),
    (function () { 'use strict'; return Object.getOwnPropertyDescriptor(arguments, 'callee').get; })(),
  ];
  var seen = new Set();
  function deepFreeze(o) {
    if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) return;
    seen.add(o);
    var keys = Reflect.ownKeys(o);
    for (var n = 0; n < keys.length; n++) {
      var d = Object.getOwnPropertyDescriptor(o, keys[n]);
      if (d === undefined) continue;
      if ('value' in d) deepFreeze(d.value);
      else { deepFreeze(d.get); deepFreeze(d.set); }
    }
    deepFreeze(Object.getPrototypeOf(o));
    Object.freeze(o);
  }

  var hostGet = host.get, hostPut = host.put, hostDel = host.del, hostRange = host.range, hostEmit = host.emit;
  var hostFault = host.fault;
  function needKey(op, key) {
    if (typeof key !== 'string' || key.length === 0) throw new TypeError('ctx.' + op + ': key must be a non-empty string');
  }
  function makeCtx(call) {
    return Object.freeze({
      txId: call.txId,
      timestampMs: call.timestampMs,
      caller: Object.freeze({ org: call.caller.org, role: call.caller.role, name: call.caller.name }),
      get: function get(key) { needKey('get', key); return hostGet(key); },
      put: function put(key, value) {
        needKey('put', key);
        if (typeof value !== 'string') throw new TypeError('ctx.put: value must be a string (use JSON.stringify for objects)');
        hostPut(key, value);
      },
      del: function del(key) { needKey('del', key); hostDel(key); },
      range: function range(startKey, endKey, limit) {
        if (typeof startKey !== 'string' || typeof endKey !== 'string') throw new TypeError('ctx.range: startKey and endKey must be strings ("" = unbounded)');
        if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new TypeError('ctx.range: limit must be a positive integer');
        return JSONparse(hostRange(startKey, endKey, limit === undefined ? 0 : limit));
      },
      emit: function emit(name, payload) {
        if (typeof name !== 'string' || name.length === 0) throw new TypeError('ctx.emit: name must be a non-empty string');
        var text = payload === undefined ? '' : typeof payload === 'string' ? payload : JSONstringify(payload);
        if (typeof text !== 'string') throw new TypeError('ctx.emit: payload must be a string or JSON');
        hostEmit(name, text);
      },
    });
  }

  function bind(factory) {
    return function invoke(callJson) {
      var call = JSONparse(callJson);
      nowMs = call.timestampMs;
      var exported = factory();
      var result = reflectApply(exported[call.fn], undefined, [makeCtx(call)].concat(call.args));
      if (result === undefined) return '';
      if (result !== null && (typeof result === 'object' || typeof result === 'function') && typeof result.then === 'function') {
        hostFault('the function returned a Promise; contract functions must be synchronous');
        return '';
      }
      var text;
      try {
        text = JSONstringify(result);
      } catch (e) {
        hostFault('the return value is not JSON: ' + String(e && e.message));
        return '';
      }
      if (typeof text !== 'string') {
        hostFault('the return value is a ' + typeof result + ', not JSON');
        return '';
      }
      return text;
    };
  }

  roots.forEach(deepFreeze);
  return bind;
})`;
