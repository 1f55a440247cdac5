/* global document, window, fetch, EventSource, location, history, setInterval, setTimeout, atob, TextDecoder */
// The Chainnode explorer: vanilla JS, no build step, nothing from outside this node. Every call
// goes to the API of the node serving the page (same origin, same client certificate).
// Views by hash: #/ (network, latest blocks, activity, contracts), #/block/<height|hash>,
// #/tx/<txId>, #/search/<query>.

const POLL_MS = 3000;
const METRICS_SAMPLE_MS = 2000;
const SAMPLES_MAX = 60;
const BLOCKS_SHOWN = 20;
const HEX64 = /^[0-9a-f]{64}$/;

const state = {
  status: null,
  network: null,
  latest: null,
  blocks: [],
  seenHeights: new Set(),
  contracts: null,
  samples: [],
  blockLatencies: [],
  liveHeight: null,
  errors: {},
};

// ---------------------------------------------------------------- DOM helpers

/** An element with attributes (on* as listeners) and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs = {}) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function replace(id, node) {
  const old = document.getElementById(id);
  if (old !== null) old.replaceWith(node);
}

const short = (hex, n = 12) =>
  typeof hex === 'string' ? (hex.length > n ? `${hex.slice(0, n)}…` : hex) : '—';
const time = (ms) =>
  typeof ms === 'number' ? new Date(ms).toISOString().replace('T', ' ').slice(0, 23) : '—';
const blockLink = (id, text = String(id)) => h('a', { href: `#/block/${id}` }, text);
const txLink = (txId, n = 16) => h('a', { href: `#/tx/${txId}`, class: 'mono', title: txId }, short(txId, n));
const badge = (validation) =>
  h('span', { class: `badge ${validation === 'VALID' ? 'ok' : 'bad'}` }, validation ?? 'UNKNOWN');
const hash = (hex) => h('span', { class: 'mono hash', title: hex ?? '' }, hex ?? '—');

function ago(ms) {
  if (typeof ms !== 'number') return '—';
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

/** base64 state bytes as text when they are printable UTF-8, else as hex. */
function decodeValue(b64) {
  if (b64 === null) return h('em', {}, 'deleted');
  try {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    // eslint-disable-next-line no-control-regex
    if (!/[\u0000-\u0008\u000e-\u001f]/.test(text)) return h('span', { class: 'mono' }, text);
    return h(
      'span',
      { class: 'mono' },
      `0x${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`,
    );
  } catch {
    return h('span', { class: 'mono' }, b64);
  }
}

function table(id, headers, rows, empty = 'nothing yet') {
  return h(
    'table',
    { id },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((x) => h('th', {}, x)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.length === 0 ? h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, empty)) : rows,
    ),
  );
}

function card(title, id, ...body) {
  return h('section', { class: 'card', id }, h('h2', {}, title), body);
}

function dl(pairs) {
  return h(
    'dl',
    { class: 'kv' },
    pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );
}

// ---------------------------------------------------------------- API

async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) {
    let message = res.statusText;
    try {
      message = (await res.json()).error.message;
    } catch {
      // not a JSON error: keep the status text
    }
    const error = new Error(`${res.status} ${message}`);
    error.status = res.status;
    throw error;
  }
  return res.json();
}

// ---------------------------------------------------------------- the home view

