#!/usr/bin/env node
/* global fetch, performance */
// ChirpStack -> MQTT benchmark (issue 4). Run alone after a build:
//   npm run build && node bench/chirpstack.js
// On one private Mosquitto: `bin/passerelle.js run` with the chirpstack source (Cayenne LPP decoder,
// persistent session, QoS 1) and the mqtt sink (QoS 1), memory outbox. The bench publishes ChirpStack
// v4 `up` events (JSON, as ChirpStack's MQTT integration does: 1,000 devices, Cayenne LPP frames,
// no decoded object so that passerelle decodes) and counts the records that reach the output topic.
//   1. end to end: 10,000 uplinks (BENCH_CS_UPLINKS) from 1,000 devices (BENCH_CS_DEVICES), after a
//      warm-up of 2,000; throughput, peak RSS of the passerelle process;
//   2. in process: event parsing + LPP decoding + record building alone (no MQTT), per event.
//   3. in process: the heap one record in flight holds (the source's mapping, 5,000 records, full GCs).
// Writes its section of docs/benchmarks.md between <!-- bench:chirpstack:start --> and <!-- bench:chirpstack:end -->.
// Measurement knobs (a run with any of them prints and does not write, like a smaller load):
//   BENCH_CS_NODE_ARGS   extra Node.js flags for `passerelle run`, space-separated (e.g. `--trace-gc`,
//                        `--max-semi-space-size=4`, `--import ./profiler.mjs`);
//   BENCH_CS_STDOUT      file that receives the stdout of `passerelle run` (e.g. the `--trace-gc` lines);
//   BENCH_CS_MARK_SIGNAL signal sent to `passerelle run` just before and just after the measured run
//                        (e.g. SIGUSR2, for a preloaded profiler that starts and stops on it);
//   BENCH_CS_TIMELINE=1  prints the sampled RSS of every 250 ms of the measured run (MB).
import { machineConditions } from './lib/conditions.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as mqtt from 'mqtt';
import { QuietGuard, quietLine, renderResult, sectionHeading, verdict } from './lib/honest.js';
import {
  hwmKb,
  installCleanup,
  rssSampler,
  stopChild,
  track,
  trackTempDir,
  treeCpuSeconds,
  treeRssKb,
} from './lib/procs.js';
import { freePort, startMosquitto } from './lib/services.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const UPLINKS = Number(process.env.BENCH_CS_UPLINKS ?? 10_000);
const DEVICES = Number(process.env.BENCH_CS_DEVICES ?? 1000);
const WARMUP = 2000;
const WINDOW = 2000; // events published and not yet received, at most (closed loop)
const IN_PROCESS_EVENTS = 100_000;
const START = '<!-- bench:chirpstack:start -->';
const END = '<!-- bench:chirpstack:end -->';
const APP = '17c82e96-be03-4f38-aef3-f83d48582d97';

