#!/usr/bin/env node
/* global performance */
// Sparkplug B benchmark (issue 19). Run alone after a build:
//   npm run build && node --expose-gc bench/sparkplug.js
// Metrics per second, and memory, of the two halves of the Sparkplug code:
//   1. encode (edge node): OPC UA-shaped messages -> metric samples (MetricReader: name, datatype,
//      value check) -> NDATA/DDATA payloads with aliases and seq (EdgeSession) -> Protobuf bytes
//      (payload.ts on Eclipse Tahu's generated code);
//   2. decode (host): Protobuf bytes -> the wire-format check (bounded decode) -> metrics, each
//      resolved through its alias to the birth's name and datatype and converted (datatypes.ts);
//   3. end to end on a private Mosquitto: the `sparkplug` sink publishing batches of 500 messages as
//      an edge node, a subscriber decoding every DDATA; metrics per second that reach the host.
// Sizes: BENCH_SP_METRICS (default 1,000,000 per in-process phase), BENCH_SP_PER_PAYLOAD (100
// metrics per payload), BENCH_SP_E2E (200,000 metrics end to end). Memory: peak RSS sampled every
// 50 ms and the V8 heap after a GC, per phase.
// Writes its section of docs/benchmarks.md between <!-- bench:sparkplug:start --> and <!-- bench:sparkplug:end -->
// under the honest rules (bench/README.md): only on a quiet machine, for committed code, full sizes;
// BENCH_DRY=1 prints the section without writing it.
import { machineConditions } from './lib/conditions.js';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as mqtt from 'mqtt';
import { QuietGuard, quietLine, sectionHeading } from './lib/honest.js';
import { installCleanup, stopChild, trackTempDir } from './lib/procs.js';
import { startMosquitto } from './lib/services.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const METRICS = Number(process.env.BENCH_SP_METRICS ?? 1_000_000);
const PER_PAYLOAD = Number(process.env.BENCH_SP_PER_PAYLOAD ?? 100);
const E2E = Number(process.env.BENCH_SP_E2E ?? 200_000);
const NAMES = 1000; // distinct metrics (OPC UA variables) of one device
const START = '<!-- bench:sparkplug:start -->';
const END = '<!-- bench:sparkplug:end -->';

