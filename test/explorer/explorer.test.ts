import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startApiServer, type ApiServer } from '../../node/api/index.js';
import { loadSampleContract } from '../../node/contracts/index.js';
import { ChainnodeClient } from '../../node/sdk/index.js';
import { eventually, InProcessNetwork } from '../support/network-harness.js';

/** Debian's chromium package; Playwright's own browser builds are never downloaded. */
const CHROMIUM = '/usr/bin/chromium';
/** Bound on every wait for the page (the page polls every 2-3 s and streams blocks live). */
const PAGE_WAIT_MS = 20_000;
const ARTIFACTS = join(tmpdir(), 'chainnode-explorer-artifacts');
const SCREENSHOT = join(ARTIFACTS, 'explorer.png');
const UNKNOWN_ID = 'ab'.repeat(32);
const searchedIds = new Set<string>();

let net: InProcessNetwork;
let peerApi: ApiServer;
let caCerts: string[];
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];
const submitted: { txId: string; height: number; key: string }[] = [];

function user(org: string, role: 'admin' | 'client') {
  const u = net.material.users.find((x) => x.org === org && x.role === role)!;
  return { certPem: u.certPem, keyPem: u.keyPem };
}

function client(who = user('org1', 'client')): ChainnodeClient {
  return ChainnodeClient.connect({ url: peerApi.url, ...who, caCerts });
}

async function put(key: string, value: string): Promise<{ txId: string; height: number }> {
  const outcome = await client().submit({ contract: 'kv', fn: 'put', args: [key, value] });
  expect(outcome.validation).toBe('VALID');
  submitted.push({ txId: outcome.txId, height: outcome.height, key });
  return outcome;
}

/** GET without a client certificate. */
function anonymous(path: string): Promise<number> {
  const url = new URL(peerApi.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, ca: caCerts }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the explorer test needs Debian's chromium at ${CHROMIUM} (apt-get install --no-install-recommends chromium; .ci/run installs it)`,
    );
  }
  net = await InProcessNetwork.start({ orderers: 4, orgs: 2 });
  caCerts = net.material.config.orgs.flatMap((o) => o.caCerts);
  await eventually(
    () => [...net.peers.values()].every((p) => p.node.connectedPeers().length === 5),
    20_000,
    'full mesh',
  );
  const peer = net.peer();
  const material = net.material.peers.find((n) => n.entry.name === peer.node.name)!;
  peerApi = await startApiServer({
    node: peer.node,
    peer,
    certPem: material.entry.cert,
    keyPem: material.keyPem,
    port: 0,
    logger: pino({ level: 'silent' }),
  });
  await client(user('org1', 'admin')).deploy('kv', loadSampleContract('kv').source);
  for (const [k, v] of [
    ['colour', 'blue'],
    ['shape', 'round'],
    ['size', 'large'],
  ] as const)
    await put(k, v);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--ignore-certificate-errors',
    ],
  });
  const who = user('org1', 'client');
  context = await browser.newContext({
    // The node's TLS certificate is issued by the consortium's CA, which this browser profile
    // does not trust; the client certificate is what the test is about.
    ignoreHTTPSErrors: true,
    clientCertificates: [
      { origin: new URL(peerApi.url).origin, cert: Buffer.from(who.certPem), key: Buffer.from(who.keyPem) },
    ],
    viewport: { width: 1400, height: 1000 },
  });
  page = await context.newPage();
  page.setDefaultTimeout(PAGE_WAIT_MS);
  page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // Expected failures: a searched 64-hex id is tried as a transaction id first.
    const expected404 =
      m.text().includes('404') && [...searchedIds].some((id) => m.location().url.endsWith(`/${id}`));
    if (m.type() === 'error' && !expected404)
      pageErrors.push(`console error: ${m.text()} (${m.location().url})`);
  });
  await mkdir(ARTIFACTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await (peerApi as ApiServer | undefined)?.close();
  await (net as InProcessNetwork | undefined)?.stop();
});

/** Height of the top row of the latest-blocks table. */
async function topHeight(): Promise<number> {
  return Number(
    await page.locator('#blocks-table tbody tr[data-height]').first().getAttribute('data-height'),
  );
}

