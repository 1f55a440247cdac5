// trade: the original sketch's securities trade. ISIN, buyer and seller travel as SHA-256 hashes
// (so the ledger never holds who traded what in clear); price and volume are positive integers.
//
// State layout (namespace "trade"):
//   trade~<txId>             -> {"isin","buyer","seller","price","volume"} (JSON)
//   isin~<isinHash>~<txId>   -> "" (an index entry, like a Fabric composite key)

const HASH = /^[0-9a-f]{64}$/;
const POSITIVE_INTEGER = /^[1-9][0-9]{0,14}$/;

function requireHash(field, value) {
  if (typeof value !== 'string' || !HASH.test(value)) {
    throw new Error(field + ' must be a SHA-256 hash: 64 lowercase hex characters');
  }
  return value;
}

function requirePositiveInteger(field, value) {
  if (typeof value !== 'string' || !POSITIVE_INTEGER.test(value)) {
    throw new Error(field + ' must be a positive integer');
  }
  return Number(value);
}

function isinPrefix(isinHash) {
  return 'isin~' + isinHash + '~';
}

export function record(ctx, isinHash, buyerHash, sellerHash, price, volume) {
  const trade = {
    isin: requireHash('isinHash', isinHash),
    buyer: requireHash('buyerHash', buyerHash),
    seller: requireHash('sellerHash', sellerHash),
    price: requirePositiveInteger('price', price),
    volume: requirePositiveInteger('volume', volume),
  };
  ctx.put('trade~' + ctx.txId, JSON.stringify(trade));
  ctx.put(isinPrefix(trade.isin) + ctx.txId, '');
  ctx.emit('TradeRecorded', ctx.txId);
  return ctx.txId;
}

export function get(ctx, txId) {
  const value = ctx.get('trade~' + txId);
  if (value === null) {
    throw new Error('the trade ' + txId + ' does not exist');
  }
  return Object.assign({ txId: txId }, JSON.parse(value));
}

export function listByIsin(ctx, isinHash) {
  const prefix = isinPrefix(requireHash('isinHash', isinHash));
  // "~" is 0x7E, so every key starting with the prefix sorts below the prefix ending in 0x7F.
  const end = prefix.slice(0, -1) + '\x7f';
  return ctx.range(prefix, end).map(function (entry) {
    return get(ctx, entry.key.slice(prefix.length));
  });
}
