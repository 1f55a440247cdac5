import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten-core';
import {
  ARG_CHARS_MAX,
  ARGS_COUNT_MAX,
  EVENT_PAYLOAD_CHARS_MAX,
  EVENTS_MAX,
  FUNCTION_NAME_CHARS_MAX,
  NAME_CHARS_MAX,
  RESULT_CHARS_MAX,
  RWSET_READS_MAX,
  RWSET_WRITES_MAX,
  STATE_KEY_CHARS_MAX,
  STATE_VALUE_CHARS_MAX,
  type ContractEvent,
  type ReadEntry,
  type RwSet,
  type StateVersion,
  type WriteEntry,
} from '../protocol/index.js';
import { ContractError, type ContractErrorCode } from './errors.js';
import {
  CONTRACT_CALL_TIMEOUT_MS,
  CONTRACT_CALLER_FIELD_CHARS_MAX,
  CONTRACT_ERROR_MESSAGE_CHARS_MAX,
  CONTRACT_LOG_LINE_CHARS_MAX,
  CONTRACT_LOG_LINES_MAX,
  CONTRACT_MEMORY_BYTES_MAX,
  CONTRACT_RANGE_ENTRIES_MAX,
  CONTRACT_SANDBOXES_MAX,
  CONTRACT_SANDBOXES_SPARE,
  CONTRACT_STACK_BYTES_MAX,
  CONTRACT_STEP_BUDGET_INTERRUPTS,
} from './limits.js';
import { SANDBOX_PRELUDE } from './prelude.js';
import { SandboxPool, type Sandbox } from './sandbox.js';
import { FACTORY_PREFIX, prepareSource, type PreparedSource } from './source.js';
import { compareKeys, type StateReader } from './state.js';

/** Who is calling, as the contract sees it in `ctx.caller`. */
export interface Caller {
  readonly org: string;
  readonly role: string;
  readonly name: string;
}

export interface SimulationRequest {
  readonly contract: string;
  readonly fn: string;
  readonly args: readonly string[];
  readonly caller: Caller;
  readonly txId: string;
  readonly timestampMs: number;
  /** The committed state to simulate against; must not change during the call. */
  readonly state: StateReader;
}

/** The ProposalResponse fields an endorser computes (plus diagnostics that are never signed). */
export interface SimulationResult {
  readonly rwset: RwSet;
  /** JSON of the function's return value; "" when it returned undefined (Fabric's empty payload). */
  readonly result: string;
  readonly events: ContractEvent[];
  /** Captured console output, for the endorser's log only: not part of the response. */
  readonly logs: readonly string[];
  readonly codeHash: string;
}

export interface ContractInfo {
  readonly name: string;
  /** sha256 of the source text (UTF-8), lowercase hex: the contract's content address. */
  readonly codeHash: string;
  /** Callable function names, in source order. */
  readonly functions: readonly string[];
}

/** Per-runtime overrides of the limits in limits.ts; tests use small ones. */
export interface ContractLimits {
  readonly stepBudgetInterrupts: number;
  readonly callTimeoutMs: number;
  /** The WebAssembly memory of each contract's sandbox: a multiple of 64 KiB, at least 16 MiB. */
  readonly memoryBytesMax: number;
  readonly stackBytesMax: number;
  readonly sandboxesMax: number;
  readonly sandboxesSpare: number;
}

export const DEFAULT_CONTRACT_LIMITS: ContractLimits = {
  stepBudgetInterrupts: CONTRACT_STEP_BUDGET_INTERRUPTS,
  callTimeoutMs: CONTRACT_CALL_TIMEOUT_MS,
  memoryBytesMax: CONTRACT_MEMORY_BYTES_MAX,
  stackBytesMax: CONTRACT_STACK_BYTES_MAX,
  sandboxesMax: CONTRACT_SANDBOXES_MAX,
  sandboxesSpare: CONTRACT_SANDBOXES_SPARE,
};

const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const TX_ID = /^[0-9a-f]{64}$/;

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function fail(code: ContractErrorCode, message: string, contract?: string, fn?: string): ContractError {
  return new ContractError(code, message, { contract, fn });
}