describe('the explorer page in a real Chromium', () => {
  it('is behind the same client-certificate check as the API', async () => {
    expect(await anonymous('/explorer/')).toBe(401);
    expect(await anonymous('/explorer/explorer.js')).toBe(401);
    expect(await anonymous('/network')).toBe(401);
  });

  it('shows the network: every member with role, org, health and height, the leader and the view', async () => {
    const response = await page.goto(`${peerApi.url}/explorer`);
    expect(response?.status()).toBe(200);
    expect(new URL(page.url()).pathname).toBe('/explorer/');
    await page.locator('#network-table tbody tr[data-node]').nth(5).waitFor();
    const rows = await page
      .locator('#network-table tbody tr[data-node]')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(rows.map((r) => r[0]?.replace(/leader$/, ''))).toEqual([
      'orderer0',
      'orderer1',
      'orderer2',
      'orderer3',
      'peer0-org1',
      'peer0-org2',
    ]);
    expect(rows.map((r) => r[1])).toEqual(['orderer', 'orderer', 'orderer', 'orderer', 'peer', 'peer']);
    for (const r of rows) expect(r[2]).toMatch(/^org[12]$/);
    expect(rows.slice(4).map((r) => r[2])).toEqual(['org1', 'org2']);
    expect(rows.every((r) => r[3]?.startsWith('up'))).toBe(true);
    expect(await page.locator('#network-table tr.self').getAttribute('data-node')).toBe('peer0-org1');
    // The peer learns the leader from the latest block's proposer, and the view from its certificate.
    await expect(page.locator('#network-table .badge.leader').count()).resolves.toBe(1);
    const summary = await page.locator('#network-card dl').textContent();
    expect(summary).toMatch(/leaderorderer\d \(from block \d+\)/);
    expect(summary).toMatch(/view\d+/);
    await page.locator('#contracts-table tr[data-contract="kv"]').waitFor();
  });

  it('grows the block list live as transactions are committed', async () => {
    await page.locator('#live.on').waitFor();
    const before = await topHeight();
    expect(before).toBeGreaterThanOrEqual(submitted.at(-1)!.height);
    for (let i = 0; i < 3; i++) {
      const { height } = await put(`live${i}`, `value${i}`);
      // Bounded wait for the block event to reach the page and the list to be re-read.
      await page.locator(`#blocks-table tbody tr[data-height="${height}"]`).waitFor();
    }
    expect(await topHeight()).toBeGreaterThanOrEqual(before + 3);
    expect(await page.locator('#live').textContent()).toMatch(/^live · height \d+$/);
  });

  it('draws throughput and latency sparklines from /metrics', async () => {
    // Some traffic while the page samples /metrics (every 2 s), so the lines have a shape.
    const traffic = (async () => {
      for (let i = 0; i < 8; i++) await put(`spark${i}`, String(i));
    })();
    const points = async (series: string) =>
      (await page.locator(`[data-series="${series}"] svg polyline`).getAttribute('points'))?.split(' ')
        .length ?? 0;
    await eventually(
      async () => (await points('transactions')) >= 4,
      PAGE_WAIT_MS,
      'four throughput samples',
    );
    await traffic;
    expect(await points('blocks')).toBeGreaterThanOrEqual(4);
    expect(await page.locator('[data-series="transactions"] .spark-value').textContent()).toMatch(/tx\/s/);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    process.stderr.write(`explorer screenshot: ${SCREENSHOT}\n`);
  });

  it('opens a block with its header, certificate signers and transactions, then a transaction', async () => {
    const tx = submitted.at(-1)!;
    await page.locator(`#blocks-table tbody tr[data-height="${tx.height}"] td a`).first().click();
    await page.locator(`#block-view[data-height="${tx.height}"]`).waitFor();
    expect(page.url()).toMatch(new RegExp(`#/block/${tx.height}$`));
    const header = await page.locator('#block-header').textContent();
    expect(header).toMatch(/hash[0-9a-f]{64}/);
    expect(header).toMatch(/data hash \(Merkle root\)[0-9a-f]{64}/);
    expect(header).toMatch(/proposerorderer\d/);
    // A commit certificate needs 2f+1 = 3 of the 4 orderers.
    expect(await page.locator('#signers-table tbody tr').count()).toBeGreaterThanOrEqual(3);
    const row = page.locator(`#block-tx-table tr[data-tx="${tx.txId}"]`);
    expect(await row.locator('.badge').textContent()).toBe('VALID');
    expect(await row.textContent()).toContain('kv.put');
    await page.screenshot({ path: join(ARTIFACTS, 'explorer-block.png'), fullPage: true });

    await row.locator('a').click();
    await page.locator(`#tx-view[data-tx="${tx.txId}"]`).waitFor();
    const proposal = await page.locator('#tx-proposal').textContent();
    expect(proposal).toContain('kv');
    expect(proposal).toContain('put');
    expect(proposal).toContain(tx.key);
    expect(await page.locator('#endorsements-table tbody tr').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#writes-table tbody').textContent()).toContain(tx.key);
    expect(await page.locator('#tx-result .badge').textContent()).toBe('VALID');
    await page.screenshot({ path: join(ARTIFACTS, 'explorer-tx.png'), fullPage: true });
  });

  it('finds a transaction by id, a block by height and by hash, and says when nothing matches', async () => {
    const tx = submitted[0]!;
    await page.goto(`${peerApi.url}/explorer/#/`);
    await page.locator('#search-input').fill(tx.txId);
    await page.locator('#search-input').press('Enter');
    await page.locator(`#tx-view[data-tx="${tx.txId}"]`).waitFor();
    expect(page.url()).toMatch(new RegExp(`#/tx/${tx.txId}$`));

    await page.locator('#search-input').fill(String(tx.height));
    await page.locator('#search button').click();
    await page.locator(`#block-view[data-height="${tx.height}"]`).waitFor();
    const blockHash = (await page.locator('#block-header .hash').first().textContent())!;

    searchedIds.add(blockHash);
    await page.locator('#search-input').fill(blockHash);
    await page.locator('#search-input').press('Enter');
    await page.waitForURL((url) => url.hash === `#/block/${blockHash}`);
    await page.locator(`#block-view[data-height="${tx.height}"]`).waitFor();

    searchedIds.add(UNKNOWN_ID);
    await page.locator('#search-input').fill(UNKNOWN_ID);
    await page.locator('#search-input').press('Enter');
    await expect(page.locator('#message.error').textContent()).resolves.toMatch(/^Not found/);
  });

  it('ran without script errors or Content-Security-Policy violations', () => {
    expect(pageErrors).toEqual([]);
  });
});