const log = (s) => console.error(`[bench:chirpstack] ${s}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const guard = new QuietGuard({ suite: 'chirpstack' });
const NODE_ARGS = (process.env.BENCH_CS_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const MARK_SIGNAL = process.env.BENCH_CS_MARK_SIGNAL;
const TIMELINE = ['1', 'true', 'yes'].includes(String(process.env.BENCH_CS_TIMELINE ?? '').toLowerCase());
const KNOBS = [
  'BENCH_CS_UPLINKS',
  'BENCH_CS_DEVICES',
  'BENCH_CS_NODE_ARGS',
  'BENCH_CS_STDOUT',
  'BENCH_CS_MARK_SIGNAL',
];

async function main() {
  installCleanup();
  if (!(await guard.before())) process.exit(3);
  const dist = (p) => join(root, 'dist', p);
  if (!existsSync(dist('connectors/chirpstack/index.js'))) {
    console.error('dist/ is missing the chirpstack source: run `npm run build` first.');
    process.exit(1);
  }
  // The SDK (noopMetrics, createDelivery) and its payload codecs, which the barrel leaves out.
  const sdk = {
    ...(await import(dist('src/sdk/index.js'))),
    ...(await import(dist('src/sdk/codecs/index.js'))),
  };
  const fx = await import(dist('connectors/chirpstack/fixtures.js'));
  const started = Date.now();
  const cond = machineConditions();
  const tmp = trackTempDir(mkdtempSync(join(tmpdir(), 'bench-chirpstack-')));
  const broker = await startMosquitto(tmp);
  log(`mosquitto on ${broker.port}`);

  /** A v4 up event of device `d`, uplink `n`, with an LPP frame of varying values. */
  const event = (phase, d, n) => {
    const devEui = (0x70b3d50000000000n + BigInt(d)).toString(16).padStart(16, '0');
    const frame = sdk.encodeCayenneLpp({
      temperatureSensor: { 1: Math.round((15 + (d % 20) + n / 10) * 10) / 10 },
      humiditySensor: { 2: 40 + (n % 20) },
      gpsLocation: { 4: { latitude: 48.8 + d / 10_000, longitude: 2.35, altitude: 35 } },
    });
    const body = fx.v4Up({
      devEui,
      fCnt: n,
      deduplicationId: `${phase}-${d}-${n}`,
      object: null,
      data: frame.toString('base64'),
    });
    return { topic: `application/${APP}/device/${devEui}/event/up`, payload: JSON.stringify(body) };
  };
  const events = (phase, count) => {
    const out = [];
    for (let i = 0; i < count; i++) out.push(event(phase, i % DEVICES, Math.floor(i / DEVICES)));
    return out;
  };

  const relay = await startPasserelle(tmp, broker.url);
  await relay.ready();
  const idleRssKb = treeRssKb(relay.pid);
  const heapOf = (text) => Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? NaN);
  const idleHeapBytes = heapOf(await relay.metrics());
  const receiver = await mqtt.connectAsync(broker.url, { clientId: `bench-cs-rx-${process.pid}` });
  let received = 0;
  let decoded = 0;
  let lastReceive = 0;
  const ids = new Set();
  receiver.on('message', (_topic, payload) => {
    received++;
    lastReceive = performance.now();
    const record = JSON.parse(payload.toString());
    if (record.objectSource === 'cayenne-lpp' && record.object?.temperatureSensor) decoded++;
    ids.add(record.deduplicationId);
  });
  await receiver.subscribeAsync('bench/out/#', { qos: 1 });
  const publisher = await mqtt.connectAsync(broker.url, { clientId: `bench-cs-tx-${process.pid}` });
  publisher.stream?.setNoDelay?.(true);

  const run = async (phase, list) => {
    received = 0;
    decoded = 0;
    ids.clear();
    const t0 = performance.now();
    let sent = 0;
    const inflight = new Set();
    for (const e of list) {
      while (sent - received >= WINDOW || inflight.size >= 500) await sleep(1);
      const p = publisher.publishAsync(e.topic, e.payload, { qos: 1 }).then(() => inflight.delete(p));
      inflight.add(p);
      sent++;
    }
    await Promise.all(inflight);
    const deadline = Date.now() + 120_000;
    while (received < list.length && Date.now() < deadline) await sleep(20);
    const seconds = (lastReceive - t0) / 1000;
    log(`${phase}: ${received}/${list.length} received in ${seconds.toFixed(2)} s`);
    return { sent: list.length, received, decoded, unique: ids.size, seconds };
  };

  await run('warmup', events('warmup', WARMUP));
  if (MARK_SIGNAL) process.kill(relay.pid, MARK_SIGNAL);
  const cpu0 = treeCpuSeconds(relay.pid);
  const rss = rssSampler(relay.pid);
  const timeline = [];
  const timelineTimer = TIMELINE
    ? setInterval(() => timeline.push(Math.round((treeRssKb(relay.pid) * 1024) / 1e6)), 250)
    : undefined;
  const window = guard.phase(`${UPLINKS} uplinks`);
  const measured = await run('measured', events('run', UPLINKS));
  clearInterval(timelineTimer);
  if (MARK_SIGNAL) process.kill(relay.pid, MARK_SIGNAL);
  if (TIMELINE) log(`RSS every 250 ms (MB): ${timeline.join(' ')}`);
  const cpuSeconds = treeCpuSeconds(relay.pid) - cpu0;
  const otherCores = window.stop().foreignCores;
  const underLoadRssKb = rss.stop();
  const peakRssKb = Math.max(underLoadRssKb, hwmKb(relay.pid));
  const metrics = await relay.metrics();
  const duplicatesTotal = Number(
    /passerelle_chirpstack_duplicates_total\{[^}]*\} (\S+)/.exec(metrics)?.[1] ?? 0,
  );
  const devicesTracked = (metrics.match(/^passerelle_chirpstack_device_uplinks\{/gm) ?? []).length;
  // V8 heap in use after the run (prom-client default metrics): what is live, as opposed to RSS.
  const heapUsedBytes = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN);
  await publisher.endAsync();
  await receiver.endAsync();
  await relay.stop();

  const inProcessWindow = guard.phase('in process');
  const inProcess = await measureInProcess(fx, sdk, event);
  inProcessWindow.stop();
  const recordBytes = await measureRecordHeap(sdk, event);
  const results = {
    measured,
    cpuSeconds,
    otherCores,
    idleRssKb,
    underLoadRssKb,
    peakRssKb,
    duplicatesTotal,
    devicesTracked,
    heapUsedBytes,
    idleHeapBytes,
    inProcess,
    recordBytes,
  };
  log(JSON.stringify(results));
  const section = render(cond, results, (Date.now() - started) / 1000);
  console.log(section);
  await stopChild(broker.child);
  // Smaller loads (development) are not the suite's figures: printed, not written.
  const decision = guard.write(join(root, 'docs', 'benchmarks.md'), START, END, section, {
    partial: KNOBS.some((k) => process.env[k]),
    forceWrite: ['1', 'true', 'yes'].includes(String(process.env.BENCH_WRITE ?? '').toLowerCase()),
  });
  process.exitCode = decision.write || guard.dry ? 0 : 3;
}

async function startPasserelle(tmp, brokerUrl) {
  const dir = join(tmp, 'passerelle');
  mkdirSync(dir, { recursive: true });
  const httpPort = await freePort();
  const yaml = `name: bench-chirpstack
source:
  type: chirpstack
  url: ${brokerUrl}
  decoder: cayenne-lpp
sinks:
  - type: mqtt
    url: ${brokerUrl}
    topic: bench/out/{{ meta.chirpstack.devEui }}
    qos: 1
    maxUnacked: 1000
    batch: { count: 1000, maxWait: 5ms }
`;
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, yaml);
  const stdout = process.env.BENCH_CS_STDOUT ? openSync(process.env.BENCH_CS_STDOUT, 'w') : 'ignore';
  const child = track(
    spawn(
      process.execPath,
      [...NODE_ARGS, join(root, 'bin', 'passerelle.js'), 'run', file, '--http', `127.0.0.1:${httpPort}`],
      {
        stdio: ['ignore', stdout, 'pipe'],
        env: { ...process.env, PASSERELLE_LOG_LEVEL: 'warn' },
      },
    ),
    'passerelle',
  );
  let tail = '';
  child.stderr.on('data', (d) => (tail = (tail + d).slice(-3000)));
  return {
    pid: child.pid,
    stop: () => stopChild(child),
    metrics: async () => (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
    ready: async () => {
      for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(100)) {
        if (child.exitCode !== null) throw new Error(`passerelle exited: ${tail}`);
        try {
          if ((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200) return;
        } catch {
          /* starting */
        }
      }
      throw new Error(`passerelle not ready after 30 s: ${tail}`);
    },
  };
}

/** Parsing, LPP decoding and record building alone, as the source does it per event. */
async function measureInProcess(fx, sdk, event) {
  const { parseEvent } = await import(join(root, 'dist', 'connectors', 'chirpstack', 'events.js'));
  const { buildRecord } = await import(join(root, 'dist', 'connectors', 'chirpstack', 'record.js'));
  const { chirpstackSourceConfig } = await import(join(root, 'dist', 'connectors', 'chirpstack', 'spec.js'));
  const config = chirpstackSourceConfig.parse({ url: 'mqtt://localhost', decoder: 'cayenne-lpp' });
  const list = [];
  for (let i = 0; i < 10_000; i++) list.push(Buffer.from(event('inproc', i % DEVICES, i).payload));
  const topic = { event: 'up' };
  const once = () => {
    for (const bytes of list)
      buildRecord(parseEvent(JSON.parse(bytes.toString()), topic, 0), config, {
        fCntGap: 0,
        fCntReset: false,
      });
  };
  once();
  const rounds = IN_PROCESS_EVENTS / list.length;
  // CPU time as well as wall time: other processes on a shared machine inflate only the latter.
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) once();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const seconds = (cpu.user + cpu.system) / 1e6;
  return {
    events: IN_PROCESS_EVENTS,
    seconds,
    wall,
    perEventUs: (seconds / IN_PROCESS_EVENTS) * 1e6,
    bytes: list[0].length,
  };
}

/**
 * Heap held by one record in flight (what a record keeps alive until the sink has stored it, and
 * what V8 promotes under load): 5,000 records made by the source's own mapping of MQTT deliveries
 * (parse, dedup, tracker, record, metadata), kept, then released; the heap in use after a full GC
 * before and after, per record. Deterministic, unlike RSS.
 */
async function measureRecordHeap(sdk, event) {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  const { ChirpstackSource } = await import(join(root, 'dist', 'connectors', 'chirpstack', 'source.js'));
  const { chirpstackSourceConfig } = await import(join(root, 'dist', 'connectors', 'chirpstack', 'spec.js'));
  const config = chirpstackSourceConfig.parse({ url: 'mqtt://localhost', decoder: 'cayenne-lpp' });
  const quiet = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet };
  const ctx = { pipeline: 'bench', metrics: sdk.noopMetrics, logger: quiet, deadLetter: async () => {} };
  const source = new ChirpstackSource(config, ctx);
  const count = 5000;
  const kept = [];
  const deliver = async (phase) => {
    for (let i = 0; i < count; i += 100) {
      const messages = [];
      for (let j = i; j < i + 100; j++) {
        const e = event(phase, j % DEVICES, Math.floor(j / DEVICES));
        const meta = { 'mqtt.topic': e.topic, 'mqtt.qos': 1, 'mqtt.retain': false, 'mqtt.dup': false };
        messages.push({ id: `m-${j}`, payload: Buffer.from(e.payload), meta, time: Date.now() });
      }
      const delivery = await source.map(sdk.createDelivery(messages, () => {}));
      delivery.ack();
      for (const m of delivery.messages) kept.push(m);
    }
  };
  await deliver('heap-warmup');
  kept.length = 0;
  await deliver('heap');
  gc();
  gc();
  const held = process.memoryUsage().heapUsed;
  kept.length = 0;
  gc();
  gc();
  return (held - process.memoryUsage().heapUsed) / count;
}

const fmt = (v, d = 0) =>
  v == null || !Number.isFinite(v)
    ? '–'
    : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

const peakMB = (r) => (r.peakRssKb * 1024) / 1e6;

function render(cond, r, durationSeconds) {
  const m = r.measured;
  const L = [];
  L.push(sectionHeading('ChirpStack source'), '', quietLine(guard), '');
  L.push(
    '`node bench/chirpstack.js` (after `npm run build`): ChirpStack v4 `up` events (JSON, as its MQTT integration',
    `publishes them, ${fmt(r.inProcess.bytes)} bytes each, a 22-byte Cayenne LPP frame: temperature, humidity, GPS; no decoded`,
    '`object`, so passerelle decodes) published at QoS 1 to a private Mosquitto; `bin/passerelle.js run` with the',
    '`chirpstack` source (`decoder: cayenne-lpp`, persistent session, QoS 1) and the `mqtt` sink (QoS 1,',
    '`batch: { count: 1000, maxWait: 5ms }`), memory outbox; a subscriber counts the records on the output topic.',
    `Closed loop: at most ${fmt(WINDOW)} events published and not yet received. Warm-up of ${fmt(WARMUP)} events first.`,
    '',
  );
  L.push('| | |', '| --- | --- |');
  L.push(
    `| machine | ${cond.cores} cores, ${cond.cpuModel}, ${fmt(cond.ramGiB, 1)} GiB RAM, Node.js ${cond.node} |`,
  );
  L.push(
    `| load average at start | ${cond.loadStart.map((x) => fmt(x, 2)).join(' / ')} (other engineers' tests share the machine) |`,
  );
  L.push(
    `| uplinks | ${fmt(m.sent)} from ${fmt(DEVICES)} devices (${fmt(m.sent / DEVICES)} each, consecutive fCnt) |`,
  );
  L.push(
    `| records received | ${fmt(m.received)} (${fmt(m.unique)} unique; ${fmt(m.decoded)} with the LPP object decoded) |`,
  );
  L.push(
    `| **throughput** | **${fmt(m.received / m.seconds)} uplinks/s** (${fmt(m.seconds, 2)} s, first publish to last record) |`,
  );
  L.push(
    `| passerelle CPU | ${fmt(r.cpuSeconds, 2)} s for the run (${fmt((r.cpuSeconds / m.received) * 1e6)} µs per uplink, all stages) |`,
  );
  L.push(
    `| **passerelle memory** | **${fmt(peakMB(r))} MB** peak RSS (the larger of the RSS sampled every 250 ms during the run, ${fmt((r.underLoadRssKb * 1024) / 1e6)} MB, and the process's high-water mark); ${fmt((r.idleRssKb * 1024) / 1e6)} MB idle after start; V8 heap in use ${fmt(r.idleHeapBytes / 1e6)} MB idle, ${fmt(r.heapUsedBytes / 1e6)} MB after the run |`,
  );
  L.push(`| other CPU | ${fmt(r.otherCores, 2)} cores used by processes outside the bench during the run |`);
  L.push(
    `| devices tracked (metrics series) | ${fmt(r.devicesTracked)}; duplicates dropped: ${fmt(r.duplicatesTotal)} |`,
  );
  L.push(
    `| in process: parse + LPP decode + record | ${fmt(r.inProcess.perEventUs, 1)} µs CPU per event (${fmt(r.inProcess.events)} events: ${fmt(r.inProcess.seconds, 2)} s CPU, including V8's GC threads; ${fmt(r.inProcess.wall, 2)} s wall) |`,
  );
  L.push(
    `| in process: heap held per record in flight | ${fmt(r.recordBytes)} bytes (payload, metadata and id of one uplink's record, after a full GC; what V8 promotes for each record that outlives two scavenges) |`,
  );
  L.push(`| bench duration | ${fmt(durationSeconds)} s |`, '');
  // Issue 17: 10,000 uplinks in 150 MB or less. Judged only on the full load.
  const full = m.sent >= 10_000;
  const v = verdict({
    measured: peakMB(r),
    op: '<=',
    threshold: 150,
    kind: 'MB',
    invalid: full ? undefined : `${fmt(m.sent)} uplinks, not the 10,000 of the target`,
  });
  L.push('| target | measured | threshold | result |', '| --- | ---: | ---: | --- |');
  L.push(`| peak RSS for 10,000 uplinks ≤ 150 MB | ${fmt(peakMB(r))} MB | 150 MB | ${renderResult(v)} |`, '');
  return L.join('\n');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
