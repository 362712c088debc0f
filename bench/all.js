// `npm run bench`: every benchmark suite, one after the other (never in parallel: they measure CPU
// and memory). BENCH_SUITES picks some, e.g. `BENCH_SUITES=transforms,influxdb npm run bench`.
// Each suite is a script that runs alone too (`node bench/<suite>.js` after `npm run build`) and
// writes its own section of docs/benchmarks.md; see bench/README.md for their settings.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SUITES = {
  relay: 'run.js',
  transforms: 'transforms.js',
  'flow-transforms': 'flow-transforms.js',
  opcua: 'opcua.js',
  chirpstack: 'chirpstack.js',
  influxdb: 'influxdb.js',
  excel: 'excel.js',
  'google-sheets': 'google-sheets.js',
  sparkplug: 'sparkplug.js',
};

const wanted = (process.env.BENCH_SUITES ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const unknown = wanted.filter((s) => !(s in SUITES));
if (unknown.length > 0) {
  console.error(`unknown suite(s) ${unknown.join(', ')}; known: ${Object.keys(SUITES).join(', ')}`);
  process.exit(2);
}
const failed = [];
for (const [suite, file] of Object.entries(SUITES)) {
  if (wanted.length > 0 && !wanted.includes(suite)) continue;
  const script = fileURLToPath(new URL(file, import.meta.url));
  if (!existsSync(script)) continue;
  console.log(`\n=== bench ${suite} (${file})`);
  const started = Date.now();
  // `npm run bench -- --no-write`: every suite in development mode (prints, never writes).
  const extra = process.argv.includes('--no-write') ? ['--no-write'] : [];
  const result = spawnSync(process.execPath, ['--expose-gc', script, ...extra], { stdio: 'inherit' });
  console.log(
    `=== bench ${suite}: exit ${result.status} after ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  // Exit code 3: the suite refused to write its section (busy machine, uncommitted code).
  if (result.status !== 0) failed.push(result.status === 3 ? `${suite} (refused to write)` : suite);
}
if (failed.length > 0) {
  console.error(`failed: ${failed.join(', ')}`);
  process.exit(1);
}
