import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { sha256Hex } from '../protocol/index.js';
import {
  ContractError,
  ContractRuntime,
  InMemoryState,
  loadSampleContract,
  type SimulationResult,
} from './index.js';
import { b64, request } from './test-support.js';

let runtime: ContractRuntime;
beforeAll(async () => {
  runtime = await ContractRuntime.create();
  for (const name of ['trade', 'asset-transfer', 'kv'] as const)
    runtime.install(name, loadSampleContract(name).source);
});
afterAll(() => {
  runtime.dispose();
});

function jsMessageOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof ContractError && error.code === 'CONTRACT_THREW') return error.details.jsMessage;
    throw error;
  }
  throw new Error('expected the contract to throw');
}

describe('trade', () => {
  const isin = sha256Hex('DK0060534915');
  const buyer = sha256Hex('buyer-1');
  const seller = sha256Hex('seller-2');

  test('record writes the trade and its ISIN index entry, emits TradeRecorded and returns the txId', () => {
    const txId = sha256Hex('tx-1');
    const out = runtime.simulate(
      request('trade', 'record', [isin, buyer, seller, '21', '300'], new InMemoryState(), { txId }),
    );
    expect(out.result).toBe(JSON.stringify(txId));
    expect(out.rwset.reads).toEqual([]);
    expect(out.rwset.writes).toEqual([
      { ns: 'trade', key: `isin~${isin}~${txId}`, value: '' },
      {
        ns: 'trade',
        key: `trade~${txId}`,
        value: b64(JSON.stringify({ isin, buyer, seller, price: 21, volume: 300 })),
      },
    ]);
    expect(out.events).toEqual([{ name: 'TradeRecorded', payload: txId }]);
  });

  test('record refuses malformed hashes and non-positive or non-integer prices and volumes', () => {
    const state = new InMemoryState();
    expect(
      jsMessageOf(() =>
        runtime.simulate(request('trade', 'record', ['DK0060534915', buyer, seller, '1', '1'], state)),
      ),
    ).toMatch(/isinHash must be a SHA-256 hash/);
    expect(
      jsMessageOf(() => runtime.simulate(request('trade', 'record', [isin, buyer, seller, '0', '1'], state))),
    ).toMatch(/price must be a positive integer/);
    expect(
      jsMessageOf(() =>
        runtime.simulate(request('trade', 'record', [isin, buyer, seller, '1', '2.5'], state)),
      ),
    ).toMatch(/volume must be a positive integer/);
  });

  test('get and listByIsin read committed trades and record the versions they saw', () => {
    const state = new InMemoryState();
    const txIds = [sha256Hex('t1'), sha256Hex('t2'), sha256Hex('t3')];
    const otherIsin = sha256Hex('DK0010274414');
    txIds.forEach((txId, i) => {
      const out = runtime.simulate(
        request(
          'trade',
          'record',
          [i === 2 ? otherIsin : isin, buyer, seller, String(20 + i), '100'],
          state,
          { txId },
        ),
      );
      state.apply(out.rwset, { height: 10 + i, txIndex: 0 });
    });
    const one = runtime.simulate(request('trade', 'get', [txIds[0]!], state));
    expect(JSON.parse(one.result)).toEqual({ txId: txIds[0], isin, buyer, seller, price: 20, volume: 100 });
    expect(one.rwset.reads).toEqual([
      { ns: 'trade', key: `trade~${txIds[0]!}`, version: { height: 10, txIndex: 0 } },
    ]);

    const list = runtime.simulate(request('trade', 'listByIsin', [isin], state));
    const trades = JSON.parse(list.result) as { txId: string }[];
    expect(trades.map((t) => t.txId).sort()).toEqual([txIds[0], txIds[1]].sort());
    // Both index entries and both trades were read, each with its version.
    expect(list.rwset.reads).toHaveLength(4);
    expect(list.rwset.reads.every((r) => r.version !== null)).toBe(true);
    expect(list.rwset.writes).toEqual([]);
    expect(jsMessageOf(() => runtime.simulate(request('trade', 'get', ['nope'], state)))).toBe(
      'the trade nope does not exist',
    );
  });
});

