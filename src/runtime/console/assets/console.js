// passerelle status page and dead-letter console. Plain DOM, no framework; every value from the
// server is set with textContent (message payloads are untrusted data, never HTML).
'use strict';

const TOKEN_KEY = 'passerelle-admin-token';
const SERIES = [
  { key: 'received', label: 'received', stroke: '#2e90fa' },
  { key: 'delivered', label: 'delivered', stroke: '#12b76a' },
  { key: 'filtered', label: 'filtered', stroke: '#98a2b3' },
  { key: 'deadLettered', label: 'dead-lettered', stroke: '#f04438' },
  { key: 'dropped', label: 'dropped', stroke: '#f79009' },
];
const cards = new Map();
const tokenInput = document.getElementById('token');
tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || '';
tokenInput.addEventListener('change', () => {
  sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
  refresh();
  loadDeadLetters();
});

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) node.append(child);
  return node;
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (tokenInput.value) headers.authorization = `Bearer ${tokenInput.value}`;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function showBanner(text) {
  const banner = document.getElementById('banner');
  banner.hidden = !text;
  banner.textContent = text || '';
}

function fmtRate(n) {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function card(name) {
  let c = cards.get(name);
  if (c) return c;
  const title = el('h2', {}, el('span', { textContent: name }));
  const state = el('span', { className: 'badge' });
  title.append(state);
  const delivery = el('div', { className: 'muted' });
  const totals = el('div', { className: 'totals' });
  const components = el(
    'table',
    { className: 'components' },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        ...['component', 'type', 'state', 'outbox', 'last error'].map((h) => el('th', { textContent: h })),
      ),
    ),
    el('tbody'),
  );
  const chartBox = el('div', { className: 'chart' });
  const recent = el('div');
  const left = el('div', {}, delivery, totals, components);
  const right = el('div', {}, chartBox);
  const root = el(
    'article',
    { className: 'card', id: `pipeline-${name}` },
    title,
    el('div', { className: 'grid' }, left, right),
    el('h3', { textContent: 'Last messages (after transforms)' }),
    recent,
  );
  root.dataset.pipeline = name;
  document.getElementById('pipelines').append(root);
  const plot = new uPlot(
    {
      width: Math.max(320, chartBox.clientWidth || 480),
      height: 180,
      scales: { x: { time: true } },
      axes: [{}, { label: 'msg/s', size: 50 }],
      series: [
        {},
        ...SERIES.map((s) => ({ label: s.label, stroke: s.stroke, width: 1.5, points: { show: false } })),
      ],
    },
    [[], ...SERIES.map(() => [])],
    chartBox,
  );
  c = { root, state, delivery, totals, components, recent, plot, chartBox };
  cards.set(name, c);
  return c;
}

function render(overview) {
  document.getElementById('info').textContent =
    `${overview.version || ''} · outbox ${overview.outbox || '?'} · started ${overview.startedAt || ''}`;
  const select = document.getElementById('dlq-pipeline');
  const names = overview.pipelines.map((p) => p.name);
  if (
    [...select.options]
      .slice(1)
      .map((o) => o.value)
      .join() !== names.join()
  ) {
    const current = select.value;
    select.replaceChildren(
      el('option', { value: '', textContent: 'all' }),
      ...names.map((n) => el('option', { value: n, textContent: n })),
    );
    select.value = current;
  }
  for (const p of overview.pipelines) {
    const c = card(p.name);
    c.root.dataset.state = p.state;
    c.state.textContent = p.state;
    c.state.className = `badge ${p.state}`;
    c.delivery.textContent = `delivery: ${Object.entries(p.delivery)
      .map(([sink, g]) => `${sink} ${g}`)
      .join(', ')} · in flight ${p.inFlight}`;
    const last = p.rates.points.at(-1);
    c.totals.replaceChildren(
      ...SERIES.map((s) => {
        const box = el(
          'div',
          {},
          el('b', { textContent: String(Math.round(p.rates.totals[s.key])) }),
          el('span', {
            className: 'muted',
            textContent: `${s.label} · ${fmtRate(last ? last.rates[s.key] : 0)}/s`,
          }),
        );
        box.dataset.series = s.key;
        return box;
      }),
    );
    const body = c.components.tBodies[0];
    body.replaceChildren(
      ...p.components.map((comp) => {
        const ob = p.outboxes[comp.component];
        return el(
          'tr',
          {},
          el('td', { textContent: comp.component }),
          el('td', { textContent: comp.type }),
          el('td', {}, el('span', { className: `badge ${comp.state}`, textContent: comp.state })),
          el('td', { textContent: ob ? `${ob.depth} queued` : '' }),
          el('td', {
            className: 'error',
            textContent: comp.lastError
              ? `${new Date(comp.lastError.time).toLocaleTimeString()} ${comp.lastError.message}`
              : '',
          }),
        );
      }),
    );
    const xs = p.rates.points.map((pt) => pt.t / 1000);
    c.plot.setData([xs, ...SERIES.map((s) => p.rates.points.map((pt) => pt.rates[s.key]))]);
    const width = c.chartBox.clientWidth;
    if (width && Math.abs(width - c.plot.width) > 20) c.plot.setSize({ width, height: 180 });
    c.recent.replaceChildren(
      ...p.recent
        .slice(-5)
        .reverse()
        .map((m) =>
          el('pre', {
            textContent: `${new Date(m.time).toISOString()}  ${JSON.stringify(m.meta)}\n${JSON.stringify(m.payload)}`,
          }),
        ),
    );
  }
}

