// Flow transforms (deadband, enrich, aggregate, decode, encode) on the 200-byte JSON message of the
// relay benchmark, in batches of 500, through apply() in this process; deadband also with its state
// in a real Redis (one Lua round trip per batch). Figures are CPU time of this process per message
// (user + system), and wall time, which for Redis mode includes the round trips (Redis's own CPU is
// not counted in the CPU column). Run after `npm run build`: `node bench/flow-transforms.js`
// (BENCH_FLOW_MESSAGES, BENCH_FLOW_ROUNDS). Writes between the bench:flow-transforms markers of
// docs/benchmarks.md.

import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makePayload } from './lib/payload.js';
import { QuietGuard, quietLine, sectionHeading } from './lib/honest.js';
import { installCleanup, stopChild } from './lib/procs.js';
import { startRedis } from './lib/services.js';

import { FLOW_TRANSFORMS, componentContext, measure, median, transforms } from './lib/transforms.js';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

const BATCH = 500;
const MESSAGES = Number(process.env.BENCH_FLOW_MESSAGES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_FLOW_ROUNDS ?? 5);
const START = '<!-- bench:flow-transforms:start -->';
const END = '<!-- bench:flow-transforms:end -->';
const DOC = join(root, 'docs/benchmarks.md');

installCleanup();
const guard = new QuietGuard({ suite: 'flow-transforms' });
if (!(await guard.before())) process.exit(3);
const window = guard.phase('measurements');

function create(type, config, redisUrl) {
  const definition = transforms.find((d) => d.type === type);
  const ctx = componentContext(
    `transforms[${Math.random().toString(36).slice(2, 8)}]`,
    redisUrl ? { redisUrl } : {},
  );
  return definition.create(definition.config.parse(config), ctx);
}

// 100 devices on 4 lines, values that move in small steps, one message per device per second.
const base = Date.UTC(2026, 0, 1);
const objects = [];
for (let i = 0; i < MESSAGES; i += BATCH) {
  const batch = [];
  for (let j = i; j < Math.min(MESSAGES, i + BATCH); j++) {
    const payload = JSON.parse(makePayload('bench', j, j * 1.5));
    const device = j % 100;
    payload.device = `sensor-${String(device).padStart(4, '0')}`;
    payload.temperature = 20 + Math.round(10 * Math.sin(j / 700 + device)) / 10;
    payload.humidity = 40 + ((j * 13) % 200) / 10;
    const topic = `site/lyon/line/${device % 4}/${payload.device}`;
    batch.push({
      id: `m-${j}`,
      payload,
      meta: { 'mqtt.topic': topic },
      time: base + Math.floor(j / 100) * 1000,
    });
  }
  objects.push(batch);
}
const asBytes = objects.map((b) =>
  b.map((m) => ({ ...m, payload: new Uint8Array(Buffer.from(JSON.stringify(m.payload))) })),
);
const lpp = objects.map((b) =>
  b.map((m) => ({
    ...m,
    payload: {
      temperatureSensor: { 1: m.payload.temperature },
      humiditySensor: { 2: Math.round(m.payload.humidity * 2) / 2 },
    },
  })),
);
const payloadBytes = asBytes[0][0].payload.byteLength;

async function bench(make, batches, flushEvery) {
  const options = { flushEvery, flushAtEnd: true };
  const warm = await make();
  await measure([warm], batches.slice(0, 10), options);
  await warm.close?.();
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    globalThis.gc?.();
    // A fresh transform each round: the same state (empty) at the start of every round.
    const t = await make();
    rounds.push(await measure([t], batches, options));
    await t.close?.();
  }
  return median(rounds);
}