function networkCard() {
  const net = state.network;
  const status = state.status;
  const latest = state.latest;
  // An orderer knows the leader and view from its own consensus state; a peer learns them
  // from the latest block: its proposer (the view's primary) and its commit certificate.
  const leader = status?.leaderName ?? latest?.header?.proposer ?? null;
  const view = status?.view ?? latest?.commitCertificate?.view ?? null;
  const source = status?.leaderName ? 'from consensus' : latest ? `from block ${latest.header.height}` : '';
  const rows = (net?.members ?? []).map((m) => {
    const health = m.self ? 'up (this node)' : m.linked ? 'up' : 'no link';
    const ownHeight = status?.height ?? null;
    const behind = m.height !== null && ownHeight !== null && m.height < ownHeight - 2;
    return h(
      'tr',
      { 'data-node': m.name, class: m.self ? 'self' : undefined },
      h(
        'td',
        {},
        m.name,
        m.name === leader ? h('span', { class: 'badge leader', title: 'current leader' }, 'leader') : null,
      ),
      h('td', {}, m.role),
      h('td', {}, m.org),
      h('td', {}, h('span', { class: `health ${m.linked ? 'ok' : 'bad'}` }, health)),
      h('td', { class: 'num' }, m.height ?? '—', behind ? h('span', { class: 'muted' }, ' behind') : null),
      h('td', { class: 'mono', title: m.headHash ?? '' }, short(m.headHash)),
      h('td', { class: 'muted' }, m.self ? 'now' : m.statusAgeMs === null ? '—' : ago(m.statusAgeMs)),
      h('td', { class: 'mono small' }, m.api),
    );
  });
  return card(
    'Network',
    'network-card',
    dl([
      ['network', net?.networkId ?? '…'],
      ['this node', status ? `${status.name} (${status.role}, ${status.org ?? '?'})` : '…'],
      ['height', status?.height ?? '…'],
      ['leader', leader === null ? '—' : `${leader}${source ? ` (${source})` : ''}`],
      ['view', view ?? '—'],
    ]),
    table(
      'network-table',
      ['node', 'role', 'org', 'health', 'height', 'head', 'last status', 'API'],
      rows,
      state.errors.network ?? 'loading…',
    ),
  );
}

function blocksCard() {
  const first = state.seenHeights.size === 0;
  const rows = state.blocks.map((b) =>
    h(
      'tr',
      { 'data-height': b.height, class: first || state.seenHeights.has(b.height) ? undefined : 'fresh' },
      h('td', { class: 'num' }, blockLink(b.height)),
      h('td', {}, h('a', { href: `#/block/${b.hash}`, class: 'mono', title: b.hash }, short(b.hash, 16))),
      h('td', { class: 'num' }, b.txCount),
      h('td', { class: 'num' }, b.txCount === 0 ? '—' : `${b.valid}/${b.txCount}`),
      h('td', { class: 'muted' }, time(b.timestampMs)),
    ),
  );
  for (const b of state.blocks) state.seenHeights.add(b.height);
  return card(
    'Latest blocks',
    'blocks-card',
    table(
      'blocks-table',
      ['height', 'hash', 'txs', 'valid', 'time (UTC)'],
      rows,
      state.errors.blocks ?? 'loading…',
    ),
  );
}

function contractsCard() {
  const rows = (state.contracts ?? []).map((c) =>
    h(
      'tr',
      { 'data-contract': c.name },
      h('td', {}, c.name),
      h('td', {}, c.version),
      h('td', { class: 'mono', title: c.codeHash }, short(c.codeHash)),
      h(
        'td',
        {},
        c.endorsementPolicy === null ? 'network default' : h('code', {}, JSON.stringify(c.endorsementPolicy)),
      ),
      h('td', { class: 'num' }, blockLink(c.deployedAt.height)),
    ),
  );
  return card(
    'Contracts',
    'contracts-card',
    table(
      'contracts-table',
      ['name', 'version', 'code', 'endorsement policy', 'block'],
      rows,
      state.errors.contracts ??
        (state.contracts === null ? 'loading…' : 'none deployed (orderers keep no state)'),
    ),
  );
}

/** Rates and latencies between consecutive /metrics samples. */
function series() {
  const tx = [];
  const blocks = [];
  const latency = [];
  for (let i = 1; i < state.samples.length; i++) {
    const a = state.samples[i - 1];
    const b = state.samples[i];
    const dt = (b.t - a.t) / 1000;
    if (dt <= 0) continue;
    tx.push(Math.max(0, b.tx - a.tx) / dt);
    blocks.push(Math.max(0, b.blocks - a.blocks) / dt);
    const count = b.latCount - a.latCount;
    if (count > 0) latency.push(((b.latSum - a.latSum) / count) * 1000);
    else if (b.blockLatencies.length > 0)
      latency.push(b.blockLatencies.reduce((s, x) => s + x, 0) / b.blockLatencies.length);
    else latency.push(null);
  }
  return { tx, blocks, latency };
}

