import { SigningKey } from '../../node/crypto/index.js';
import { proposalTxId, type InvokePayload } from '../../node/protocol/index.js';
import { ClientError, signProposal, signTransaction, type ClientIdentity } from '../../node/sdk/index.js';
import { CallError, callJson, type ChaosCluster } from './cluster.js';

/** One client operation, as etcd's robustness tests record them: what was asked, when, and what came back. */
export interface OpRecord {
  readonly id: number;
  readonly worker: number;
  readonly gateway: string;
  readonly contract: string;
  readonly key: string;
  /** Known before the call: SHA-256 of the signed proposal. */
  readonly txId: string;
  /** ms since the run started. */
  readonly start: number;
  end: number;
  /** 'ok': the gateway reported the transaction final with `validation`; 'error': anything else. */
  outcome: 'pending' | 'ok' | 'error';
  validation?: string;
  code?: number;
  height?: number;
  txIndex?: number;
  /** Where an error happened, and what it said. */
  phase?: 'endorse' | 'submit';
  error?: string;
}

const ENDORSE_TIMEOUT_MS = 15_000;
/** How long the gateway waits for the transaction to be final before it answers "not yet". */
const COMMIT_WAIT_MS = 20_000;
/** Pause after a failed call, doubled after each further failure up to the max: a dead gateway is not hammered. */
const BACKOFF_MS = 250;
const BACKOFF_MAX_MS = 2_000;

/**
 * A closed-loop load: `workers` clients each submit `put` calls with keys of their own, one at a
 * time, through the peers' gateways in turn (worker w uses peer w mod peers, as that peer's
 * organisation's client) and to the contracts in turn (`contracts[floor(w / peers) mod n]`: the
 * runner deploys the same kv code under an every-org endorsement policy and under an any-org
 * one, so some traffic needs both peers and some goes on while one of them is down). A failed
 * call is recorded and never retried: retrying would hide a lost transaction.
 */
export class Load {
  readonly ops: OpRecord[] = [];
  private running = false;
  private workers: Promise<void>[] = [];
  private nextId = 0;

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly workerCount: number,
    private readonly t0: number,
    private readonly contracts: readonly string[],
  ) {}

  start(): void {
    this.running = true;
    this.workers = Array.from({ length: this.workerCount }, (_, w) => this.work(w));
  }

  /** Stops issuing calls and waits for the ones in flight to end. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  get acknowledged(): OpRecord[] {
    return this.ops.filter((o) => o.outcome === 'ok');
  }

  /** Acknowledged VALID calls that started at or after `sinceMs` (run time). */
  validSince(sinceMs: number): number {
    return this.ops.filter((o) => o.outcome === 'ok' && o.validation === 'VALID' && o.start >= sinceMs)
      .length;
  }

  private async work(worker: number): Promise<void> {
    const peers = this.cluster.peers;
    const gateway = peers[worker % peers.length] ?? '';
    const contract = this.contracts[Math.floor(worker / peers.length) % this.contracts.length] ?? '';
    const org = this.cluster.entry(gateway).org;
    const user = this.cluster.users.get(org);
    if (user === undefined) throw new Error(`no client identity for ${org}`);
    const identity: ClientIdentity = {
      identity: { org: org as ClientIdentity['identity']['org'], cert: user.certPem },
      key: SigningKey.fromPem(user.keyPem),
    };
    const agent = this.cluster.agent(user, `client-${org}`);
    const sdk = this.cluster.client(gateway, user, `client-${org}`);
    const url = this.cluster.apiUrl(gateway);
    let backoffMs = BACKOFF_MS;
    for (let i = 0; this.running; i++) {
      const key = `w${worker}-${i}`;
      const proposal = signProposal(identity, { contract, fn: 'put', args: [key, String(i)] });
      const op: OpRecord = {
        id: this.nextId++,
        worker,
        gateway,
        contract,
        key,
        txId: proposalTxId(proposal.proposal),
        start: Date.now() - this.t0,
        end: -1,
        outcome: 'pending',
      };
      this.ops.push(op);
      let phase: 'endorse' | 'submit' = 'endorse';
      try {
        const { payload } = await callJson<{ payload: InvokePayload }>(
          agent,
          url,
          'POST',
          '/gateway/endorse',
          { proposal },
          ENDORSE_TIMEOUT_MS,
        );
        phase = 'submit';
        const envelope = signTransaction(identity, proposal, payload);
        const r = await sdk.submitEnvelope(envelope, COMMIT_WAIT_MS);
        op.end = Date.now() - this.t0;
        op.outcome = 'ok';
        op.validation = r.validation;
        op.code = r.code;
        op.height = r.height;
        op.txIndex = r.txIndex;
        if (r.txId !== op.txId) {
          op.outcome = 'error';
          op.error = `gateway answered for ${r.txId}`;
        }
        backoffMs = BACKOFF_MS;
      } catch (e) {
        op.end = Date.now() - this.t0;
        op.outcome = 'error';
        op.phase = phase;
        op.error =
          e instanceof ClientError || e instanceof CallError
            ? `${e.code}: ${e.message}`.slice(0, 300)
            : String(e).slice(0, 300);
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs * 2);
      }
    }
  }
}