const redis = await startRedis(mkdtempSync(join(tmpdir(), 'passerelle-bench-flow-')));
const cases = [
  ['deadband', { fields: ['payload.temperature'], absolute: 0.5, key: '{{ payload.device }}' }, objects],
  [
    'deadband',
    { fields: ['payload.temperature'], absolute: 0.5, key: '{{ payload.device }}' },
    objects,
    'redis',
  ],
  [
    'enrich',
    { topic: 'site/{site}/line/{line}/#', place: { building: 'B2' }, processingTime: 'receivedAt' },
    objects,
  ],
  [
    'aggregate',
    { window: '1m', key: '{{ payload.device }}', fields: ['payload.temperature', 'payload.humidity'] },
    objects,
    undefined,
    10,
  ],
  ['decode', { format: 'json' }, asBytes],
  ['encode', { format: 'json' }, objects],
  ['encode', { format: 'cayenne-lpp' }, lpp],
];
// transforms.js leaves these out of its table: each must have its row here.
for (const type of FLOW_TRANSFORMS)
  if (!cases.some(([t]) => t === type)) throw new Error(`flow-transforms.js: no case for ${type}`);
const rows = [];
for (const [type, config, batches, mode, flushEvery] of cases) {
  const result = await bench(
    () => create(type, config, mode === 'redis' ? redis.url : undefined),
    batches,
    flushEvery,
  );
  rows.push({ type, config, mode, ...result });
  console.error(
    `${type}${mode ? ` (${mode})` : ''}: ${result.cpuUs.toFixed(2)} µs/message CPU, ${result.wallUs.toFixed(2)} wall`,
  );
}
await stopChild(redis.child);
window.stop();

const fmt = (n, digits = 2) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const lines = [
  START,
  sectionHeading('Flow transforms'),
  '',
  quietLine(guard),
  '',
  `\`node bench/flow-transforms.js\` (after \`npm run build\`): ${MESSAGES.toLocaleString('en-US')} messages (100 devices, one a second each,`,
  `temperatures drifting slowly) of ${payloadBytes} bytes of JSON, in batches of ${BATCH}, through \`apply()\` in one process; a fresh`,
  `transform per round, the median of ${ROUNDS} rounds after a warm-up (min–max in brackets). CPU is this process's user + system`,
  'time per message put in; wall time includes, for the Redis row, the one Lua round trip per batch to a local redis-server',
  '(whose own CPU is not in the CPU column). Aggregate is flushed every 10 batches (20 s of message time) and at the end.',
  '',
  '| transform | config | input | CPU µs / message | messages / s / core | wall µs / message | out / in |',
  '| --- | --- | --- | ---: | ---: | ---: | ---: |',
];
for (const r of rows) {
  const input =
    r.type === 'decode' ? 'JSON bytes' : r.config.format === 'cayenne-lpp' ? 'LPP object' : 'object';
  lines.push(
    `| \`${r.type}\`${r.mode === 'redis' ? ' (state in Redis)' : ''} | \`${JSON.stringify(r.config).replace(/\|/g, '\\|')}\` | ${input} | ${fmt(r.cpuUs)} (${fmt(r.min)}–${fmt(r.max)}) | ${Math.round(1e6 / r.cpuUs).toLocaleString('en-US')} | ${fmt(r.wallUs)} | ${r.out.toLocaleString('en-US')} / ${MESSAGES.toLocaleString('en-US')}${r.rejected ? ` (${r.rejected} rejected)` : ''} |`,
  );
}
lines.push(
  '',
  `Conditions: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node.js ${process.version};`,
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ')} (1 / 5 / 15 min) at the end of the run — the machine is shared.`,
  END,
);
const section = lines.slice(1, -1).join('\n');
console.log(section);
const decision = guard.write(DOC, START, END, section, {
  // Smaller loads (development) are not the suite's figures: printed, not written.
  partial: ['BENCH_FLOW_MESSAGES', 'BENCH_FLOW_ROUNDS'].some((k) => process.env[k]),
  forceWrite: ['1', 'true', 'yes'].includes(String(process.env.BENCH_WRITE ?? '').toLowerCase()),
});
process.exit(decision.write || guard.dry ? 0 : 3);
