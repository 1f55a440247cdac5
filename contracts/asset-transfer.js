// asset-transfer: Hyperledger Fabric's standard sample (asset-transfer-basic), same functions,
// arguments, JSON fields and error messages as its Go chaincode.
//
// State layout (namespace "asset-transfer"): <ID> -> {"AppraisedValue","Color","ID","Owner","Size"}
// with the fields in that (alphabetical) order, as Go's encoder writes them.

function toInt(field, value) {
  if (typeof value !== 'string' || !/^-?[0-9]+$/.test(value)) {
    throw new Error(field + ' must be an integer, got ' + JSON.stringify(value));
  }
  return Number(value);
}

function asset(id, color, size, owner, appraisedValue) {
  return {
    AppraisedValue: toInt('appraisedValue', appraisedValue),
    Color: color,
    ID: id,
    Owner: owner,
    Size: toInt('size', size),
  };
}

function readAsset(ctx, id) {
  const json = ctx.get(id);
  if (json === null) {
    throw new Error('the asset ' + id + ' does not exist');
  }
  return JSON.parse(json);
}

export function InitLedger(ctx) {
  const assets = [
    asset('asset1', 'blue', '5', 'Tomoko', '300'),
    asset('asset2', 'red', '5', 'Brad', '400'),
    asset('asset3', 'green', '10', 'Jin Soo', '500'),
    asset('asset4', 'yellow', '10', 'Max', '600'),
    asset('asset5', 'black', '15', 'Adriana', '700'),
    asset('asset6', 'white', '15', 'Michel', '800'),
  ];
  for (const a of assets) {
    ctx.put(a.ID, JSON.stringify(a));
  }
}

export function CreateAsset(ctx, id, color, size, owner, appraisedValue) {
  if (AssetExists(ctx, id)) {
    throw new Error('the asset ' + id + ' already exists');
  }
  const a = asset(id, color, size, owner, appraisedValue);
  ctx.put(id, JSON.stringify(a));
  ctx.emit('CreateAsset', JSON.stringify(a));
}

export function ReadAsset(ctx, id) {
  return readAsset(ctx, id);
}

export function UpdateAsset(ctx, id, color, size, owner, appraisedValue) {
  if (!AssetExists(ctx, id)) {
    throw new Error('the asset ' + id + ' does not exist');
  }
  ctx.put(id, JSON.stringify(asset(id, color, size, owner, appraisedValue)));
}

export function DeleteAsset(ctx, id) {
  if (!AssetExists(ctx, id)) {
    throw new Error('the asset ' + id + ' does not exist');
  }
  ctx.del(id);
}

export function AssetExists(ctx, id) {
  return ctx.get(id) !== null;
}

// Returns the previous owner, as the Go sample does.
export function TransferAsset(ctx, id, newOwner) {
  const a = readAsset(ctx, id);
  const oldOwner = a.Owner;
  a.Owner = newOwner;
  ctx.put(id, JSON.stringify(a));
  ctx.emit('TransferAsset', JSON.stringify({ ID: id, From: oldOwner, To: newOwner }));
  return oldOwner;
}

export function GetAllAssets(ctx) {
  return ctx.range('', '').map(function (entry) {
    return JSON.parse(entry.value);
  });
}
