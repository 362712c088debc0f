// Runs the built Excel sink with few file descriptors (started under `ulimit -n` by
// descriptors.e2e.test.ts): many files at once, then every descriptor taken and given back.
// Usage: node descriptors-child.mjs <directory> <distinct file names>
import { openSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const { ExcelSink, excelSinkConfig } = await import(join(root, 'dist/connectors/excel/index.js'));
const { noopMetrics } = await import(join(root, 'dist/src/sdk/index.js'));

const [directory, namesText] = process.argv.slice(2);
const names = Number(namesText);
const say = (line) => process.stdout.write(`${line}\n`);
let state = '';
const logger = {
  debug() {},
  info() {},
  warn: (obj, msg) => say(`log ${msg} ${JSON.stringify(obj)}`),
  error: (obj, msg) => say(`log ${msg} ${JSON.stringify(obj)}`),
  child: () => logger,
};
const ctx = {
  pipeline: 'fd',
  component: 'sinks[0]',
  logger,
  metrics: noopMetrics,
  setState: (s) => {
    state = s;
    say(`state ${s}`);
  },
  countDropped() {},
  async deadLetter() {},
};
const config = excelSinkConfig.parse({ directory, fileName: 'site-{{payload.site}}', rotate: 'none' });
const sink = new ExcelSink(config, ctx, { tickEvery: 20 });
await sink.connect(AbortSignal.timeout(30_000));
let seq = 0;
const batchOf = (sites) =>
  sites.map((site) => ({
    id: `m-${++seq}`,
    time: 1_767_225_600_000 + seq,
    meta: {},
    payload: { site, n: seq },
  }));
const attempt = async (batch) => {
  try {
    await sink.write(batch, AbortSignal.timeout(30_000));
    return 'ok';
  } catch (error) {
    return `failed ${error.name}: ${error.message}`;
  }
};

// 1. Many distinct files, twice each: more files than descriptors.
const sites = Array.from({ length: names }, (_, i) => `s${i}`);
for (let round = 0; round < 2; round++)
  for (let i = 0; i < names; i += 50) say(`write ${await attempt(batchOf(sites.slice(i, i + 50)))}`);

// 2. Every descriptor taken (by something else in the process): builds and new files fail...
const hogged = [];
try {
  for (;;) hogged.push(openSync('/dev/null', 'r'));
} catch (error) {
  say(`hogged ${hogged.length} (${error.code})`);
}
await sink.flush();
const starved = batchOf(['new-1', 'new-2']);
say(`starved ${await attempt(starved)}`);

// 3. ...and everything works again once they are given back, without a restart.
for (const fd of hogged) closeSync(fd);
for (let i = 0; i < 500 && state !== 'connected'; i++) await new Promise((r) => setTimeout(r, 20));
say(`after ${state}`);
say(`retry ${await attempt(starved)}`);
await sink.flush();
await sink.close();
say('done');