/** The read/write set, events and log of one call in progress: the host side of `ctx`. */
class CallState {
  /** First version seen per key (null = absent); reads of the tx's own writes are not recorded. */
  readonly reads = new Map<string, StateVersion | null>();
  /** Last write per key: the base64 bytes (null = delete) and the text a later `get` returns. */
  readonly writes = new Map<string, { readonly base64: string | null; readonly text: string | null }>();
  readonly events: ContractEvent[] = [];
  readonly logs: string[] = [];
  /** A limit the contract hit; sticky, so catching the thrown error does not make the call succeed. */
  fault: ContractError | undefined;

  constructor(
    readonly contract: string,
    readonly fn: string,
    readonly state: StateReader,
  ) {}

  /** Records the fault (first one wins) and returns an Error to throw into the contract. */
  limit(code: ContractErrorCode, message: string): Error {
    this.fault ??= fail(code, `contract ${this.contract}.${this.fn}: ${message}`, this.contract, this.fn);
    return new Error(message);
  }

  private checkKey(key: string): void {
    if (key.length > STATE_KEY_CHARS_MAX) {
      throw this.limit(
        'CONTRACT_LIMIT_EXCEEDED',
        `key of ${key.length} characters exceeds STATE_KEY_CHARS_MAX (${STATE_KEY_CHARS_MAX})`,
      );
    }
  }

  private recordRead(key: string, version: StateVersion | null): void {
    if (this.reads.has(key)) return;
    if (this.reads.size >= RWSET_READS_MAX) {
      throw this.limit('CONTRACT_LIMIT_EXCEEDED', `more than RWSET_READS_MAX (${RWSET_READS_MAX}) keys read`);
    }
    this.reads.set(key, version);
  }

  get(key: string): string | null {
    this.checkKey(key);
    const own = this.writes.get(key);
    if (own !== undefined) return own.text;
    const entry = this.state.get(this.contract, key);
    this.recordRead(key, entry === null ? null : entry.version);
    return entry === null ? null : Buffer.from(entry.value).toString('utf8');
  }

  write(key: string, value: string | null): void {
    this.checkKey(key);
    if (!this.writes.has(key) && this.writes.size >= RWSET_WRITES_MAX) {
      throw this.limit(
        'CONTRACT_LIMIT_EXCEEDED',
        `more than RWSET_WRITES_MAX (${RWSET_WRITES_MAX}) keys written`,
      );
    }
    if (value === null) {
      this.writes.set(key, { base64: null, text: null });
      return;
    }
    const bytes = Buffer.from(value, 'utf8');
    const base64 = bytes.toString('base64');
    if (base64.length > STATE_VALUE_CHARS_MAX) {
      throw this.limit(
        'CONTRACT_LIMIT_EXCEEDED',
        `value of ${bytes.length} bytes is ${base64.length} base64 characters, more than STATE_VALUE_CHARS_MAX (${STATE_VALUE_CHARS_MAX})`,
      );
    }
    // The text read back is the decoded bytes, exactly what a later transaction would read.
    this.writes.set(key, { base64, text: bytes.toString('utf8') });
  }

  /**
   * Committed entries in [start, end) merged with this tx's own writes (puts shown, deletes hidden),
   * in key byte order. Every committed entry returned is recorded as read.
   */
  range(start: string, end: string, limit: number): { key: string; value: string }[] {
    const inRange = (key: string): boolean =>
      compareKeys(key, start) >= 0 && (end === '' || compareKeys(key, end) < 0);
    const own = [...this.writes.entries()].filter(([key]) => inRange(key));
    // Ask for enough committed entries that hiding our own deletes/overwrites still leaves `limit`.
    const committed = this.state.range(this.contract, {
      start,
      ...(end === '' ? {} : { end }),
      limit: limit + own.length,
    });
    const merged: { key: string; value: string; version?: StateVersion }[] = committed
      .filter((e) => !this.writes.has(e.key))
      .map((e) => ({ key: e.key, value: Buffer.from(e.value).toString('utf8'), version: e.version }));
    for (const [key, w] of own) if (w.text !== null) merged.push({ key, value: w.text });
    merged.sort((a, b) => compareKeys(a.key, b.key));
    const page = merged.slice(0, limit);
    for (const e of page) if (e.version !== undefined) this.recordRead(e.key, e.version);
    return page.map((e) => ({ key: e.key, value: e.value }));
  }

