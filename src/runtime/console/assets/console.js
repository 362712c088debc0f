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

function pad(n) {
  return String(n).padStart(2, '0');
}

/** The one time format of the page: local time with its UTC offset, e.g. 2026-12-05 12:34:56 +01:00. */
function localTime(ms) {
  const d = new Date(ms);
  const offset = -d.getTimezoneOffset();
  const abs = Math.abs(offset);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ` +
    `${offset >= 0 ? '+' : '-'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** A <time> showing local time, with the ISO (UTC) form on hover. */
function timeEl(ms) {
  const value = typeof ms === 'string' ? Date.parse(ms) : ms;
  if (!Number.isFinite(value)) return el('span', { textContent: '—' });
  const iso = new Date(value).toISOString();
  return el('time', { dateTime: iso, title: iso, textContent: localTime(value) });
}

function fmtDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** Message data, pretty-printed (always shown as text, never as HTML). */
function pretty(value) {
  if (typeof value === 'string') return value;
  const text = JSON.stringify(value, null, 2);
  return text === undefined ? String(value) : text;
}

const KEY_LABELS = {
  'opcua.nodeId': 'OPC UA node',
  'chirpstack.devEui': 'LoRaWAN device',
  'mqtt.topic': 'MQTT topic',
  'simulator.device': 'simulated device',
};

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
  const scope = el('div', { className: 'muted scope' });
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
  // Scheduled pipelines only (docs/scheduling.md): when it runs, and how its last run went.
  const schedule = el('table', { className: 'schedule', hidden: true }, el('tbody'));
  const chartBox = el('div', { className: 'chart' });
  const recent = el('div', { className: 'recent' });
  const current = el(
    'table',
    { className: 'current' },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        ...['key', 'last value', 'quality', 'age', 'rate'].map((h) => el('th', { textContent: h })),
      ),
    ),
    el('tbody'),
  );
  const currentNote = el('p', { className: 'muted' });
  const replicaTable = el(
    'table',
    { className: 'replicas' },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        ...['replica', ...SERIES.map((s) => s.label), 'shared at'].map((h) => el('th', { textContent: h })),
      ),
    ),
    el('tbody'),
  );
  const replicas = el(
    'div',
    { className: 'replicas', hidden: true },
    el('h3', { textContent: 'All replicas (through Redis)' }),
    el('div', { className: 'scroll-x' }, replicaTable),
  );
  const left = el('div', {}, delivery, scope, schedule, totals, components);
  const right = el('div', {}, chartBox);
  const root = el(
    'article',
    { className: 'card', id: `pipeline-${name}` },
    title,
    el('div', { className: 'grid' }, left, right),
    replicas,
    el('h3', { textContent: 'Current values (after transforms)' }),
    currentNote,
    el('div', { className: 'scroll-y' }, current),
    el('h3', { textContent: 'Last messages (after transforms)' }),
    recent,
  );
  root.dataset.pipeline = name;
  document.getElementById('pipelines').append(root);
  const plot = new uPlot(
    {
      width: Math.max(200, chartBox.clientWidth || 480),
      height: 180,
      scales: { x: { time: true } },
      // The page's one time format: local time (the offset is in the legend and everywhere else).
      axes: [
        { values: (u, splits) => splits.map((t) => localTime(t * 1000).slice(11, 19)) },
        { label: 'msg/s', size: 50 },
      ],
      series: [
        { label: 'time', value: (u, t) => (t == null ? '--' : localTime(t * 1000)) },
        ...SERIES.map((s) => ({ label: s.label, stroke: s.stroke, width: 1.5, points: { show: false } })),
      ],
    },
    [[], ...SERIES.map(() => [])],
    chartBox,
  );
  // The chart follows its box: the page is read on wide screens, laptops and phones.
  new ResizeObserver(() => {
    const width = chartBox.clientWidth;
    if (width > 0 && Math.abs(width - plot.width) > 2) plot.setSize({ width, height: 180 });
  }).observe(chartBox);
  c = {
    root,
    state,
    delivery,
    scope,
    schedule,
    totals,
    components,
    recent,
    current,
    currentNote,
    replicas,
    replicaTable,
    plot,
    chartBox,
  };
  cards.set(name, c);
  return c;
}

let actionsEnabled = true;

function healthItem(id, state, ...parts) {
  const node = document.getElementById(id);
  node.dataset.state = state;
  node.replaceChildren(...parts);
}