function sparkline(label, values, unit, digits) {
  const width = 260;
  const height = 44;
  const pad = 3;
  const known = values.filter((v) => v !== null);
  const max = Math.max(1e-9, ...known);
  const graph = svg('svg', {
    class: 'spark',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: 'none',
    role: 'img',
    'aria-label': label,
  });
  graph.append(svg('line', { x1: 0, y1: height - pad, x2: width, y2: height - pad, class: 'axis' }));
  const step = (width - 2 * pad) / Math.max(1, SAMPLES_MAX - 2);
  const x0 = width - pad - (values.length - 1) * step;
  let segment = [];
  const flush = () => {
    if (segment.length === 1) {
      const [x, y] = segment[0].split(',').map(Number);
      graph.append(svg('line', { x1: x - 2, y1: y, x2: x + 2, y2: y, class: 'line' }));
    } else if (segment.length > 1) {
      graph.append(svg('polyline', { points: segment.join(' '), class: 'line' }));
    }
    segment = [];
  };
  values.forEach((v, i) => {
    if (v === null) return flush();
    const x = x0 + i * step;
    const y = height - pad - (v / max) * (height - 2 * pad);
    segment.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  flush();
  const last = [...values].reverse().find((v) => v !== null);
  return h(
    'div',
    { class: 'sparkline', 'data-series': label },
    h(
      'div',
      { class: 'spark-head' },
      h('span', {}, label),
      h(
        'span',
        { class: 'spark-value' },
        last === undefined ? '—' : `${last.toFixed(digits)} ${unit}`,
        known.length > 0 ? h('span', { class: 'muted' }, ` (max ${max.toFixed(digits)})`) : null,
      ),
    ),
    graph,
  );
}

function activityCard() {
  const s = series();
  return card(
    'Activity',
    'activity-card',
    sparkline('transactions', s.tx, 'tx/s', 1),
    sparkline('blocks', s.blocks, 'blocks/s', 2),
    sparkline('latency', s.latency, 'ms', 0),
    h(
      'p',
      { class: 'muted small' },
      `From this node's /metrics every ${METRICS_SAMPLE_MS / 1000}s (chainnode_transactions_total, chainnode_blocks_total); ` +
        'latency is the gateway submit latency when this peer records it, else the time from a block being proposed to its event here.',
    ),
  );
}

function renderHome() {
  const view = document.getElementById('view');
  view.replaceChildren(
    h(
      'div',
      { class: 'home' },
      networkCard(),
      h(
        'div',
        { class: 'columns' },
        blocksCard(),
        h('div', { class: 'side' }, activityCard(), contractsCard()),
      ),
    ),
  );
}

const onHome = () => route().name === 'home';

// ---------------------------------------------------------------- background refresh

async function refreshNetwork() {
  try {
    const [status, network] = await Promise.all([api('/status'), api('/network')]);
    state.status = status;
    state.network = network;
    delete state.errors.network;
    if (state.latest?.header?.height !== status.height) state.latest = await api('/blocks/latest');
    document.getElementById('where').textContent =
      `${network.networkId} · ${status.name} · height ${status.height}`;
  } catch (e) {
    state.errors.network = `cannot read the network: ${e.message}`;
  }
  if (onHome()) replace('network-card', networkCard());
}

async function refreshBlocks() {
  try {
    state.blocks = await api(`/blocks?limit=${BLOCKS_SHOWN}`);
    delete state.errors.blocks;
  } catch (e) {
    state.errors.blocks = `cannot read blocks: ${e.message}`;
  }
  if (onHome()) replace('blocks-card', blocksCard());
}

async function refreshContracts() {
  try {
    state.contracts = await api('/contracts');
    delete state.errors.contracts;
  } catch (e) {
    state.errors.contracts = `cannot read contracts: ${e.message}`;
  }
  if (onHome()) replace('contracts-card', contractsCard());
}

function parseMetrics(text) {
  const out = { tx: 0, blocks: 0, latSum: 0, latCount: 0 };
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const value = Number(m[2]);
    if (!Number.isFinite(value)) continue;
    if (m[1] === 'chainnode_transactions_total') out.tx += value;
    else if (m[1] === 'chainnode_blocks_total') out.blocks += value;
    else if (m[1] === 'chainnode_submit_seconds_sum') out.latSum += value;
    else if (m[1] === 'chainnode_submit_seconds_count') out.latCount += value;
  }
  return out;
}

async function sampleMetrics() {
  try {
    const res = await fetch('/metrics', { cache: 'no-store' });
    if (!res.ok) throw new Error(`${res.status}`);
    const sample = { t: Date.now(), ...parseMetrics(await res.text()), blockLatencies: state.blockLatencies };
    state.blockLatencies = [];
    state.samples.push(sample);
    if (state.samples.length > SAMPLES_MAX) state.samples.shift();
  } catch {
    // a missed sample leaves a gap; the next one continues the series
  }
  if (onHome()) replace('activity-card', activityCard());
}

let blocksTimer = null;
function scheduleBlocks() {
  if (blocksTimer !== null) return;
  blocksTimer = setTimeout(() => {
    blocksTimer = null;
    void refreshBlocks();
    void refreshNetwork();
  }, 100);
}

function connectEvents() {
  const live = document.getElementById('live');
  const events = new EventSource('/events');
  events.addEventListener('hello', (e) => {
    state.liveHeight = JSON.parse(e.data).height;
    live.textContent = `live · height ${state.liveHeight}`;
    live.className = 'live on';
    scheduleBlocks();
  });
  events.addEventListener('block', (e) => {
    const block = JSON.parse(e.data);
    state.liveHeight = block.height;
    state.blockLatencies.push(Math.max(0, Date.now() - block.timestampMs));
    live.textContent = `live · height ${block.height}`;
    live.className = 'live on';
    if (block.transactions.some((t) => t.validation === 'VALID')) void refreshContracts();
    scheduleBlocks();
  });
  events.addEventListener('error', () => {
    live.textContent = 'reconnecting…';
    live.className = 'live off';
  });
}

// ---------------------------------------------------------------- block and transaction pages

function blockPage(b) {
  const height = b.header.height;
  const cert = b.commitCertificate;
  return h(
    'div',
    { id: 'block-view', 'data-height': height },
    h(
      'nav',
      { class: 'crumbs' },
      h('a', { href: '#/' }, 'home'),
      ' / block ',
      String(height),
      h(
        'span',
        { class: 'pager' },
        height > 0 ? blockLink(height - 1, `← ${height - 1}`) : null,
        ' ',
        blockLink(height + 1, `${height + 1} →`),
      ),
    ),
    card(
      `Block ${height}`,
      'block-header',
      dl([
        ['hash', hash(b.hash)],
        [
          'previous',
          height > 0
            ? h('a', { href: `#/block/${b.header.prevHash}` }, hash(b.header.prevHash))
            : hash(b.header.prevHash),
        ],
        ['data hash (Merkle root)', hash(b.header.dataHash)],
        ['time', time(b.header.timestampMs)],
        ['committed here', b.createdAt ?? '—'],
        ['proposer', b.header.proposer],
        ['transactions', b.header.txCount],
        ['protocol version', b.header.version],
      ]),
    ),
    card(
      'Commit certificate',
      'block-certificate',
      cert === null || cert === undefined
        ? h('p', { class: 'muted' }, 'none (the genesis block is approved by the org admins instead)')
        : [
            dl([
              ['view', cert.view],
              ['signatures', `${cert.signatures.length} orderer signatures (2f+1 needed)`],
            ]),
            table(
              'signers-table',
              ['signer', 'signature'],
              cert.signatures.map((s) =>
                h(
                  'tr',
                  {},
                  h('td', {}, s.signer),
                  h('td', { class: 'mono small', title: s.signature }, short(s.signature, 48)),
                ),
              ),
            ),
          ],
    ),
    card(
      'Transactions',
      'block-transactions',
      table(
        'block-tx-table',
        ['#', 'transaction', 'type', 'call', 'creator', 'validation'],
        b.transactions.map((t, i) =>
          h(
            'tr',
            { 'data-tx': t.txId },
            h('td', { class: 'num' }, i),
            h('td', {}, txLink(t.txId, 24)),
            h('td', {}, t.type),
            h('td', {}, t.contract ? h('code', {}, `${t.contract}.${t.fn}`) : '—'),
            h('td', {}, t.creator),
            h('td', {}, badge(t.validation)),
          ),
        ),
        'no transactions',
      ),
    ),
  );
}

function identityText(identity) {
  return identity?.org ?? '—';
}

function txPage(tx) {
  const p = tx.envelope.payload;
  const sections = [];
  if (p.type === 'invoke') {
    const prop = p.proposal;
    const resp = p.response;
    sections.push(
      card(
        'Proposal',
        'tx-proposal',
        dl([
          ['contract', h('code', {}, prop.contract)],
          ['function', h('code', {}, prop.fn)],
          [
            'arguments',
            prop.args.length === 0
              ? '—'
              : h(
                  'ol',
                  { class: 'args' },
                  prop.args.map((a) => h('li', { class: 'mono' }, a)),
                ),
          ],
          ['creator', identityText(prop.creator)],
          ['time', time(prop.timestampMs)],
          ['nonce', h('span', { class: 'mono small' }, prop.nonce)],
          ['proposal hash', hash(resp.proposalHash)],
        ]),
      ),
      card(
        'Endorsements',
        'tx-endorsements',
        table(
          'endorsements-table',
          ['endorser org', 'signature'],
          p.endorsements.map((e) =>
            h(
              'tr',
              {},
              h('td', {}, identityText(e.endorser)),
              h('td', { class: 'mono small', title: e.signature }, short(e.signature, 48)),
            ),
          ),
        ),
      ),
      card(
        'Read/write set',
        'tx-rwset',
        h('h3', {}, `Reads (${resp.rwset.reads.length})`),
        table(
          'reads-table',
          ['namespace', 'key', 'version read'],
          resp.rwset.reads.map((r) =>
            h(
              'tr',
              {},
              h('td', {}, r.ns),
              h('td', { class: 'mono' }, r.key),
              h(
                'td',
                {},
                r.version === null
                  ? h('em', {}, 'absent')
                  : [blockLink(r.version.height), `:${r.version.txIndex}`],
              ),
            ),
          ),
          'no reads',
        ),
        h('h3', {}, `Writes (${resp.rwset.writes.length})`),
        table(
          'writes-table',
          ['namespace', 'key', 'value'],
          resp.rwset.writes.map((w) =>
            h(
              'tr',
              {},
              h('td', {}, w.ns),
              h('td', { class: 'mono' }, short(w.key, 40)),
              h('td', { class: 'value' }, decodeValue(w.value)),
            ),
          ),
          'no writes',
        ),
      ),
      card(
        'Result',
        'tx-result',
        dl([
          ['validation', badge(tx.validation)],
          [
            'return value',
            resp.result === '' ? h('em', {}, 'empty') : h('span', { class: 'mono' }, resp.result),
          ],
          [
            'events',
            resp.events.length === 0
              ? '—'
              : resp.events.map((e) => h('div', { class: 'mono small' }, `${e.name}: ${e.payload}`)),
          ],
        ]),
      ),
    );
  } else {
    sections.push(
      card(
        'Configuration change',
        'tx-config',
        dl([
          ['creator', identityText(p.creator)],
          ['sequence', p.config.sequence],
          ['orderers', p.config.orderers.map((o) => o.name).join(', ')],
          ['peers', p.config.peers.map((o) => o.name).join(', ')],
          ['approved by', p.approvals.map((a) => identityText(a.signer)).join(', ')],
        ]),
      ),
    );
  }
  return h(
    'div',
    { id: 'tx-view', 'data-tx': tx.txId },
    h(
      'nav',
      { class: 'crumbs' },
      h('a', { href: '#/' }, 'home'),
      ' / ',
      blockLink(tx.height, `block ${tx.height}`),
      ' / transaction',
    ),
    card(
      'Transaction',
      'tx-summary',
      dl([
        ['id', hash(tx.txId)],
        ['block', [blockLink(tx.height), ` (index ${tx.txIndex})`]],
        ['type', p.type],
        ['validation', badge(tx.validation)],
        [
          'creator signature',
          h('span', { class: 'mono small', title: tx.envelope.signature }, short(tx.envelope.signature, 48)),
        ],
        tx.proof
          ? [
              'inclusion proof',
              `${tx.proof.path.length} Merkle path hashes to data hash ${short(tx.proof.dataHash ?? tx.proof.header.dataHash)}`,
            ]
          : null,
      ]),
    ),
    sections,
    h(
      'details',
      { class: 'card raw' },
      h('summary', {}, 'raw JSON'),
      h('pre', {}, JSON.stringify(tx, null, 2)),
    ),
  );
}

function message(text, kind = 'muted') {
  return h('div', { class: `card message ${kind}`, id: 'message' }, text);
}

// ---------------------------------------------------------------- routing

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'block' && parts[1]) return { name: 'block', id: parts[1] };
  if (parts[0] === 'tx' && parts[1]) return { name: 'tx', id: parts[1] };
  if (parts[0] === 'search' && parts[1] !== undefined) return { name: 'search', q: parts.slice(1).join('/') };
  return { name: 'home' };
}