  emit(name: string, payload: string): void {
    if (this.events.length >= EVENTS_MAX) {
      throw this.limit('CONTRACT_LIMIT_EXCEEDED', `more than EVENTS_MAX (${EVENTS_MAX}) events`);
    }
    if (name.length > FUNCTION_NAME_CHARS_MAX) {
      throw this.limit(
        'CONTRACT_LIMIT_EXCEEDED',
        `event name longer than FUNCTION_NAME_CHARS_MAX (${FUNCTION_NAME_CHARS_MAX})`,
      );
    }
    if (payload.length > EVENT_PAYLOAD_CHARS_MAX) {
      throw this.limit(
        'CONTRACT_LIMIT_EXCEEDED',
        `event payload of ${payload.length} characters exceeds EVENT_PAYLOAD_CHARS_MAX (${EVENT_PAYLOAD_CHARS_MAX})`,
      );
    }
    this.events.push({ name, payload });
  }

  log(line: string): void {
    if (this.logs.length < CONTRACT_LOG_LINES_MAX) this.logs.push(cut(line, CONTRACT_LOG_LINE_CHARS_MAX));
  }

  rwset(): RwSet {
    const ns = this.contract;
    const byKey = (a: { key: string }, b: { key: string }): number => compareKeys(a.key, b.key);
    const reads: ReadEntry[] = [...this.reads.entries()].map(([key, version]) => ({ ns, key, version }));
    const writes: WriteEntry[] = [...this.writes.entries()].map(([key, w]) => ({ ns, key, value: w.base64 }));
    // Sorted like Fabric's rwsets, so equal simulations give byte-identical responses.
    return { reads: reads.sort(byKey), writes: writes.sort(byKey) };
  }
}

interface GuestError {
  readonly name: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
  readonly thrownNull?: boolean;
}

/**
 * One contract version, warm: its own QuickJS runtime (stack limit, step budget), alone in its
 * sandbox (whose WebAssembly memory is the contract's memory limit), and one context in which the
 * prelude has frozen every intrinsic and the contract's module body has been compiled into a
 * factory. Each call runs the factory afresh, so module-level bindings start from their initial
 * values every time: nothing a call does is visible to the next.
 */
export class ContractInstance {
  private active: CallState | undefined;
  private interrupts = 0;
  private deadlineMs = 0;
  private limitHit: 'CONTRACT_STEP_LIMIT' | 'CONTRACT_TIMEOUT' | undefined;
  private readonly context: QuickJSContext;
  private readonly invoke: QuickJSHandle;

  private constructor(
    readonly sandbox: Sandbox,
    private readonly runtime: QuickJSRuntime,
    readonly name: string,
    readonly prepared: PreparedSource,
    private readonly limits: ContractLimits,
    source: string,
  ) {
    // No runtime.setMemoryLimit: under Emscripten QuickJS counts 8 bytes per allocation whatever
    // its size, so that "limit" bounds a count, not bytes. The sandbox's memory bounds bytes.
    runtime.setMaxStackSize(limits.stackBytesMax);
    runtime.setInterruptHandler(() => this.onInterrupt());
    // Parse and run the module once, in a throwaway context, to get true syntax positions and the
    // real export list; then compile the factory in the context that serves calls.
    this.checkModule(source);
    const { context, bind } = this.newSandboxContext();
    this.context = context;
    try {
      this.startBudget();
      const factory = this.unwrap(
        context,
        context.evalCode(prepared.factorySource, `${name}.js`, { type: 'global' }),
        'compile',
      );
      const invoke = context.callFunction(bind, context.undefined, factory);
      factory.dispose();
      this.invoke = this.unwrap(context, invoke, 'compile');
    } catch (error) {
      bind.dispose();
      context.dispose();
      throw error;
    }
    bind.dispose();
  }