function renderHealth(o) {
  healthItem('health-uptime', 'ok', `Up ${fmtDuration(o.uptimeSeconds || 0)}, since `, timeEl(o.startedAt));
  const redis = o.redis || { state: 'none' };
  if (o.outbox !== 'redis')
    healthItem(
      'health-redis',
      'warn',
      'No Redis: memory outbox (queued messages are lost on a restart; one replica only)',
    );
  else if (redis.state === 'connected') healthItem('health-redis', 'ok', 'Redis connected');
  else
    healthItem(
      'health-redis',
      'bad',
      `Redis ${redis.state}${redis.error ? `: ${redis.error}` : ''} (messages wait at the sources)`,
    );
  const reload = o.reload || { state: 'none' };
  if (reload.state === 'refused')
    healthItem(
      'health-reload',
      'bad',
      'Configuration reload failed at ',
      timeEl(reload.at),
      `: ${reload.error}. The pipelines run on with the previous configuration (invalid since `,
      timeEl(reload.invalidSince),
      ').',
    );
  else if (reload.state === 'ok' && reload.validAgainAt)
    healthItem(
      'health-reload',
      'ok',
      'Configuration valid again since ',
      timeEl(reload.validAgainAt),
      ', last reload ',
      timeEl(reload.at),
    );
  else if (reload.state === 'ok')
    healthItem('health-reload', 'ok', 'Configuration reloaded at ', timeEl(reload.at));
  else healthItem('health-reload', 'ok', 'Configuration as started');
  healthItem('health-replica', 'ok', `Replica ${o.replica || '?'}`);
}

function render(overview) {
  document.getElementById('info').textContent =
    `${overview.version || ''} · outbox ${overview.outbox || '?'}`;
  renderHealth(overview);
  actionsEnabled = Boolean(overview.auth && overview.auth.actions);
  updateButtons();
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
    c.scope.replaceChildren(
      `Counted by this replica (${overview.replica || '?'}) since its start `,
      timeEl(overview.startedAt),
      overview.outbox === 'redis'
        ? '; each replica counts its own (one may deliver what another received): all replicas below.'
        : '',
    );
    renderSchedule(c, p.schedule);
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
          el(
            'td',
            { className: 'error' },
            ...(comp.lastError ? [timeEl(comp.lastError.time), ` ${comp.lastError.message}`] : []),
          ),
        );
      }),
    );
    const xs = p.rates.points.map((pt) => pt.t / 1000);
    c.plot.setData([xs, ...SERIES.map((s) => p.rates.points.map((pt) => pt.rates[s.key]))]);
    const shared = renderReplicas(c, p.name, overview);
    renderCurrent(c, shared ? shared.current : p.current, overview.replica, shared ? shared.count : 0);
    c.recent.replaceChildren(
      ...p.recent
        .slice(-5)
        .reverse()
        .map((m) =>
          el(
            'div',
            { className: 'message' },
            el('div', { className: 'muted' }, timeEl(m.time), `  ${JSON.stringify(m.meta)}`),
            el('pre', { textContent: pretty(m.payload) }),
          ),
        ),
    );
  }
}

/** A scheduled pipeline's schedule: next tick, last tick (its window), duration, rows, outcome. */
function renderSchedule(c, s) {
  c.schedule.hidden = !s;
  if (!s) return;
  const last = s.last;
  const row = (label, ...cells) => {
    const tr = el('tr', {}, el('th', { textContent: label }), el('td', {}, ...cells));
    tr.dataset.field = label.replace(/ /g, '-');
    return tr;
  };
  const rows = [
    row('schedule', `${s.description} · ticks kept in ${s.store === 'redis' ? 'Redis' : 'this process'}`),
    row('next tick', s.next === undefined ? 'stopped' : timeEl(s.next)),
  ];
  if (last) {
    const outcome = el('span', { className: `badge ${last.outcome}`, textContent: last.outcome });
    rows.push(
      row('last tick', timeEl(last.scheduledAt), last.attempt > 1 ? ` (attempt ${last.attempt})` : ''),
      row('window', timeEl(last.window.start), ' to ', timeEl(last.window.end)),
      row('duration', last.durationMs === undefined ? 'running' : fmtDuration(last.durationMs / 1000)),
      row('rows', last.rows === undefined ? '—' : String(last.rows)),
      row(
        'outcome',
        outcome,
        ...(last.error ? [el('span', { className: 'error', textContent: ` ${last.error}` })] : []),
      ),
    );
  } else rows.push(row('last tick', 'none yet'));
  if (s.missed > 0) rows.push(row('missed', `${s.missed} tick(s) missed while no replica ran`));
  c.schedule.tBodies[0].replaceChildren(...rows);
}

/**
 * With Redis, every replica's counters (each counts what it handled itself) and their sum, and the
 * current values of all replicas (the newest per key). Returns undefined with one replica only.
 */
