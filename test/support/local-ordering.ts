import type { ChainNode } from '../../node/node/index.js';
import { blockHash, ValidationCode, type Envelope } from '../../node/protocol/index.js';
import { certifyLocally } from '../../node/workload/index.js';

/**
 * Stands in for the BFT ordering service in peer tests: the network's single orderer (n = 1,
 * quorum 1) cuts a block from whatever was submitted since the last one and commits it with its
 * own certificate. Real nodes, real TLS and real delivery; only the agreement is trivial.
 */
export class LocalOrdering {
  private batch: Envelope[] = [];
  private work: Promise<void> = Promise.resolve();
  readonly seen = new Set<string>();

  constructor(private readonly orderer: ChainNode) {
    if (orderer.network.config.orderers.length !== 1)
      throw new Error('LocalOrdering needs a one-orderer network');
    orderer.addHandlers({
      onRequest: (_from, message) => {
        if (message.type !== 'submit' || this.seen.has(message.envelope.payload.txId)) return;
        this.seen.add(message.envelope.payload.txId);
        this.batch.push(message.envelope);
        this.work = this.work.then(() => this.cut());
      },
    });
  }

  /** Waits until every submission received so far is in a committed block. */
  async settled(): Promise<void> {
    await this.work;
  }

  private async cut(): Promise<void> {
    if (this.batch.length === 0) return;
    const txs = this.batch;
    this.batch = [];
    const head = this.orderer.chainHead;
    const { block, commitCertificate } = certifyLocally(
      [{ name: this.orderer.name, key: this.orderer.key }],
      head,
      txs,
      Date.now(),
    );
    if (blockHash(block.header) === head.hash) throw new Error('unreachable');
    await this.orderer.commitBlock(
      block,
      txs.map(() => ValidationCode.VALID),
      commitCertificate,
    );
  }
}