  /** Loads the contract into `sandbox`, which must hold no other runtime (its memory is the limit). */
  static create(sandbox: Sandbox, name: string, source: string, limits: ContractLimits): ContractInstance {
    const prepared = prepareSource(name, source);
    const runtime = sandbox.newRuntime();
    try {
      return new ContractInstance(sandbox, runtime, name, prepared, limits, source);
    } catch (error) {
      runtime.dispose();
      throw error;
    }
  }

  get info(): ContractInfo {
    return { name: this.name, codeHash: this.prepared.codeHash, functions: this.prepared.functions };
  }

  dispose(): void {
    this.invoke.dispose();
    this.context.dispose();
    this.runtime.dispose();
  }

  private onInterrupt(): boolean {
    this.interrupts++;
    if (this.interrupts > this.limits.stepBudgetInterrupts) {
      this.limitHit = 'CONTRACT_STEP_LIMIT';
      return true;
    }
    if (performance.now() > this.deadlineMs) {
      this.limitHit = 'CONTRACT_TIMEOUT';
      return true;
    }
    return false;
  }

  private startBudget(): void {
    this.interrupts = 0;
    this.limitHit = undefined;
    this.deadlineMs = performance.now() + this.limits.callTimeoutMs;
  }

  /** A context with the host functions and the prelude installed; returns the prelude's `bind`. */
  private newSandboxContext(): { context: QuickJSContext; bind: QuickJSHandle } {
    const context = this.runtime.newContext();
    try {
      return { context, bind: this.installPrelude(context) };
    } catch (error) {
      context.dispose();
      throw error;
    }
  }

  /**
   * Installs the host functions and the prelude in `context` and returns the prelude's `bind`.
   * Every handle is freed on every path: QuickJS aborts (a WebAssembly trap) when a context is
   * freed while a handle still points into it, as after an out-of-memory error here.
   */
  private installPrelude(context: QuickJSContext): QuickJSHandle {
    const host = context.newObject();
    try {
      const call = (): CallState => {
        if (this.active === undefined) throw new Error('ctx is only usable during a transaction');
        return this.active;
      };
      const fns: [string, (...args: QuickJSHandle[]) => QuickJSHandle | undefined][] = [
        [
          'get',
          (key) => {
            const value = call().get(context.getString(key));
            return value === null ? context.null : context.newString(value);
          },
        ],
        [
          'put',
          (key, value) => {
            call().write(context.getString(key), context.getString(value));
            return undefined;
          },
        ],
        [
          'del',
          (key) => {
            call().write(context.getString(key), null);
            return undefined;
          },
        ],
        [
          'range',
          (start, end, limit) => {
            const asked = context.getNumber(limit);
            const entries = call().range(
              context.getString(start),
              context.getString(end),
              asked === 0 ? CONTRACT_RANGE_ENTRIES_MAX : Math.min(asked, CONTRACT_RANGE_ENTRIES_MAX),
            );
            return context.newString(JSON.stringify(entries));
          },
        ],
        [
          'emit',
          (name, payload) => {
            call().emit(context.getString(name), context.getString(payload));
            return undefined;
          },
        ],
        [
          'log',
          (line) => {
            this.active?.log(context.getString(line));
            return undefined;
          },
        ],
        [
          'fault',
          (message) => {
            const state = call();
            state.fault ??= fail(
              'CONTRACT_BAD_RESULT',
              `contract ${state.contract}.${state.fn}: ${context.getString(message)}`,
              state.contract,
              state.fn,
            );
            return undefined;
          },
        ],
      ];
      for (const [name, fn] of fns) {
        const handle = context.newFunction(name, fn);
        try {
          context.setProp(host, name, handle);
        } finally {
          handle.dispose();
        }
      }
      this.startBudget();
      const prelude = this.unwrap(
        context,
        context.evalCode(SANDBOX_PRELUDE, 'prelude.js', { type: 'global' }),
        'load',
      );
      try {
        return this.unwrap(context, context.callFunction(prelude, context.undefined, host), 'load');
      } finally {
        prelude.dispose();
      }
    } finally {
      host.dispose();
    }
  }