function renderReplicas(c, pipeline, overview) {
  const all = (overview.replicas || []).filter((r) => r.pipelines && r.pipelines[pipeline]);
  c.replicas.hidden = all.length === 0;
  if (all.length === 0) return undefined;
  const sum = {};
  for (const s of SERIES) sum[s.key] = 0;
  const row = (name, totals, time, className) => {
    const tr = el(
      'tr',
      { className },
      el('td', { textContent: name }),
      ...SERIES.map((s) => el('td', { textContent: String(Math.round(totals[s.key] || 0)) })),
      el('td', {}, time === undefined ? '' : timeEl(time)),
    );
    tr.dataset.replica = name;
    return tr;
  };
  const rows = all.map((r) => {
    const totals = r.pipelines[pipeline].totals || {};
    for (const s of SERIES) sum[s.key] += totals[s.key] || 0;
    return row(r.replica === overview.replica ? `${r.replica} (this page)` : r.replica, totals, r.time, '');
  });
  c.replicaTable.tBodies[0].replaceChildren(
    ...rows,
    row(`all ${all.length} replicas`, sum, undefined, 'sum'),
  );
  const newest = new Map();
  for (const r of all)
    for (const v of r.pipelines[pipeline].current || []) {
      const known = newest.get(v.key);
      if (!known || v.time > known.time) newest.set(v.key, { ...v, replica: r.replica });
    }
  const cap = (overview.pipelines.find((p) => p.name === pipeline) || {}).current;
  return { current: { cap: cap ? cap.cap : 0, evicted: 0, values: [...newest.values()] }, count: all.length };
}

function renderCurrent(c, current, replica, replicaCount) {
  if (!current) return;
  const now = Date.now();
  const values = [...current.values].sort((a, b) => a.key.localeCompare(b.key, undefined, { numeric: true }));
  c.currentNote.textContent =
    (replicaCount > 0
      ? `${values.length} key(s) seen by ${replicaCount} replica(s), the newest value of each; every replica keeps at most ${current.cap} per pipeline`
      : `${values.length} key(s) seen by this replica (${replica || '?'}); at most ${current.cap} per pipeline are kept`) +
    (current.evicted > 0 ? `, ${current.evicted} older key(s) forgotten` : '') +
    '. Keys: OPC UA node, LoRaWAN device, MQTT topic.';
  c.current.tBodies[0].replaceChildren(
    ...values.map((v) => {
      const row = el(
        'tr',
        {},
        el(
          'td',
          { className: 'key' },
          el('div', { textContent: v.key }),
          el('div', { className: 'muted', textContent: KEY_LABELS[v.field] || v.field }),
        ),
        el('td', {}, el('pre', { textContent: pretty(v.payload) })),
        el('td', { className: `quality ${v.quality || ''}`, textContent: v.quality || '—' }),
        el(
          'td',
          { className: 'age' },
          el('div', { textContent: `${fmtDuration((now - v.time) / 1000)} ago` }),
          timeEl(v.messageTime),
          ...(v.replica ? [el('div', { className: 'muted', textContent: `via ${v.replica}` })] : []),
        ),
        el('td', { textContent: `${fmtRate(v.rate)}/s` }),
      );
      row.dataset.key = v.key;
      return row;
    }),
  );
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

/** The buttons say why they are disabled (title and the line below them). */
function updateButtons() {
  const none = selectedIds().length === 0;
  const reason = !actionsEnabled
    ? 'Replay and purge are disabled: start passerelle with an admin token (PASSERELLE_ADMIN_TOKEN or --admin-token-file).'
    : none
      ? 'Select dead letters (tick their boxes) to replay or purge them.'
      : '';
  const hint = reason || (tokenInput.value ? '' : 'Type the admin token in the header to replay or purge.');
  for (const button of [replayButton, purgeButton]) {
    button.disabled = Boolean(reason);
    button.title = reason;
  }
  const line = document.getElementById('dlq-hint');
  line.textContent = hint;
  line.hidden = !hint;
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
          el('td', { className: 'time' }, timeEl(d.time)),
          el('td', { textContent: d.pipeline }),
          el('td', { textContent: d.stage }),
          el('td', { className: 'reason', textContent: d.reason }),
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
    document.getElementById('dlq-detail-time').replaceChildren('failed at ', timeEl(entry.time));
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

updateButtons();
refresh();
loadDeadLetters();
setInterval(refresh, 2000);
setInterval(() => {
  if (selectedIds().length === 0 && !document.getElementById('dlq-detail').open) loadDeadLetters();
}, 5000);