let renderSeq = 0;

async function render() {
  const seq = ++renderSeq;
  const view = document.getElementById('view');
  const r = route();
  const show = (node) => {
    if (seq === renderSeq) view.replaceChildren(node);
  };
  if (r.name === 'home') {
    renderHome();
    return;
  }
  show(message('loading…'));
  try {
    if (r.name === 'block') show(blockPage(await api(`/blocks/${encodeURIComponent(r.id)}`)));
    else if (r.name === 'tx') show(txPage(await api(`/transactions/${encodeURIComponent(r.id)}`)));
    else await search(r.q, show);
  } catch (e) {
    show(
      message(
        e.status === 404 ? `Not found: ${e.message.replace(/^404 /, '')}` : `Error: ${e.message}`,
        'error',
      ),
    );
  }
}

/** Block height, block hash or transaction id; a 64-hex id is tried as a transaction first. */
async function search(raw, show) {
  const q = raw.trim().toLowerCase();
  if (/^\d+$/.test(q)) {
    history.replaceState(null, '', `#/block/${q}`);
    show(blockPage(await api(`/blocks/${q}`)));
    return;
  }
  if (!HEX64.test(q)) {
    show(message(`"${raw}" is neither a block height nor a 64-hex block hash or transaction id`, 'error'));
    return;
  }
  try {
    const tx = await api(`/transactions/${q}`);
    history.replaceState(null, '', `#/tx/${q}`);
    show(txPage(tx));
    return;
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  const block = await api(`/blocks/${q}`);
  history.replaceState(null, '', `#/block/${q}`);
  show(blockPage(block));
}

function start() {
  const form = document.getElementById('search');
  const input = document.getElementById('search-input');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (q !== '') location.hash = `#/search/${encodeURIComponent(q)}`;
  });
  window.addEventListener('hashchange', () => void render());
  void render();
  void refreshNetwork();
  void refreshBlocks();
  void refreshContracts();
  void sampleMetrics();
  connectEvents();
  setInterval(() => void refreshNetwork(), POLL_MS);
  setInterval(() => void sampleMetrics(), METRICS_SAMPLE_MS);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