  private checkModule(source: string): void {
    const { context, bind } = this.newSandboxContext();
    bind.dispose();
    try {
      this.startBudget();
      const ns = this.unwrap(
        context,
        context.evalCode(source, `${this.name}.js`, { type: 'module' }),
        'check',
      );
      let json: unknown;
      try {
        const lister = this.unwrap(
          context,
          context.evalCode(
            '(function (ns) { if (typeof ns.then === "function") return null; return JSON.stringify(Object.keys(ns).map(function (k) { return [k, typeof ns[k]]; })); })',
            'check.js',
          ),
          'load',
        );
        const listed = context.callFunction(lister, context.undefined, ns);
        lister.dispose();
        const text = this.unwrap(context, listed, 'load');
        try {
          json = context.dump(text) as unknown;
        } finally {
          text.dispose();
        }
      } finally {
        // Before the context goes: see installPrelude.
        ns.dispose();
      }
      if (typeof json !== 'string') {
        throw fail(
          'CONTRACT_LOAD_FAILED',
          `contract ${this.name}: top-level await is not supported`,
          this.name,
        );
      }
      const exported = JSON.parse(json) as [string, string][];
      const found = new Set(this.prepared.functions);
      const real = exported.filter(([, type]) => type === 'function').map(([name]) => name);
      const other = exported.filter(([, type]) => type !== 'function').map(([name]) => name);
      if (other.length > 0 || real.length !== found.size || real.some((n) => !found.has(n))) {
        throw fail(
          'CONTRACT_LOAD_FAILED',
          `contract ${this.name}: only "export function name(ctx, ...args)" declarations at the start of a line may be exported ` +
            `(module exports: ${exported.map(([n]) => n).join(', ') || 'none'}; recognised: ${[...found].join(', ') || 'none'})`,
          this.name,
        );
      }
      if (real.length === 0) {
        throw fail('CONTRACT_LOAD_FAILED', `contract ${this.name}: exports no functions`, this.name);
      }
    } finally {
      context.dispose();
    }
  }

  /** Unwraps an eval/call result, turning a guest exception into a ContractError for `phase`. */
  private unwrap(
    context: QuickJSContext,
    result: { error: QuickJSHandle; value?: undefined } | { value: QuickJSHandle; error?: undefined },
    phase: 'check' | 'compile' | 'load',
  ): QuickJSHandle {
    if (result.error === undefined) return result.value;
    const guest = this.describe(context, result.error);
    result.error.dispose();
    throw this.classify(guest, undefined, phase);
  }

