import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core';

/**
 * The few members of the WebAssembly JavaScript API used here: the project's `lib` (ES2023, no DOM)
 * declares none of it, though Node provides all of it.
 */
interface WebAssemblyApi {
  readonly Memory: new (descriptor: { initial: number; maximum: number }) => object;
  readonly Instance: new (module: WasmModule, imports: unknown) => { readonly exports: unknown };
  compile(bytes: Uint8Array): Promise<WasmModule>;
}
type WasmModule = object;
const wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** A WebAssembly page, the unit of WebAssembly memory sizes. */
export const WASM_PAGE_BYTES = 64 * 1024;
/**
 * The memory the QuickJS build declares as its initial size (Emscripten's INITIAL_MEMORY, 256 pages in
 * @jitl/quickjs-wasmfile-release-sync 0.32): a sandbox cannot be smaller. Instantiation fails loudly
 * (a LinkError from `newSandbox`) if a new build declares more.
 */
export const SANDBOX_MEMORY_BYTES_MIN = 16 * 1024 * 1024;

/**
 * A sandbox is one instance of QuickJS's WebAssembly module with its own linear memory whose
 * `maximum` is fixed at creation. Under Emscripten QuickJS cannot count bytes itself (it counts
 * every allocation as 8 bytes, since malloc_usable_size is 0 there), so this maximum is what bounds
 * a contract's memory: once the heap reaches it, malloc fails and QuickJS throws "out of memory".
 * The bound depends only on what the contract allocates, never on time or machine speed.
 */
export type Sandbox = QuickJSWASMModule;

let compiled: Promise<{ variant: QuickJSSyncVariant; module: WasmModule }> | undefined;

/** Loads the variant and compiles its .wasm once per process; each sandbox only instantiates it. */
function loadQuickJs(): Promise<{ variant: QuickJSSyncVariant; module: WasmModule }> {
  compiled ??= (async () => {
    // A dynamic import: the package's types describe its CommonJS build (a `default` wrapping the
    // variant), while Node loads its ES build (the variant itself), so unwrap whichever arrives.
    const imported: unknown = (await import('@jitl/quickjs-wasmfile-release-sync')).default;
    const variant = (
      typeof imported === 'object' && imported !== null && 'type' in imported
        ? imported
        : (imported as { default: unknown }).default
    ) as QuickJSSyncVariant;
    const path = createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm');
    return { variant, module: await wasm.compile(await readFile(path)) };
  })();
  return compiled;
}

/**
 * A new sandbox whose WebAssembly memory never exceeds `memoryBytesMax` (a whole number of pages,
 * at least SANDBOX_MEMORY_BYTES_MIN). ~0.25 MiB of it is resident once a runtime and context live
 * in it; the rest only when used.
 */
export async function newSandbox(memoryBytesMax: number): Promise<Sandbox> {
  if (
    !Number.isSafeInteger(memoryBytesMax) ||
    memoryBytesMax < SANDBOX_MEMORY_BYTES_MIN ||
    memoryBytesMax % WASM_PAGE_BYTES !== 0
  ) {
    throw new RangeError(
      `a sandbox's memory must be a multiple of ${WASM_PAGE_BYTES} bytes and at least ${SANDBOX_MEMORY_BYTES_MIN} bytes, not ${memoryBytesMax}`,
    );
  }
  const { variant, module } = await loadQuickJs();
  const memory = new wasm.Memory({
    initial: SANDBOX_MEMORY_BYTES_MIN / WASM_PAGE_BYTES,
    maximum: memoryBytesMax / WASM_PAGE_BYTES,
  });
  return newQuickJSWASMModuleFromVariant(
    newVariant(variant, {
      wasmMemory: memory,
      emscriptenModule: {
        // Synchronous, from the module compiled once: a failure (a LinkError) rejects this promise
        // instead of escaping as an uncaught exception, as the async path of `wasmModule` would.
        instantiateWasm: (imports, onSuccess) => {
          const instance = new wasm.Instance(module, imports);
          onSuccess(instance);
          return instance.exports;
        },
      },
    }),
  );
}

/**
 * The sandboxes of one ContractRuntime: idle ones ready for a contract, kept at `spare` by creating
 * new ones in the background, and at most `max` alive (idle or serving a contract) in all.
 */
export class SandboxPool {
  private readonly idle: Sandbox[] = [];
  private alive = 0;
  private creating = 0;
  private closed = false;

  private constructor(
    private readonly memoryBytesMax: number,
    private readonly spare: number,
    private readonly max: number,
  ) {}

  static async create(options: {
    readonly memoryBytesMax: number;
    readonly spare: number;
    readonly max: number;
  }): Promise<SandboxPool> {
    const { memoryBytesMax, spare, max } = options;
    if (!Number.isSafeInteger(spare) || spare < 1 || !Number.isSafeInteger(max) || max < spare) {
      throw new RangeError(`sandbox pool: need 1 <= spare (${spare}) <= max (${max})`);
    }
    const pool = new SandboxPool(memoryBytesMax, spare, max);
    const ready = await Promise.all(Array.from({ length: spare }, () => newSandbox(memoryBytesMax)));
    pool.idle.push(...ready);
    pool.alive = ready.length;
    return pool;
  }

  /** An idle sandbox, or undefined if none is ready yet; starts creating its replacement. */
  take(): Sandbox | undefined {
    const sandbox = this.idle.pop();
    this.refill();
    return sandbox;
  }

  /**
   * Takes back a sandbox whose QuickJS runtimes are all disposed: kept if spares are short, else
   * let go, so the memory a finished contract (or a memory bomb) touched is returned to the system.
   */
  give(sandbox: Sandbox): void {
    if (this.closed) return;
    if (this.idle.length < this.spare) this.idle.push(sandbox);
    else this.alive--;
  }

  /** Forgets a sandbox that broke (a WebAssembly trap: nothing in it can be trusted) and replaces it. */
  drop(): void {
    if (this.closed) return;
    this.alive--;
    this.refill();
  }

  close(): void {
    this.closed = true;
    this.idle.length = 0;
    this.alive = 0;
  }

  private refill(): void {
    while (
      !this.closed &&
      this.idle.length + this.creating < this.spare &&
      this.alive + this.creating < this.max
    ) {
      this.creating++;
      newSandbox(this.memoryBytesMax).then(
        (sandbox) => {
          this.creating--;
          if (this.closed) return;
          this.alive++;
          this.idle.push(sandbox);
        },
        () => {
          // Left to the next take(): meanwhile contracts reuse the sandboxes of evicted ones.
          this.creating--;
        },
      );
    }
  }
}
