// kv: the smallest useful contract, for benchmarks. Keys and values are strings.
//
// Chainnode contract format: an ES module; every `export function name(ctx, ...args)` is callable
// by a proposal with fn = name and string args. The return value becomes the JSON result.

export function put(ctx, key, value) {
  ctx.put(key, value);
}

export function get(ctx, key) {
  return ctx.get(key);
}

export function del(ctx, key) {
  ctx.del(key);
}
