import { describe, expect, it } from '@jest/globals';
import { physicalLimit, signatureCount } from './limits.js';
import { parsePolicy } from './policy.js';
import { parseProcStat } from './proc.js';

describe('the signature count of a topology', () => {
  it('counts 4 orderers, 2 peers and AND(org1, org2) as the code paths do', () => {
    const c = signatureCount({ orderers: 4, peers: 2, endorsements: 2 });
    // signs: client 2 + endorsers 2; verifies: endorsers 2 + admission 4 + peers 2·(1+2)
    expect(c.perTx).toEqual({ signs: 4, verifies: 2 + 4 + 6 });
    // per block: PBFT 3·4+1 + FORWARDs 4 + statuses 6;
    // verifies: PBFT 3·13 + FORWARDs 4·3 + certificate 2·3 + statuses 6·5
    expect(c.perBlock).toEqual({ signs: 13 + 4 + 6, verifies: 39 + 12 + 6 + 30 });
  });

  it('has no orderer-to-orderer traffic with one orderer, and no endorser work when pre-endorsed', () => {
    const one = signatureCount({ orderers: 1, peers: 1, endorsements: 1 });
    expect(one.perTx).toEqual({ signs: 3, verifies: 1 + 1 + 2 });
    expect(one.perBlock).toEqual({ signs: 4 + 1 + 2, verifies: 0 + 0 + 1 + 2 });
    const pre = signatureCount({ orderers: 1, peers: 1, endorsements: 1, preEndorsed: true });
    expect(pre.perTx).toEqual({ signs: 2, verifies: 3 });
  });
});

describe('the physical limit', () => {
  const rates = { cores: 2, signPerSec: 20_000, verifyPerSec: 10_000, contractCallsPerSec: 40_000 };

  it('is cores over the CPU every transaction needs, block costs shared by the block', () => {
    const t = { orderers: 4, peers: 2, endorsements: 2 };
    const l = physicalLimit(t, { ...rates, ledgerCpuMsPerTx: 0.5 }, 100);
    expect(l.signsPerTx).toBeCloseTo(4 + 23 / 100);
    expect(l.verifiesPerTx).toBeCloseTo(12 + 87 / 100);
    const crypto = 1000 * (4.23 / 20_000 + 12.87 / 10_000);
    expect(l.cryptoCpuMsPerTx).toBeCloseTo(crypto);
    expect(l.contractCpuMsPerTx).toBeCloseTo(0.05);
    expect(l.ledgerCpuMsPerTx).toBeCloseTo(6 * 0.5);
    expect(l.cpuMsPerTx).toBeCloseTo(crypto + 0.05 + 3);
    expect(l.tps).toBeCloseTo(2000 / (crypto + 3.05));
    expect(l.signatureBoundTps).toBeCloseTo(2000 / crypto);
  });

  it('grows with block size and shrinks with orderers (FORWARD relays are quadratic)', () => {
    const at = (orderers: number, B: number): number =>
      physicalLimit({ orderers, peers: 2, endorsements: 2 }, { ...rates, ledgerCpuMsPerTx: null }, B).tps;
    expect(at(4, 500)).toBeGreaterThan(at(4, 10));
    expect(at(4, 100)).toBeGreaterThan(at(7, 100));
    expect(at(1, 100)).toBeGreaterThan(at(4, 100));
    // Block size 0 (no blocks seen) counts as 1.
    expect(at(4, 0)).toBe(at(4, 1));
  });
});

describe('endorsement policies on the command line', () => {
  it("reads Fabric's notation, bare orgs and JSON into the protocol's form", () => {
    expect(parsePolicy('AND(org1,org2)')).toEqual({ and: [{ org: 'org1' }, { org: 'org2' }] });
    expect(parsePolicy('OR(\'org1\', "org2")')).toEqual({ or: [{ org: 'org1' }, { org: 'org2' }] });
    expect(parsePolicy('OutOf(2, org1, org2, org3)')).toEqual({
      outOf: { k: 2, of: [{ org: 'org1' }, { org: 'org2' }, { org: 'org3' }] },
    });
    expect(parsePolicy('and(org1, or(org2, org3))')).toEqual({
      and: [{ org: 'org1' }, { or: [{ org: 'org2' }, { org: 'org3' }] }],
    });
    expect(parsePolicy('org1')).toEqual({ org: 'org1' });
    expect(parsePolicy('{"and":[{"org":"org1"}]}')).toEqual({ and: [{ org: 'org1' }] });
  });

  it('names what is wrong', () => {
    expect(() => parsePolicy('AND(org1,')).toThrow(/invalid policy/);
    expect(() => parsePolicy('XOR(org1,org2)')).toThrow(/unknown policy operator XOR/);
    expect(() => parsePolicy('OutOf(3, org1, org2)')).toThrow(/k must not exceed/);
    expect(() => parsePolicy('AND(org1) org2')).toThrow(/unexpected text/);
    expect(() => parsePolicy('AND(Org1)')).toThrow(/lowercase/);
    expect(() => parsePolicy('{"and":')).toThrow(/not valid JSON/);
  });
});

describe('/proc readings', () => {
  it('reads ppid and CPU ticks after a command name with spaces and parentheses', () => {
    const line =
      '4242 (node (bench) x) S 4200 4242 4200 0 -1 4194560 1000 0 0 0 250 50 7 3 20 0 11 0 12345 1000000 5000';
    expect(parseProcStat(4242, line)).toEqual({
      pid: 4242,
      ppid: 4200,
      cpuSeconds: 3,
      childrenCpuSeconds: 0.1,
    });
    expect(parseProcStat(1, 'garbage')).toBeNull();
  });
});
