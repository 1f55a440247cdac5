import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';

/** Progress on stderr, and only for a person at a terminal: pipes and --json stay clean. */
export function progressBar(
  label: string,
  total: number,
  enabled = process.stderr.isTTY,
): {
  update(done: number): void;
  stop(): void;
} {
  if (!enabled) {
    return {
      update: () => undefined,
      stop: () => undefined,
    };
  }
  const bar = new SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
  });
  bar.start(total, 0);
  return {
    update: (done) => {
      bar.update(done);
    },
    stop: () => {
      bar.stop();
    },
  };
}

export function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const t = new Table({ head: [...head], style: { head: [], border: [] } });
  for (const row of rows) t.push(row.map(String));
  return t.toString();
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A trade as the sketch printed it: hashed ISIN, buyer and seller, price and volume. */
export interface SketchTrade {
  readonly price: unknown;
  readonly volume: unknown;
  readonly isin: unknown;
  readonly seller: unknown;
  readonly buyer: unknown;
}

/** The 2018 blockchaintest's view of a block: hash, index, created, previous, and its trade. */
export function sketchBlockJson(
  block: { hash: string; height: number; timestampMs: number; prevHash: string },
  trade: SketchTrade | undefined,
  extra: Record<string, unknown> = {},
): string {
  const content = trade && {
    price: trade.price,
    volume: trade.volume,
    ISIN: trade.isin,
    seller: trade.seller,
    buyer: trade.buyer,
  };
  const view = {
    hash: block.hash,
    block: {
      idx: block.height,
      created: new Date(block.timestampMs).toISOString(),
      previous: block.prevHash,
      ...extra,
      content,
    },
  };
  return JSON.stringify(view, null, 4);
}
