// Excel sink: 1,000,000 rows of 10 columns through the sink, then its final build, in this process.
// Run after `npm run build`: `node bench/excel.js` (BENCH_EXCEL_ROWS, BENCH_EXCEL_BATCH to change the load).
// Writes its figures between the bench:excel markers of docs/benchmarks.md.

import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import ExcelJS from 'exceljs';
import { QuietGuard, quietLine, renderResult, sectionHeading, verdict } from './lib/honest.js';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { ExcelSink, excelSinkConfig } = await import(join(root, 'dist/connectors/excel/index.js'));
const { noopMetrics, silentLogger } = await import(join(root, 'dist/src/sdk/index.js'));

const ROWS = Number(process.env.BENCH_EXCEL_ROWS ?? 1_000_000);
const BATCH = Number(process.env.BENCH_EXCEL_BATCH ?? 1000);
const TARGET_SECONDS = 60;
const TARGET_MB = 300;

const guard = new QuietGuard({ suite: 'excel' });
if (!(await guard.before())) process.exit(3);
const dir = mkdtempSync(join(tmpdir(), 'passerelle-bench-excel-'));
const cleanup = () => rmSync(dir, { recursive: true, force: true });
process.on('exit', cleanup);

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
const vmHwmMb = () => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? (Number(m[1]) * 1024) / 1e6 : 0;
};

// The smallest configuration (`directory` only): time first, then every payload field inferred.
const config = excelSinkConfig.parse({ directory: dir, fileName: 'bench.xlsx', rotate: 'none' });
const ctx = {
  pipeline: 'bench',
  component: 'sinks[0]',
  logger: silentLogger,
  metrics: noopMetrics,
  setState() {},
  countDropped() {},
  async deadLetter() {},
};
const sink = new ExcelSink(config, ctx, { tickEvery: 3_600_000 });
await sink.connect(AbortSignal.timeout(30_000));

const base = Date.UTC(2026, 0, 1);
const window = guard.phase(`${ROWS} rows`);
const started = performance.now();
const cpuStart = process.cpuUsage();
for (let i = 0; i < ROWS; i += BATCH) {
  const batch = [];
  for (let j = i; j < Math.min(ROWS, i + BATCH); j++) {
    batch.push({
      id: `bench-${j}`,
      time: base + j * 1000,
      meta: {},
      payload: {
        device: `dev-${j % 100}`,
        seq: j,
        temperature: 20 + (j % 100) / 10,
        humidity: 40 + (j % 37),
        pressure: 1013.25 - (j % 11),
        status: j % 50 === 0 ? 'alarm' : 'ok',
        running: j % 3 !== 0,
        battery: 3.6 - (j % 7) / 100,
        site: 'plant-north',
      },
    });
  }
  await sink.write(batch, AbortSignal.timeout(60_000));
}
const journaled = performance.now();
const cpuJournal = process.cpuUsage(cpuStart);
await sink.close(); // the final build of the file from the journal
const finished = performance.now();
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
clearInterval(sampler);
const peakMb = Math.max(peakRss / 1e6, vmHwmMb());

// Check the result with a streaming reader (not timed): every row is in the file.
const file = join(dir, 'bench.xlsx');
const bytes = statSync(file).size;
let rows = 0;
let columns = 0;
const reader = new ExcelJS.stream.xlsx.WorkbookReader(file, {
  worksheets: 'emit',
  sharedStrings: 'ignore',
  styles: 'ignore',
});
for await (const sheet of reader) {
  for await (const row of sheet) {
    if (rows === 0) columns = row.cellCount;
    rows++;
  }
}
if (rows !== ROWS + 1) throw new Error(`expected ${ROWS + 1} rows (header included), read ${rows}`);

window.stop();
const seconds = (finished - started) / 1000;
const result = {
  rows: ROWS,
  columns,
  batch: BATCH,
  journalSeconds: (journaled - started) / 1000,
  journalCpuSeconds: (cpuJournal.user + cpuJournal.system) / 1e6,
  buildSeconds: (finished - journaled) / 1000,
  seconds,
  cpuSeconds,
  peakMb,
  fileMb: bytes / 1e6,
};
console.log(JSON.stringify(result));

// The time target is a wall time: judged by the wall time only (the CPU time is shown, not judged).
const full = ROWS >= 1_000_000;
const invalid = full ? undefined : `${ROWS.toLocaleString('en')} rows, not the 1,000,000 of the target`;
const timeVerdict = renderResult(
  verdict({ measured: seconds, op: '<=', threshold: TARGET_SECONDS, kind: 'wall s', invalid }),
);
const memVerdict = renderResult(
  verdict({ measured: peakMb, op: '<=', threshold: TARGET_MB, kind: 'MB', invalid }),
);
const section = `${sectionHeading('Excel sink')}

${quietLine(guard)}

\`node bench/excel.js\` (after \`npm run build\`): ${ROWS.toLocaleString('en')} rows of ${columns} columns
(the message time, then 9 payload fields: 4 numbers with decimals, 1 integer, 3 short texts, 1 boolean)
written through the \`excel\` sink with its smallest configuration (columns inferred), in batches of
${BATCH} messages as the outbox hands them over, then \`close()\`, which builds the final .xlsx from the
journal. One process; the file is read back afterwards with exceljs's streaming reader to check the row
count (not timed).

| | wall time | CPU time (user + system) | target (wall time) |
| --- | ---: | ---: | --- |
| total (journal + final build) | ${seconds.toFixed(1)} s | ${cpuSeconds.toFixed(1)} s | ≤ ${TARGET_SECONDS} s: ${timeVerdict} |
| journaling the batches (one fdatasync per batch) | ${result.journalSeconds.toFixed(1)} s | ${result.journalCpuSeconds.toFixed(1)} s | |
| building the .xlsx from the journal | ${result.buildSeconds.toFixed(1)} s | ${(cpuSeconds - result.journalCpuSeconds).toFixed(1)} s | |

| | value | target |
| --- | --- | --- |
| peak RSS (VmHWM) | ${peakMb.toFixed(0)} MB | ≤ ${TARGET_MB} MB: ${memVerdict} |
| .xlsx size (zlib level ${config.compressionLevel}) | ${result.fileMb.toFixed(1)} MB | |

Conditions: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM,
Node.js ${process.version}, exceljs 4.4.0, temporary folder on ${tmpdir()}; load average
${loadavg()
  .map((l) => l.toFixed(2))
  .join(' / ')} (1 / 5 / 15 min) at the end of the run. MB = 10^6 bytes.`;

console.log(section);
const decision = guard.write(
  join(root, 'docs/benchmarks.md'),
  '<!-- bench:excel:start -->',
  '<!-- bench:excel:end -->',
  section,
  {
    // Smaller loads (development) are not the suite's figures: printed, not written.
    partial: ['BENCH_EXCEL_ROWS', 'BENCH_EXCEL_BATCH'].some((k) => process.env[k]),
    forceWrite: ['1', 'true', 'yes'].includes(String(process.env.BENCH_WRITE ?? '').toLowerCase()),
  },
);
cleanup();
process.exitCode = decision.write || guard.dry ? 0 : 3;
