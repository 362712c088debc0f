// Google Sheets sink: 10,000 rows per minute into one spreadsheet, sustained, within Google's default
// write quota (60 requests per minute per user, enforced by the stand-in), with the sink's defaults
// (40 writes/min, burst 10) and the recommended batching (5,000 rows or 5 s). Memory of the sink's
// process is sampled to show it stays flat. The Sheets stand-in runs in a child process, so its
// growing in-memory spreadsheet does not count.
// Run after `npm run build`: `node bench/google-sheets.js` (BENCH_SHEETS_MINUTES, default 10;
// BENCH_SHEETS_ROWS_PER_MINUTE, default 10000). Writes its figures between the bench:google-sheets
// markers of docs/benchmarks.md.

import { fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { QuietGuard, quietLine, sectionHeading } from './lib/honest.js';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { GoogleSheetsSink, googleSheetsSinkConfig } = await import(
  join(root, 'dist/connectors/google-sheets/index.js')
);
const { noopMetrics, silentLogger } = await import(join(root, 'dist/src/sdk/index.js'));
const { OAuth2Client } = await import('google-auth-library');

const guard = new QuietGuard({ suite: 'google-sheets' });
if (!(await guard.before())) process.exit(3);
const window = guard.phase('the run');
const MINUTES = Number(process.env.BENCH_SHEETS_MINUTES ?? 10);
const RATE = Number(process.env.BENCH_SHEETS_ROWS_PER_MINUTE ?? 10_000);
const BATCH_COUNT = 5000;
const BATCH_WAIT_MS = 5000;
const DEVICES = 10;

// The stand-in is TypeScript under test/: transpile it (no type check) next to a tiny runner.
const out = join(root, '.bench/sheets-stub');
mkdirSync(out, { recursive: true });
for (const name of ['server', 'a1']) {
  const source = readFileSync(join(root, `test/sheets-stub/${name}.ts`), 'utf8');
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  writeFileSync(join(out, `${name}.js`), js);
}
writeFileSync(join(out, 'package.json'), '{"type":"module"}');
writeFileSync(
  join(out, 'run.js'),
  `import { SheetsStub } from './server.js';
const stub = new SheetsStub(); // Google's defaults: 60 writes and 60 reads per minute per user
await stub.start();
const id = stub.createSpreadsheet();
process.send({ port: stub.port, id });
process.on('message', () => {
  const book = stub.spreadsheets.get(id);
  const seen = new Map();
  let rows = 0;
  for (const sheet of book.sheets) {
    const rowsOfTab = stub.values(id, sheet.title);
    const column = (rowsOfTab[0] ?? []).indexOf('seq');
    if (column < 0) continue;
    for (const row of rowsOfTab.slice(1)) {
      const key = row[column];
      if (key === null || key === undefined) continue;
      rows++;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
  }
  const writes = stub.requests.filter((r) => r.kind === 'write');
  process.send({
    rows,
    distinct: seen.size,
    duplicates: [...seen.values()].filter((n) => n > 1).length,
    tabs: book.sheets.length,
    writes: writes.length,
    status429: stub.requests.filter((r) => r.status === 429).length,
    maxWritesInAMinute: Math.max(0, ...writes.map((w) => writes.filter((x) => x.time >= w.time && x.time < w.time + 60000).length)),
    stubRssMb: process.memoryUsage().rss / 1e6,
  });
});
`,
);

const child = fork(join(out, 'run.js'), { stdio: 'inherit' });
const { port, id } = await new Promise((resolve) => child.once('message', resolve));
const ask = () =>
  new Promise((resolve) => {
    child.once('message', resolve);
    child.send('stats');
  });

const auth = new OAuth2Client();
auth.setCredentials({ access_token: 'test-token' });
const config = googleSheetsSinkConfig.parse({
  spreadsheetId: id,
  auth: { serviceAccountKey: '{}' },
  rootUrl: `http://127.0.0.1:${port}/`,
  tab: '{{ payload.device }}',
});
const ctx = {
  pipeline: 'bench',
  component: 'sinks[0]',
  logger: silentLogger,
  metrics: noopMetrics,
  setState() {},
  countDropped() {},
  async deadLetter() {},
};
const sink = new GoogleSheetsSink(config, ctx, { auth: { client: auth, account: 'bench' } });
await sink.connect(AbortSignal.timeout(30_000));

// The outbox's batching, in miniature: a batch closes at BATCH_COUNT rows or BATCH_WAIT_MS after
// its first row, and batches are written one at a time (concurrency 1), each retried until written.
const pending = [];
let current = [];
let currentOpened = 0;
let produced = 0;
let written = 0;
const latencies = [];
let writeErrors = 0;
let writing = false;

async function drain() {
  if (writing) return;
  writing = true;
  while (pending.length > 0) {
    const batch = pending.shift();
    for (;;) {
      try {
        await sink.write(batch, AbortSignal.timeout(120_000));
        break;
      } catch (error) {
        writeErrors++;
        await new Promise((r) => setTimeout(r, error.retryAfterMs ?? 1000));
      }
    }
    const now = Date.now();
    for (const m of batch) latencies.push(now - m.time);
    written += batch.length;
  }
  writing = false;
}

function seal() {
  if (current.length === 0) return;
  pending.push(current);
  current = [];
  void drain();
}

const started = Date.now();
const end = started + MINUTES * 60_000;
const memory = [];
// Produces what the rate asks for by now (timers drift on a busy machine; the rate must not).
const producer = setInterval(() => {
  const due = Math.min(Math.floor((RATE * (Date.now() - started)) / 60_000), Math.floor(RATE * MINUTES));
  while (produced < due) {
    const i = produced++;
    if (current.length === 0) currentOpened = Date.now();
    current.push({
      id: `m-${i}`,
      time: Date.now(),
      meta: {},
      payload: {
        device: `machine-${i % DEVICES}`,
        seq: `m-${i}`,
        temperature: 20 + (i % 100) / 10,
        humidity: 40 + (i % 7),
        pressure: 1 + (i % 13) / 100,
        running: i % 5 !== 0,
      },
    });
    if (current.length >= BATCH_COUNT) seal();
  }
  if (current.length > 0 && Date.now() - currentOpened >= BATCH_WAIT_MS) seal();
}, 100);
const sampler = setInterval(() => {
  globalThis.gc?.();
  memory.push({
    t: (Date.now() - started) / 1000,
    rssMb: process.memoryUsage().rss / 1e6,
    heapMb: process.memoryUsage().heapUsed / 1e6,
  });
}, 10_000);

await new Promise((resolve) => setTimeout(resolve, end - Date.now() + 200));
clearInterval(producer);
seal();
const drainStarted = Date.now();
while (writing || pending.length > 0) await new Promise((r) => setTimeout(r, 100));
const drainSeconds = (Date.now() - drainStarted) / 1000;
clearInterval(sampler);
const stats = await ask();
await sink.close();
child.kill();

latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
const firstMinute = memory.filter((m) => m.t <= 70);
const lastMinute = memory.filter((m) => m.t >= memory.at(-1).t - 60);
const avg = (list, key) => list.reduce((n, m) => n + m[key], 0) / Math.max(1, list.length);
const result = {
  minutes: MINUTES,
  produced,
  written,
  // Rows written over the load's duration (the backlog left at the end is reported apart).
  rowsPerMinute: Math.round(written / MINUTES),
  drainSeconds,
  ...stats,
  writeErrors,
  p50s: pct(50) / 1000,
  p99s: pct(99) / 1000,
  rssFirstMinuteMb: avg(firstMinute, 'rssMb'),
  rssLastMinuteMb: avg(lastMinute, 'rssMb'),
  heapFirstMinuteMb: avg(firstMinute, 'heapMb'),
  heapLastMinuteMb: avg(lastMinute, 'heapMb'),
  peakRssMb: Math.max(...memory.map((m) => m.rssMb)),
};
console.log(JSON.stringify(result, null, 2));

window.stop();
// The target is 10 minutes at 10,000 rows a minute: a shorter or lighter run judges nothing.
const full = MINUTES >= 10 && RATE >= 10_000;
const ok =
  result.rowsPerMinute >= RATE * 0.98 &&
  result.drainSeconds < 30 &&
  result.status429 === 0 &&
  result.duplicates === 0 &&
  result.distinct === produced &&
  result.maxWritesInAMinute <= 60;
const f1 = (n) => n.toFixed(1);
const section = `${sectionHeading('Google Sheets sink')}

${quietLine(guard)}

\`node bench/google-sheets.js\`: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 1e9)} GB, Node ${process.version}, load average at the end ${loadavg().map(f1).join(' ')}.
Sink with its defaults (quota 40 writes/min, burst 10, RAW) and the recommended batching (5,000 rows or 5 s, one batch at a time); ${DEVICES} tabs (\`tab: "{{ payload.device }}"\`), 7 columns; the Sheets stand-in (test/sheets-stub) in a child process, enforcing Google's default quota of 60 writes per minute per user. ${MINUTES} minute(s)${MINUTES < 10 ? ' — a shorter run than the 10 minutes of the target' : ''}.

| figure | result | target |
| --- | --- | --- |
| rows written per minute | ${result.rowsPerMinute} (${written} of ${produced} produced; backlog written ${f1(result.drainSeconds)} s after the load stopped) | ≥ ${RATE}, no growing backlog |
| write requests (in the busiest minute) | ${result.writes} (${result.maxWritesInAMinute}) | ≤ 60 per minute |
| 429 answers from the stand-in | ${result.status429} | 0 |
| duplicated / missing rows | ${result.duplicates} / ${produced - result.distinct} | 0 / 0 |
| delay message -> row written, p50 / p99 | ${f1(result.p50s)} s / ${f1(result.p99s)} s | (batching: ≤ 5 s + a write) |
| RSS first minute -> last minute (peak) | ${f1(result.rssFirstMinuteMb)} MB -> ${f1(result.rssLastMinuteMb)} MB (${f1(result.peakRssMb)} MB) | stable |
| heap used first minute -> last minute | ${f1(result.heapFirstMinuteMb)} MB -> ${f1(result.heapLastMinuteMb)} MB | stable |

${!full ? `**Not measured**: ${MINUTES} minute(s) at ${RATE} rows a minute, not the 10 minutes at 10,000 of the target.` : ok ? 'Every target holds: PASS.' : '**FAIL**: some targets missed (see the table).'}`;
console.log(section);
const decision = guard.write(
  join(root, 'docs/benchmarks.md'),
  '<!-- bench:google-sheets:start -->',
  '<!-- bench:google-sheets:end -->',
  section,
  {
    // Smaller loads (development) are not the suite's figures: printed, not written.
    partial: !full,
    forceWrite: ['1', 'true', 'yes'].includes(String(process.env.BENCH_WRITE ?? '').toLowerCase()),
  },
);
process.exit(decision.write || guard.dry ? 0 : 3);