async function refresh() {
  try {
    render(await api('/api/overview'));
    showBanner('');
  } catch (error) {
    showBanner(`Status unavailable: ${error.message}`);
  }
}

// Dead letters
const dlqBody = document.querySelector('#dlq-table tbody');
const dlqResult = document.getElementById('dlq-result');
const replayButton = document.getElementById('dlq-replay');
const purgeButton = document.getElementById('dlq-purge');

// Kept across the periodic reloads of the list, so a reload never drops what the user ticked.
const selected = new Set();

function selectedIds() {
  return [...dlqBody.querySelectorAll('input[type=checkbox]')]
    .filter((box) => selected.has(box.value))
    .map((box) => box.value);
}

function updateButtons() {
  const none = selectedIds().length === 0;
  replayButton.disabled = none;
  purgeButton.disabled = none;
}

async function loadDeadLetters() {
  const params = new URLSearchParams({ limit: '200' });
  const pipeline = document.getElementById('dlq-pipeline').value;
  const reason = document.getElementById('dlq-reason').value;
  if (pipeline) params.set('pipeline', pipeline);
  if (reason) params.set('reason', reason);
  try {
    const { total, items } = await api(`/api/dead-letters?${params}`);
    document.getElementById('dlq-total').textContent = `(${total})`;
    dlqBody.replaceChildren(
      ...items.map((d) => {
        const box = el('input', { type: 'checkbox', value: d.id, checked: selected.has(d.id) });
        box.addEventListener('click', (event) => event.stopPropagation());
        box.addEventListener('change', () => {
          if (box.checked) selected.add(d.id);
          else selected.delete(d.id);
          updateButtons();
        });
        const row = el(
          'tr',
          {},
          el('td', {}, box),
          el('td', { textContent: new Date(d.time).toLocaleString() }),
          el('td', { textContent: d.pipeline }),
          el('td', { textContent: d.stage }),
          el('td', { textContent: d.reason }),
          el('td', { className: 'preview', textContent: d.preview, title: d.preview }),
        );
        row.dataset.id = d.id;
        row.addEventListener('click', () => showDeadLetter(d.id));
        return row;
      }),
    );
    document.getElementById('dlq-all').checked = false;
    updateButtons();
  } catch (error) {
    dlqResult.textContent = `Dead letters unavailable: ${error.message}`;
  }
}

async function showDeadLetter(id) {
  try {
    const entry = await api(`/api/dead-letters/${encodeURIComponent(id)}`);
    document.getElementById('dlq-detail-id').textContent = id;
    document.getElementById('dlq-detail-body').textContent = JSON.stringify(entry, null, 2);
    document.getElementById('dlq-detail').showModal();
  } catch (error) {
    dlqResult.textContent = error.message;
  }
}

async function act(action) {
  const ids = selectedIds();
  if (ids.length === 0) return;
  if (action === 'purge' && !confirm(`Delete ${ids.length} dead letter(s) for good?`)) return;
  try {
    const result = await api(`/api/dead-letters/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ids }),
    });
    for (const id of ids) selected.delete(id);
    dlqResult.textContent =
      action === 'replay'
        ? [
            `Replay requested for ${result.replayed} dead letter(s).`,
            ...(result.refused ?? []).map((r) => `Not replayed: ${r.id}: ${r.reason}`),
          ].join('\n')
        : `Purged ${result.purged} dead letter(s).`;
    await loadDeadLetters();
  } catch (error) {
    dlqResult.textContent = `${action} failed: ${error.message}`;
  }
}

replayButton.addEventListener('click', () => act('replay'));
purgeButton.addEventListener('click', () => act('purge'));
document.getElementById('dlq-all').addEventListener('change', (event) => {
  for (const box of dlqBody.querySelectorAll('input[type=checkbox]')) {
    box.checked = event.target.checked;
    if (box.checked) selected.add(box.value);
    else selected.delete(box.value);
  }
  updateButtons();
});
document.getElementById('dlq-filter').addEventListener('submit', (event) => {
  event.preventDefault();
  loadDeadLetters();
});

refresh();
loadDeadLetters();
setInterval(refresh, 2000);
setInterval(() => {
  if (selectedIds().length === 0 && !document.getElementById('dlq-detail').open) loadDeadLetters();
}, 5000);