const log = (s) => console.error(`[bench:sparkplug] ${s}`);
const guard = new QuietGuard({ suite: 'sparkplug' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const gc = () => globalThis.gc?.();

/** Peak RSS while `fn` runs, CPU and wall time, heap after a GC. */
async function measure(fn) {
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  let peakRss = process.memoryUsage().rss;
  const timer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await fn();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(timer);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  gc();
  return {
    ...out,
    wall,
    cpu: (cpu.user + cpu.system) / 1e6,
    peakRssBytes: peakRss,
    heapAfterBytes: process.memoryUsage().heapUsed,
    heapBeforeBytes: heapBefore,
  };
}

function opcuaMessage(i, t) {
  const node = `Line1/Var${String(i % NAMES).padStart(4, '0')}`;
  const kind = i % 4;
  const [value, dataType] =
    kind === 0
      ? [20 + (i % 1000) / 100, 'Double']
      : kind === 1
        ? [i % 30000, 'Int32']
        : kind === 2
          ? [i % 2 === 0, 'Boolean']
          : [`s${i % 97}`, 'String'];
  return {
    id: `${node}@${t}`,
    payload: { node, value, dataType, quality: 'good', status: 'Good' },
    meta: { 'opcua.name': node, 'opcua.dataType': dataType, 'opcua.quality': 'good' },
    time: t,
  };
}

async function main() {
  installCleanup();
  if (!(await guard.before())) process.exit(3);
  const dist = (p) => join(root, 'dist', 'connectors', 'sparkplug', p);
  if (!existsSync(dist('edge-sink.js'))) {
    console.error('dist/ is missing the sparkplug connector: run `npm run build` first.');
    process.exit(1);
  }
  const { EdgeSession } = await import(dist('edge-session.js'));
  const { MetricReader } = await import(dist('edge-metric.js'));
  const { encodePayload, decodePayload } = await import(dist('payload.js'));
  const { decodeMetric, longToBigInt } = await import(dist('datatypes.js'));
  const started = Date.now();
  const cond = machineConditions();

  // Messages prepared up front, outside the measured time.
  const batches = [];
  for (let i = 0; i < METRICS; i += PER_PAYLOAD) {
    const batch = [];
    for (let j = i; j < Math.min(METRICS, i + PER_PAYLOAD); j++)
      batch.push(opcuaMessage(j, 1_764_000_000_000 + j));
    batches.push(batch);
  }
  const session = new EdgeSession({
    groupId: 'bench',
    edgeNodeId: 'e1',
    aliases: true,
    maxMetricsPerMessage: PER_PAYLOAD,
  });
  const reader = new MetricReader(
    { device: 'line1', metric: undefined, value: undefined, dataType: undefined },
    session,
  );
  session.startConnection();
  session.births();
  // Learn every metric once (births), as a running edge node has.
  const warm = session.data(
    batches
      .slice(0, Math.ceil(NAMES / PER_PAYLOAD) + 1)
      .flat()
      .map((m) => reader.read({ ...m, payload: { ...m.payload }, meta: { ...m.meta } })),
  );
  const dbirth = warm.find((p) => p.type === 'DBIRTH');
  log(
    `${NAMES} metrics born; encoding ${METRICS.toLocaleString('en-US')} metrics in payloads of ${PER_PAYLOAD}`,
  );

  const payloads = [];
  let encodedBytes = 0;
  const encodeWindow = guard.phase('encode');
  const encode = await measure(async () => {
    for (const batch of batches) {
      const samples = batch.map((m) => reader.read(m));
      for (const p of session.data(samples)) {
        const bytes = encodePayload(p.payload);
        encodedBytes += bytes.length;
        payloads.push(bytes);
      }
    }
    return { metrics: METRICS };
  });
  encodeWindow.stop();
  log(`encode: ${fmt(METRICS / encode.cpu)} metrics/s CPU (${fmt(encode.wall, 2)} s wall)`);

  // The host side: aliases from the DBIRTH, then every DDATA decoded and converted.
  const birthBytes = encodePayload(dbirth.payload);
  const decodeAll = () => {
    const aliases = new Map();
    const birth = decodePayload(birthBytes, { maxBytes: 1 << 24 });
    for (const m of birth.payload.metrics)
      aliases.set(longToBigInt(m.alias).toString(), { name: m.name, datatype: m.datatype });
    let metrics = 0;
    let checksum = 0;
    for (const bytes of payloads) {
      const d = decodePayload(bytes, { maxBytes: 1 << 24 });
      if (!d.ok) throw new Error(d.reason);
      for (const m of d.payload.metrics) {
        const known = aliases.get(longToBigInt(m.alias).toString());
        const v = decodeMetric(m, known.datatype);
        if (typeof v.value === 'number') checksum += v.value;
        metrics++;
      }
    }
    return { metrics, checksum };
  };
  const decodeWindow = guard.phase('decode');
  const decode = await measure(async () => decodeAll());
  decodeWindow.stop();
  if (decode.metrics !== METRICS) throw new Error(`decoded ${decode.metrics} metrics, expected ${METRICS}`);
  log(`decode: ${fmt(METRICS / decode.cpu)} metrics/s CPU (${fmt(decode.wall, 2)} s wall)`);

  const e2e = await endToEnd({ dist, decodePayload });
  const results = { encode, decode, encodedBytes, payloads: payloads.length, e2e };
  log(JSON.stringify(results));
  const section = render(cond, results, (Date.now() - started) / 1000);
  console.log(section);
  const decision = guard.write(join(root, 'docs', 'benchmarks.md'), START, END, section, {
    partial: ['BENCH_SP_METRICS', 'BENCH_SP_PER_PAYLOAD', 'BENCH_SP_E2E'].some((k) => process.env[k]),
  });
  process.exitCode = decision.write || guard.dry ? 0 : 3;
}

/** The sink as an edge node on a private Mosquitto; a subscriber decodes what arrives. */
async function endToEnd({ dist, decodePayload }) {
  const { sparkplugSink } = await import(dist('edge-index.js'));
  const { sparkplugSinkConfig } = await import(dist('edge-spec.js'));
  const tmp = trackTempDir(mkdtempSync(join(tmpdir(), 'bench-sparkplug-')));
  const broker = await startMosquitto(tmp);
  try {
    const rx = await mqtt.connectAsync(broker.url, { clientId: `bench-sp-rx-${process.pid}` });
    let metrics = 0;
    let last = 0;
    rx.on('message', (topic, payload) => {
      if (!topic.includes('/DDATA/')) return;
      const d = decodePayload(payload, { maxBytes: 1 << 24 });
      if (d.ok) metrics += d.payload.metrics.length;
      last = performance.now();
    });
    await rx.subscribeAsync('spBv1.0/bench/#', { qos: 0 });
    const noop = () => undefined;
    const ctx = {
      pipeline: 'bench',
      component: 'sinks[0]',
      logger: { debug: noop, info: noop, warn: noop, error: noop, child: () => ctx.logger },
      setState: noop,
      countDropped: noop,
      deadLetter: async () => undefined,
      metrics: { counter: () => ({ inc: noop }), gauge: () => ({ set: noop, inc: noop, remove: noop }) },
    };
    const sink = sparkplugSink.create(
      sparkplugSinkConfig.parse({ url: broker.url, groupId: 'bench', edgeNodeId: 'e2e', device: 'line1' }),
      ctx,
    );
    await sink.connect(AbortSignal.timeout(10_000));
    const BATCH = 500;
    const batches = [];
    for (let i = 0; i < E2E; i += BATCH) {
      const b = [];
      for (let j = i; j < Math.min(E2E, i + BATCH); j++) b.push(opcuaMessage(j, 1_764_000_000_000 + j));
      batches.push(b);
    }
    // The first NAMES messages bring every metric: births, outside the measured run.
    const warmup = Math.ceil(NAMES / BATCH);
    for (const b of batches.slice(0, warmup)) await sink.write(b, AbortSignal.timeout(30_000));
    await sleep(200);
    const window = guard.phase('end to end');
    const result = await measure(async () => {
      const t0 = performance.now();
      metrics = 0;
      for (const b of batches.slice(warmup)) await sink.write(b, AbortSignal.timeout(30_000));
      const expected = batches.slice(warmup).reduce((n, b) => n + b.length, 0);
      const deadline = Date.now() + 60_000;
      while (metrics < expected && Date.now() < deadline) await sleep(10);
      return { sent: expected, received: metrics, seconds: (last - t0) / 1000 };
    });
    window.stop();
    await sink.close();
    await rx.endAsync();
    log(`end to end: ${fmt(result.received / result.seconds)} metrics/s (${result.received}/${result.sent})`);
    return result;
  } finally {
    await stopChild(broker.child);
  }
}

function fmt(v, d = 0) {
  return v == null || !Number.isFinite(v)
    ? '–'
    : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

const mb = (bytes) => fmt(bytes / 1e6);

function render(cond, r, durationSeconds) {
  const L = [];
  L.push(sectionHeading('Sparkplug B'), '', quietLine(guard), '');
  L.push(
    '`node --expose-gc bench/sparkplug.js` (after `npm run build`), in one process. Messages shaped as the OPC UA source',
    `makes them (${fmt(NAMES)} variables of one device; Double, Int32, Boolean and String in turn), ${fmt(PER_PAYLOAD)} metrics per`,
    'payload. **Encode** (edge node): message -> metric sample (name, datatype, value check) -> DDATA with aliases and',
    'seq -> Protobuf bytes. **Decode** (host): bytes -> bounded wire-format check -> Protobuf -> each metric resolved',
    "through its alias to the birth's datatype and converted. **End to end**: the `sparkplug` sink publishing batches of",
    '500 messages to a private Mosquitto, a subscriber decoding every DDATA. Metrics per second of CPU time (user +',
    "system of the process, which includes V8's GC threads) and of wall time.",
    '',
  );
  L.push('| | |', '| --- | --- |');
  L.push(
    `| machine | ${cond.cores} cores, ${cond.cpuModel}, ${fmt(cond.ramGiB, 1)} GiB RAM, Node.js ${cond.node} |`,
  );
  L.push(`| load average at start | ${cond.loadStart.map((x) => fmt(x, 2)).join(' / ')} |`);
  L.push(
    `| **encode** | **${fmt(METRICS / r.encode.cpu)} metrics/s** (CPU; ${fmt(METRICS / r.encode.wall)}/s wall): ${fmt(METRICS)} metrics in ${fmt(r.payloads)} payloads, ${fmt(r.encodedBytes / METRICS, 1)} bytes per metric |`,
  );
  L.push(
    `| encode memory | peak RSS ${mb(r.encode.peakRssBytes)} MB (the encoded payloads are kept for the decode phase); V8 heap ${mb(r.encode.heapBeforeBytes)} -> ${mb(r.encode.heapAfterBytes)} MB |`,
  );
  L.push(
    `| **decode** | **${fmt(METRICS / r.decode.cpu)} metrics/s** (CPU; ${fmt(METRICS / r.decode.wall)}/s wall) |`,
  );
  L.push(
    `| decode memory | peak RSS ${mb(r.decode.peakRssBytes)} MB; V8 heap after ${mb(r.decode.heapAfterBytes)} MB |`,
  );
  L.push(
    `| **end to end** (sink -> Mosquitto -> decoding subscriber) | **${fmt(r.e2e.received / r.e2e.seconds)} metrics/s** (${fmt(r.e2e.received)}/${fmt(r.e2e.sent)} metrics received, ${fmt(r.e2e.seconds, 2)} s; QoS 0 as Sparkplug requires); peak RSS ${mb(r.e2e.peakRssBytes)} MB |`,
  );
  L.push(`| bench duration | ${fmt(durationSeconds)} s |`, '');
  return L.join('\n');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
