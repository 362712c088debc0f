// A service stand-in for the SIGKILL test (crash.e2e.test.ts): runs the built Excel sink and writes
// batches the way the outbox hands them over, printing `ack <last index>` once each write resolved.
// Usage: node crash-child.mjs <config json> <first index> <last index (exclusive)> <batch size>
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const { ExcelSink, excelSinkConfig } = await import(join(root, 'dist/connectors/excel/index.js'));
const { noopMetrics } = await import(join(root, 'dist/src/sdk/index.js'));

const [configJson, fromText, toText, batchText] = process.argv.slice(2);
const from = Number(fromText);
const to = Number(toText);
const batchSize = Number(batchText);
const say = (line) => process.stdout.write(`${line}\n`);
const logger = {
  debug: (_obj, msg) => say(`log ${msg}`),
  info: (_obj, msg) => say(`log ${msg}`),
  warn: (obj, msg) => say(`log ${msg} ${JSON.stringify(obj)}`),
  error: (obj, msg) => say(`log ${msg} ${JSON.stringify(obj)}`),
  child: () => logger,
};
const ctx = {
  pipeline: 'crash',
  component: 'sinks[0]',
  logger,
  metrics: noopMetrics,
  setState: (state) => say(`state ${state}`),
  countDropped() {},
  async deadLetter() {},
};
const sink = new ExcelSink(excelSinkConfig.parse(JSON.parse(configJson)), ctx, { tickEvery: 5 });
await sink.connect(AbortSignal.timeout(30_000));
// Batches start at multiples of the batch size, so a batch sent again after a kill is the same batch.
for (let start = from; start < to; start = (Math.floor(start / batchSize) + 1) * batchSize) {
  const end = Math.min(to, (Math.floor(start / batchSize) + 1) * batchSize);
  const batch = [];
  for (let n = start; n < end; n++)
    batch.push({
      id: `row-${n}`,
      time: 1_767_225_600_000 + n,
      meta: {},
      payload: { n, dev: `dev-${n % 3}` },
    });
  await sink.write(batch, AbortSignal.timeout(30_000));
  say(`ack ${end - 1}`);
  // Data arrives over time, as from a source: builds and writes interleave.
  await new Promise((resolve) => setTimeout(resolve, 15));
}
await sink.close();
say('done');