  private describe(context: QuickJSContext, handle: QuickJSHandle): GuestError {
    let dumped: unknown;
    try {
      dumped = context.dump(handle);
    } catch {
      return { name: 'Error', message: 'an exception that cannot be described' };
    }
    if (typeof dumped === 'object' && dumped !== null) {
      const e = dumped as { name?: unknown; message?: unknown; stack?: unknown; lineNumber?: unknown };
      const at =
        typeof e.stack === 'string' ? /:(\d+):(\d+)\)?\s*$/m.exec(e.stack.split('\n')[0] ?? '') : null;
      return {
        name: typeof e.name === 'string' ? e.name : 'Error',
        message: cut(
          typeof e.message === 'string' ? e.message : JSON.stringify(dumped),
          CONTRACT_ERROR_MESSAGE_CHARS_MAX,
        ),
        ...(at === null ? {} : { line: Number(at[1]), column: Number(at[2]) }),
      };
    }
    if (dumped === null) return { name: 'Error', message: 'null', thrownNull: true };
    // JSON.stringify gives undefined for undefined/functions/symbols, whatever its type says.
    const json = JSON.stringify(dumped) as string | undefined;
    const text = typeof dumped === 'string' ? dumped : (json ?? typeof dumped);
    return { name: 'Error', message: cut(text, CONTRACT_ERROR_MESSAGE_CHARS_MAX) };
  }

  private classify(
    guest: GuestError,
    call: CallState | undefined,
    phase: 'check' | 'compile' | 'load' | 'call',
  ): ContractError {
    const where = call === undefined ? `contract ${this.name}` : `contract ${this.name}.${call.fn}`;
    const ids = { contract: this.name, fn: call?.fn };
    if (this.limitHit === 'CONTRACT_STEP_LIMIT') {
      return new ContractError(
        'CONTRACT_STEP_LIMIT',
        `${where}: ran out of its step budget (${this.limits.stepBudgetInterrupts} interrupts of ~10,000 QuickJS steps): an endless or too long computation`,
        ids,
      );
    }
    if (this.limitHit === 'CONTRACT_TIMEOUT') {
      return new ContractError(
        'CONTRACT_TIMEOUT',
        `${where}: still running after ${this.limits.callTimeoutMs} ms`,
        ids,
      );
    }
    if (call?.fault !== undefined) return call.fault;
    // QuickJS throws `null` when it runs out of memory while building the exception itself.
    if ((guest.name === 'InternalError' && guest.message === 'out of memory') || guest.thrownNull === true) {
      return new ContractError(
        'CONTRACT_OUT_OF_MEMORY',
        `${where}: out of memory (its sandbox's memory is limited to ${this.limits.memoryBytesMax} bytes)${guest.thrownNull === true ? ' (or the contract threw null)' : ''}`,
        ids,
      );
    }
    if (guest.name === 'InternalError' && guest.message === 'stack overflow') {
      return new ContractError(
        'CONTRACT_STACK_OVERFLOW',
        `${where}: stack overflow (limit ${this.limits.stackBytesMax} bytes)`,
        ids,
      );
    }
    if (
      guest.name === 'SyntaxError' &&
      (phase === 'check' || phase === 'compile') &&
      guest.line !== undefined
    ) {
      // In the factory, line 1 starts after FACTORY_PREFIX.
      const column =
        phase === 'compile' && guest.line === 1
          ? Math.max(1, (guest.column ?? 1) - FACTORY_PREFIX.length)
          : guest.column;
      return new ContractError(
        'CONTRACT_SYNTAX',
        `${where}: syntax error at line ${guest.line}, column ${column ?? '?'}: ${guest.message}`,
        { ...ids, line: guest.line, ...(column === undefined ? {} : { column }) },
      );
    }
    if (phase !== 'call') {
      return new ContractError(
        'CONTRACT_LOAD_FAILED',
        `${where}: cannot be loaded: ${guest.name}: ${guest.message}`,
        ids,
      );
    }
    return new ContractError('CONTRACT_THREW', `${where} threw: ${guest.message}`, {
      ...ids,
      jsMessage: guest.message,
    });
  }

  /**
   * Runs one call. Throws a ContractError; `recycle` on the error says whether this instance must be
   * replaced (a resource limit was hit, so the engine's state is not worth trusting).
   */
  call(request: SimulationRequest): SimulationResult {
    const state = new CallState(this.name, request.fn, request.state);
    const callJson = JSON.stringify({
      fn: request.fn,
      args: request.args,
      txId: request.txId,
      timestampMs: request.timestampMs,
      caller: { org: request.caller.org, role: request.caller.role, name: request.caller.name },
    });
    const argument = this.context.newString(callJson);
    this.active = state;
    this.startBudget();
    let text: string;
    try {
      const result = this.context.callFunction(this.invoke, this.context.undefined, argument);
      if (result.error !== undefined) {
        const guest = this.describe(this.context, result.error);
        result.error.dispose();
        throw this.classify(guest, state, 'call');
      }
      text = this.context.getString(result.value);
      result.value.dispose();
    } finally {
      this.active = undefined;
      argument.dispose();
    }
    if (state.fault !== undefined) throw state.fault;
    if (text.length > RESULT_CHARS_MAX) {
      throw fail(
        'CONTRACT_BAD_RESULT',
        `contract ${this.name}.${request.fn}: result of ${text.length} characters exceeds RESULT_CHARS_MAX (${RESULT_CHARS_MAX})`,
        this.name,
        request.fn,
      );
    }
    return {
      rwset: state.rwset(),
      result: text,
      events: state.events,
      logs: state.logs,
      codeHash: this.prepared.codeHash,
    };
  }
}

/** Errors after which the instance is rebuilt: the engine hit a resource limit mid-flight. */
const RECYCLE_ON: ReadonlySet<ContractErrorCode> = new Set([
  'CONTRACT_STEP_LIMIT',
  'CONTRACT_TIMEOUT',
  'CONTRACT_OUT_OF_MEMORY',
  'CONTRACT_STACK_OVERFLOW',
]);

