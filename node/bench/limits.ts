import { quorumSize } from '../protocol/index.js';

/** The shape of the network under test, as the signature count needs it. */
export interface Topology {
  readonly orderers: number;
  /** Peers of all organisations together. */
  readonly peers: number;
  /** Organisations whose endorsement each transaction carries (the gateway's smallest set for the policy). */
  readonly endorsements: number;
  /**
   * `--mode order`: the load generator signs the endorsements itself (no proposal, no endorser
   * checks or simulations on peers), so only ordering and validation are left to the network.
   */
  readonly preEndorsed?: boolean;
}

export interface SignatureCount {
  /** Per transaction, whatever the block size. */
  readonly perTx: { readonly signs: number; readonly verifies: number };
  /** Per block, shared by the transactions in it. */
  readonly perBlock: { readonly signs: number; readonly verifies: number };
}

/**
 * ECDSA operations the whole network (client included) performs, counted from the code paths:
 *
 * per transaction (O orderers, P peers, E endorsing organisations):
 *   signs     2            client: proposal and envelope (sdk/sign.ts)
 *           + E            each endorser signs its response (peer/endorser.ts)
 *   verifies  E            each endorser checks the proposal signature
 *           + O            each orderer admits the gateway's submission: creator signature
 *                          (orderer/admission.ts, from core.onRequest); the copies relayed by
 *                          the other orderers are dropped by txId before any check, and a
 *                          proposed block's envelopes reuse the admission verdict
 *           + P·(1+E)      each peer validates creator and endorsement signatures (peer/validate.ts)
 *
 * per block (q = 2f+1), counted as if every block came with its own tick and status round (an
 * upper bound: both happen at most every 10 ms and 100 ms, whatever the block rate):
 *   signs     3·O+1        PRE-PREPARE (leader), PREPARE, COMMIT and its commit vote (each orderer)
 *           + O            each orderer relays the requests it received since the last tick in
 *                          one signed FORWARD (consensus/core.ts flushRelay)
 *           + (O+P)        every node signs the status it broadcasts after committing (node/node.ts)
 *   verifies  (O−1)(3·O+1) every orderer checks the others' PBFT messages and commit votes
 *           + O·(O−1)      every orderer checks the others' FORWARD messages
 *           + P·q          every peer checks the block's commit certificate (peer/committer.ts)
 *           + (O+P)(O+P−1) every node checks every other node's status (node/messages.ts)
 */
export function signatureCount(t: Topology): SignatureCount {
  const { orderers: O, peers: P, endorsements: E } = t;
  const q = quorumSize(O);
  const endorsing = t.preEndorsed === true ? 0 : E;
  return {
    perTx: {
      // Pre-endorsed: the generator signs E responses and the envelope, but no proposal.
      signs: (t.preEndorsed === true ? 1 : 2) + E,
      verifies: endorsing + O + P * (1 + E),
    },
    perBlock: {
      signs: 3 * O + 1 + O + (O + P),
      verifies: (O - 1) * (3 * O + 1) + O * (O - 1) + P * q + (O + P) * (O + P - 1),
    },
  };
}

export interface MachineRates {
  /** Cores the whole network (nodes, PostgreSQL, the load generator) shares. */
  readonly cores: number;
  /** Single-core ECDSA P-256 rates (node/bench/crypto.ts). */
  readonly signPerSec: number;
  readonly verifyPerSec: number;
  /** Single-core warm contract calls (node/contracts/bench.ts). */
  readonly contractCallsPerSec: number;
  /**
   * CPU milliseconds (the writer's and PostgreSQL's together) to store one transaction of a block
   * of this run's size, durably (node/bench/ledger.ts); null if not measured.
   */
  readonly ledgerCpuMsPerTx: number | null;
}

export interface PhysicalLimit {
  readonly txPerBlock: number;
  readonly signsPerTx: number;
  readonly verifiesPerTx: number;
  /** CPU milliseconds per transaction, whole network: signatures, contract simulations, storing it on every node. */
  readonly cryptoCpuMsPerTx: number;
  readonly contractCpuMsPerTx: number;
  readonly ledgerCpuMsPerTx: number | null;
  readonly cpuMsPerTx: number;
  /** tx/s if all cores did nothing but signature work. */
  readonly signatureBoundTps: number;
  /** The limit: tx/s if all cores did nothing but signatures, contract simulations and PostgreSQL commits. */
  readonly tps: number;
}

/**
 * The physical limit of a topology on this machine, counting only the work no implementation
 * can skip, each at the rate this machine's micro-benchmarks measure:
 *
 *   signs/tx     = S_tx + S_block / B        verifies/tx = V_tx + V_block / B   (signatureCount)
 *   crypto ms/tx = signs/tx ÷ sign/s + verifies/tx ÷ verify/s                  (one core's rates)
 *   contract     = E ÷ contract calls/s                                         (each endorser simulates once)
 *   ledger       = (O + P) × CPU to commit one tx durably at B tx/block         (every node stores every block)
 *   limit tx/s   = cores ÷ (crypto + contract + ledger)
 *
 * B is the mean number of transactions per block in the run (blocks stay smaller than
 * batchTxMax when the batch timeout cuts them first). TLS, HTTP, JSON and canonical encoding
 * outside the store, logging and consensus bookkeeping are left out, so this is an upper bound
 * no implementation on these cores can pass; achieved/limit says how far off we are. The
 * PostgreSQL term is CPU, not fsync latency: concurrent writers share fsyncs (group commit), so
 * one writer's sequential commit rate is no bound on a network.
 */
export function physicalLimit(t: Topology, rates: MachineRates, txPerBlock: number): PhysicalLimit {
  const B = Math.max(1, txPerBlock);
  const c = signatureCount(t);
  const signs = c.perTx.signs + c.perBlock.signs / B;
  const verifies = c.perTx.verifies + c.perBlock.verifies / B;
  const cryptoMs = (1000 * signs) / rates.signPerSec + (1000 * verifies) / rates.verifyPerSec;
  const simulations = t.preEndorsed === true ? 0 : t.endorsements;
  const contractMs = (1000 * simulations) / rates.contractCallsPerSec;
  const ledgerMs = rates.ledgerCpuMsPerTx === null ? null : (t.orderers + t.peers) * rates.ledgerCpuMsPerTx;
  const cpuMs = cryptoMs + contractMs + (ledgerMs ?? 0);
  return {
    txPerBlock: B,
    signsPerTx: signs,
    verifiesPerTx: verifies,
    cryptoCpuMsPerTx: cryptoMs,
    contractCpuMsPerTx: contractMs,
    ledgerCpuMsPerTx: ledgerMs,
    cpuMsPerTx: cpuMs,
    signatureBoundTps: (1000 * rates.cores) / cryptoMs,
    tps: (1000 * rates.cores) / cpuMs,
  };
}