describe('asset-transfer', () => {
  test('runs the full lifecycle against a state that applies each write set, with Fabric’s error messages', () => {
    const state = new InMemoryState();
    let height = 1;
    const submit = (fn: string, ...args: string[]): SimulationResult => {
      const out = runtime.simulate(
        request('asset-transfer', fn, args, state, { txId: sha256Hex(`${fn}-${height}`) }),
      );
      state.apply(out.rwset, { height: height++, txIndex: 0 });
      return out;
    };
    const fails = (fn: string, ...args: string[]) =>
      jsMessageOf(() => runtime.simulate(request('asset-transfer', fn, args, state)));

    submit('InitLedger');
    expect(JSON.parse(submit('GetAllAssets').result)).toHaveLength(6);

    const created = submit('CreateAsset', 'asset7', 'purple', '20', 'Ana', '900');
    expect(created.rwset.reads).toEqual([{ ns: 'asset-transfer', key: 'asset7', version: null }]);
    expect(created.events[0]?.name).toBe('CreateAsset');
    expect(fails('CreateAsset', 'asset7', 'purple', '20', 'Ana', '900')).toBe(
      'the asset asset7 already exists',
    );

    const read = submit('ReadAsset', 'asset7');
    expect(JSON.parse(read.result)).toEqual({
      AppraisedValue: 900,
      Color: 'purple',
      ID: 'asset7',
      Owner: 'Ana',
      Size: 20,
    });
    expect(read.rwset.reads).toEqual([
      { ns: 'asset-transfer', key: 'asset7', version: { height: 3, txIndex: 0 } },
    ]);

    submit('UpdateAsset', 'asset7', 'orange', '21', 'Ana', '950');
    expect(JSON.parse(submit('ReadAsset', 'asset7').result)).toMatchObject({
      Color: 'orange',
      Size: 21,
      AppraisedValue: 950,
    });
    expect(fails('UpdateAsset', 'asset99', 'c', '1', 'o', '1')).toBe('the asset asset99 does not exist');

    expect(submit('TransferAsset', 'asset7', 'Bob').result).toBe('"Ana"');
    expect(JSON.parse(submit('ReadAsset', 'asset7').result)).toMatchObject({ Owner: 'Bob' });
    expect(fails('TransferAsset', 'asset99', 'Bob')).toBe('the asset asset99 does not exist');

    expect(submit('AssetExists', 'asset7').result).toBe('true');
    const deleted = submit('DeleteAsset', 'asset7');
    expect(deleted.rwset.writes).toEqual([{ ns: 'asset-transfer', key: 'asset7', value: null }]);
    expect(submit('AssetExists', 'asset7').result).toBe('false');
    expect(fails('DeleteAsset', 'asset7')).toBe('the asset asset7 does not exist');
    expect(fails('ReadAsset', 'asset7')).toBe('the asset asset7 does not exist');
    expect(fails('CreateAsset', 'asset8', 'c', 'big', 'o', '1')).toMatch(/size must be an integer/);

    const all = JSON.parse(submit('GetAllAssets').result) as { ID: string }[];
    expect(all.map((a) => a.ID)).toEqual(['asset1', 'asset2', 'asset3', 'asset4', 'asset5', 'asset6']);
  });
});

describe('kv', () => {
  test('put, get and del round-trip through applied write sets', () => {
    const state = new InMemoryState();
    state.apply(runtime.simulate(request('kv', 'put', ['k', 'v1'], state)).rwset, { height: 1, txIndex: 0 });
    expect(runtime.simulate(request('kv', 'get', ['k'], state)).result).toBe('"v1"');
    state.apply(runtime.simulate(request('kv', 'del', ['k'], state)).rwset, { height: 2, txIndex: 0 });
    expect(runtime.simulate(request('kv', 'get', ['k'], state)).result).toBe('null');
  });
});