function checkRequest(request: SimulationRequest): void {
  const bad = (message: string): ContractError => fail('CONTRACT_BAD_REQUEST', message, undefined, undefined);
  const r = request as unknown as Record<string, unknown>;
  if (typeof r.contract !== 'string' || r.contract.length > NAME_CHARS_MAX || !NAME.test(r.contract)) {
    throw bad('contract must be a name: lowercase letters, digits and inner hyphens');
  }
  if (typeof r.fn !== 'string' || r.fn.length === 0 || r.fn.length > FUNCTION_NAME_CHARS_MAX) {
    throw bad(`fn must be a non-empty string of at most ${FUNCTION_NAME_CHARS_MAX} characters`);
  }
  if (!Array.isArray(r.args) || r.args.length > ARGS_COUNT_MAX) {
    throw bad(`args must be an array of at most ARGS_COUNT_MAX (${ARGS_COUNT_MAX}) strings`);
  }
  for (const [i, arg] of (r.args as unknown[]).entries()) {
    if (typeof arg !== 'string' || arg.length > ARG_CHARS_MAX) {
      throw bad(`args[${i}] must be a string of at most ARG_CHARS_MAX (${ARG_CHARS_MAX}) characters`);
    }
  }
  if (typeof r.txId !== 'string' || !TX_ID.test(r.txId))
    throw bad('txId must be 64 lowercase hex characters');
  if (typeof r.timestampMs !== 'number' || !Number.isSafeInteger(r.timestampMs) || r.timestampMs < 0) {
    throw bad('timestampMs must be a non-negative integer');
  }
  const caller = r.caller as Record<string, unknown> | null | undefined;
  for (const field of ['org', 'role', 'name'] as const) {
    const value = caller?.[field];
    if (typeof value !== 'string' || value.length > CONTRACT_CALLER_FIELD_CHARS_MAX) {
      throw bad(`caller.${field} must be a string of at most ${CONTRACT_CALLER_FIELD_CHARS_MAX} characters`);
    }
  }
  const state = r.state as Partial<StateReader> | null | undefined;
  if (typeof state?.get !== 'function' || typeof state.range !== 'function') {
    throw bad('state must be a StateReader');
  }
}

/** An installed contract: its source, and its instance while warm. */
interface Installed {
  readonly source: string;
  readonly info: ContractInfo;
  /** Undefined while cold: evicted for another contract, or after a call hit a resource limit. */
  instance: ContractInstance | undefined;
  /** When it last served, on the runtime's call counter: the least recent is evicted first. */
  usedAt: number;
}

/**
 * The contracts a peer has installed, each warm in its own sandbox (a QuickJS WebAssembly instance
 * whose memory is that contract's alone), at most `sandboxesMax` warm at once: the least recently
 * used one is rebuilt on its next call when another needs its sandbox. A contract instance keeps
 * nothing between calls, so a rebuilt one behaves exactly like the one it replaces.
 * `simulate` is synchronous: the state it reads comes from a synchronous StateReader the caller
 * provides. Not reentrant: one call at a time (Node is single-threaded and simulate never yields).
 */
export class ContractRuntime {
  private readonly contracts = new Map<string, Installed>();
  private calls = 0;
  private disposed = false;

  private constructor(
    private readonly sandboxes: SandboxPool,
    private readonly limits: ContractLimits,
  ) {}

  static async create(options: { limits?: Partial<ContractLimits> } = {}): Promise<ContractRuntime> {
    const limits = { ...DEFAULT_CONTRACT_LIMITS, ...options.limits };
    const sandboxes = await SandboxPool.create({
      memoryBytesMax: limits.memoryBytesMax,
      spare: limits.sandboxesSpare,
      max: limits.sandboxesMax,
    });
    return new ContractRuntime(sandboxes, limits);
  }

  /**
   * Installs (or upgrades) contract `name` from its source: checks that it parses (CONTRACT_SYNTAX
   * with line and column if not) and exports functions, and keeps it warm for calls. If the new
   * source does not load, the version installed before stays installed.
   */
  install(name: string, source: string): ContractInfo {
    this.assertLive();
    if (name.length > NAME_CHARS_MAX || !NAME.test(name)) {
      throw fail(
        'CONTRACT_BAD_REQUEST',
        `contract name ${JSON.stringify(name)} must be lowercase letters, digits and inner hyphens`,
      );
    }
    const instance = this.load(name, source);
    const old = this.contracts.get(name);
    if (old?.instance !== undefined) this.retire(old.instance);
    this.contracts.set(name, { source, info: instance.info, instance, usedAt: ++this.calls });
    return instance.info;
  }

  uninstall(name: string): void {
    const entry = this.contracts.get(name);
    if (entry?.instance !== undefined) this.retire(entry.instance);
    this.contracts.delete(name);
  }

  info(name: string): ContractInfo | undefined {
    return this.contracts.get(name)?.info;
  }

  list(): ContractInfo[] {
    return [...this.contracts.values()].map((c) => c.info);
  }

  /** Runs `contract.fn(ctx, ...args)` against `state` and returns its read/write set, result and events. */
  simulate(request: SimulationRequest): SimulationResult {
    this.assertLive();
    checkRequest(request);
    const entry = this.contracts.get(request.contract);
    if (entry === undefined) {
      throw fail('CONTRACT_NOT_FOUND', `contract ${request.contract} is not installed`, request.contract);
    }
    if (!entry.info.functions.includes(request.fn)) {
      throw fail(
        'CONTRACT_FUNCTION_NOT_FOUND',
        `contract ${request.contract} has no function ${request.fn} (it has: ${entry.info.functions.join(', ')})`,
        request.contract,
        request.fn,
      );
    }
    entry.usedAt = ++this.calls;
    entry.instance ??= this.load(request.contract, entry.source);
    const { instance } = entry;
    try {
      return instance.call(request);
    } catch (error) {
      if (error instanceof ContractError && !RECYCLE_ON.has(error.code)) throw error;
      // The engine hit a resource limit mid-flight, or its sandbox broke: rebuild on the next call.
      entry.instance = undefined;
      if (error instanceof ContractError) this.retire(instance);
      else this.sandboxes.drop();
      throw error;
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const { instance } of this.contracts.values()) if (instance !== undefined) this.free(instance);
    this.contracts.clear();
    this.sandboxes.close();
  }

  /** A new instance of the contract in a sandbox of its own: a spare one, or the least recently used contract's. */
  private load(name: string, source: string): ContractInstance {
    const sandbox = this.sandboxes.take() ?? this.evict();
    try {
      return ContractInstance.create(sandbox, name, source, this.limits);
    } catch (error) {
      // A ContractError leaves the sandbox empty and sound; anything else is a WebAssembly trap.
      if (error instanceof ContractError) this.sandboxes.give(sandbox);
      else this.sandboxes.drop();
      throw error;
    }
  }

  /** Makes the least recently used warm contract cold and returns its sandbox, now empty. */
  private evict(): Sandbox {
    for (;;) {
      let lru: Installed | undefined;
      for (const entry of this.contracts.values()) {
        if (entry.instance !== undefined && (lru === undefined || entry.usedAt < lru.usedAt)) lru = entry;
      }
      if (lru?.instance === undefined) {
        // Only when sandboxes broke faster than the pool replaces them (each takes a few ms).
        throw fail('CONTRACT_UNAVAILABLE', 'no contract sandbox is ready: retry in a moment');
      }
      const { instance } = lru;
      lru.instance = undefined;
      if (this.free(instance)) return instance.sandbox;
    }
  }

  /** Disposes an instance and hands its sandbox back to the pool. */
  private retire(instance: ContractInstance): void {
    if (this.free(instance)) this.sandboxes.give(instance.sandbox);
  }

  /**
   * Disposes an instance; false if QuickJS trapped doing so (it asserts its heap is consistent, which
   * an engine bug on an out-of-memory path could break), in which case the sandbox is dropped. The
   * caller goes on: the trap concerns that sandbox only, and the error it reports matters more.
   */
  private free(instance: ContractInstance): boolean {
    try {
      instance.dispose();
      return true;
    } catch {
      this.sandboxes.drop();
      return false;
    }
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('ContractRuntime used after dispose()');
  }
}
