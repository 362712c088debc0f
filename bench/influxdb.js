#!/usr/bin/env node
/* global fetch */
// MQTT -> InfluxDB benchmark (issue 6). Run alone after a build:
//   npm run build && node bench/influxdb.js
// In one run, on one private Mosquitto and one private InfluxDB 1.x (Debian's influxd):
//   1. ceiling: a bare subscriber that only counts the messages (how fast the broker delivers them);
//      for context a bare writer: the same subscriber writing line protocol to InfluxDB itself;
//   2. passerelle: `bin/passerelle.js run` with an mqtt source and the influxdb sink;
//   3. Node-RED 4.1 with node-red-contrib-influxdb (mqtt in -> influxdb out), the peer;
//   4. the sink alone, in this process: points fed to write() without MQTT, and for context
//      InfluxDB's own intake of the same points as ready-made line protocol.
// Writes its section of docs/benchmarks.md between <!-- bench:influxdb:start --> and <!-- bench:influxdb:end -->.
// Environment: BENCH_INFLUX_MESSAGES (100000), BENCH_INFLUX_PEER_MESSAGES (20000),
// BENCH_INFLUX_SINK_POINTS (500000), BENCH_NO_NODE_RED=1 to leave the peer out.
import { machineConditions } from './lib/conditions.js';
import { fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as mqtt from 'mqtt';
import { makePayload, nowMs, PAYLOAD_BYTES } from './lib/payload.js';
import { QuietGuard, quietLine, renderResult, sectionHeading, verdict } from './lib/honest.js';
import {
  hwmKb,
  installCleanup,
  rssSampler,
  stopChild,
  track,
  trackTempDir,
  treeCpuSeconds,
} from './lib/procs.js';
import { freePort, startInfluxDB, startMosquitto } from './lib/services.js';
import { CONTRIB_VERSION, ensureNodeRedInfluxdb, prepareNodeRedInfluxdb } from './peers/node-red-influxdb.js';
import { NODE_RED_VERSION } from './peers/node-red.js';

const root = fileURLToPath(new URL('../', import.meta.url));

/** The ceiling: subscribe (QoS 1, as the relays) and count; the count goes to the parent every 20 ms. */
async function bareSubscriber(url, topic) {
  const client = await mqtt.connectAsync(url, { clean: true, clientId: `bench-bare-${process.pid}` });
  client.stream?.setNoDelay?.(true);
  let count = 0;
  client.on('message', () => count++);
  await client.subscribeAsync(topic, { qos: 1 });
  process.send({ type: 'ready' });
  setInterval(() => process.send({ type: 'count', count }), 20);
  process.on('disconnect', () => process.exit(0));
}

/**
 * Context: the bare subscriber writing what it receives to InfluxDB, as a dozen lines of glue would
 * (mqtt.js acknowledges on receipt, so it guarantees nothing): JSON.parse, the same fields and
 * timestamp as passerelle's pipeline, one POST of up to 5,000 lines at a time (or after 100 ms).
 */
async function bareWriter(url, topic, writeUrl) {
  const client = await mqtt.connectAsync(url, { clean: true, clientId: `bench-bare-writer-${process.pid}` });
  client.stream?.setNoDelay?.(true);
  const text = (v) => `"${String(v).replace(/["\\]/g, '\\$&')}"`;
  let lines = [];
  let posting = false;
  let timer;
  const post = async () => {
    clearTimeout(timer);
    timer = undefined;
    if (posting || lines.length === 0) return;
    posting = true;
    const body = lines.join('\n');
    lines = [];
    const res = await fetch(writeUrl, { method: 'POST', body });
    if (res.status !== 204) console.error(`bare writer: InfluxDB answered ${res.status} ${await res.text()}`);
    posting = false;
    if (lines.length >= 5000) void post();
    else if (lines.length > 0) timer ??= setTimeout(post, 100);
  };
  client.on('message', (_topic, payload) => {
    const p = JSON.parse(payload.toString());
    lines.push(
      `bare,phase=${p.phase} id=${p.id},ts=${p.ts},device=${text(p.device)},temperature=${p.temperature},humidity=${p.humidity},pad=${text(p.pad)} ${p.id}`,
    );
    if (lines.length >= 5000) void post();
    else timer ??= setTimeout(post, 100);
  });
  await client.subscribeAsync(topic, { qos: 1 });
  process.send({ type: 'ready' });
  process.on('disconnect', () => process.exit(0));
}

const MESSAGES = Number(process.env.BENCH_INFLUX_MESSAGES ?? 100_000);
const PEER_MESSAGES = Number(process.env.BENCH_INFLUX_PEER_MESSAGES ?? 20_000);
const SINK_POINTS = Number(process.env.BENCH_INFLUX_SINK_POINTS ?? 500_000);
const WARMUP = 2000;
/** No new point for this long: the relay lost the rest. */
const STUCK_MS = Number(process.env.BENCH_STUCK_MS ?? 15_000);
const WINDOW = 20_000;
const INFLIGHT = 1000;
const QOS = 1;
const DB = 'bench';
const START = '<!-- bench:influxdb:start -->';
const END = '<!-- bench:influxdb:end -->';

const log = (s) => console.error(`[bench:influxdb] ${s}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const guard = new QuietGuard({ suite: 'influxdb' });

async function main() {
  installCleanup();
  if (!(await guard.before())) process.exit(3);
  // BENCH_INFLUX_SINK_DIST: another build of the sink (a before/after comparison in development).
  const distSink =
    process.env.BENCH_INFLUX_SINK_DIST ?? join(root, 'dist', 'connectors', 'influxdb', 'index.js');
  if (!existsSync(distSink)) {
    console.error('dist/ is missing the influxdb sink: run `npm run build` first.');
    process.exit(1);
  }
  const started = Date.now();
  const cond = machineConditions();
  const tmp = trackTempDir(mkdtempSync(join(tmpdir(), 'bench-influxdb-')));
  const broker = await startMosquitto(tmp);
  const influx = await startInfluxd(tmp);
  await influx.query(`CREATE DATABASE ${DB}`);
  log(`mosquitto on ${broker.port}, influxd ${influx.version} on ${influx.port}`);

  const results = { influxVersion: influx.version };
  if (process.env.BENCH_INFLUX_ONLY === 'sink') {
    // Development: the sink alone, to profile the write path (`node --cpu-prof`); never writes docs.
    results.sink = await sinkAlone(influx, distSink, 1);
    await stopChild(influx.child);
    await stopChild(broker.child);
    process.exit(0);
  }
  results.ceiling = await runPhase('ceiling', MESSAGES, broker, () =>
    startBareSubscriber(broker.url, 'bench/influx/bare'),
  );
  results.bareWriter = await runPhase('bare-writer', MESSAGES, broker, () =>
    startBareWriter(broker.url, 'bench/influx/bare-writer', influx),
  );
  results.passerelle = await runPhase('passerelle', MESSAGES, broker, () =>
    startPasserelle(tmp, broker.url, influx, 'bench/influx/passerelle'),
  );
  if (!process.env.BENCH_NO_NODE_RED) {
    try {
      await ensureNodeRedInfluxdb(root, log);
      results.nodeRed = await runPhase('node-red', PEER_MESSAGES, broker, () =>
        startNodeRed(tmp, broker, influx, 'bench/influx/node-red'),
      );
    } catch (error) {
      results.nodeRedError = String(error?.message ?? error);
      log(`Node-RED: ${results.nodeRedError}`);
    }
  }
  const alone = guard.phase('sink alone, InfluxDB intake');
  results.sink = await sinkAlone(influx, distSink, 1);
  results.sink2 = await sinkAlone(influx, distSink, 2);
  results.raw = await rawIntake(influx);
  alone.stop();
  const section = render(cond, results, (Date.now() - started) / 1000);
  console.log(section);
  await stopChild(influx.child);
  await stopChild(broker.child);
  const decision = guard.write(join(root, 'docs', 'benchmarks.md'), START, END, section, {
    // Smaller loads (development) are not the suite's figures: printed, not written.
    partial: [
      'BENCH_INFLUX_MESSAGES',
      'BENCH_INFLUX_PEER_MESSAGES',
      'BENCH_INFLUX_SINK_POINTS',
      'BENCH_NO_NODE_RED',
    ].some((k) => process.env[k]),
    forceWrite: ['1', 'true', 'yes'].includes(String(process.env.BENCH_WRITE ?? '').toLowerCase()),
  });
  process.exit(decision.write || guard.dry ? 0 : 3);
}

// ---------------------------------------------------------------- services

async function startInfluxd(parent) {
  const influx = await startInfluxDB(parent);
  const count = async (measurement) => {
    const json = await influx.query(`SELECT count(temperature) FROM "${measurement}"`, DB);
    return Number(json.results[0]?.series?.[0]?.values?.[0]?.[1] ?? 0);
  };
  // Points InfluxDB took in since it started, from its httpd statistics: cheap to poll, unlike
  // `SELECT count()`, which scans the measurement (13 ms of InfluxDB's CPU at 100,000 points, on the
  // cores the relay shares, 20 times a second). Relays run one at a time, so a difference is theirs.
  // Failed points count too: under load InfluxDB 1.6 answered 500 to some of Node-RED's writes and
  // stored their points all the same (`SELECT count()` decides in the end).
  const written = async () => {
    const vars = await (await fetch(`${influx.url}/debug/vars`)).json();
    const httpd = Object.entries(vars).find(([key]) => key.startsWith('httpd'))?.[1]?.values ?? {};
    return (
      Number(httpd.pointsWrittenOK) + Number(httpd.pointsWrittenFail) + Number(httpd.pointsWrittenDropped)
    );
  };
  return Object.assign(influx, { count, written });
}

// ---------------------------------------------------------------- relays

/** Each relay: { pid, topic, count(), stop() }. */
async function startBareSubscriber(url, topic) {
  const child = track(
    fork(fileURLToPath(import.meta.url), ['bare-subscriber', url, topic], { stdio: 'inherit' }),
    'bare',
  );
  let count = 0;
  await new Promise((resolve, reject) => {
    child.on('message', (m) => {
      if (m.type === 'ready') resolve();
      if (m.type === 'count') count = m.count;
    });
    child.once('exit', (code) => reject(new Error(`bare subscriber exited with ${code}`)));
  });
  return {
    pid: child.pid,
    topic,
    count: async () => count,
    stop: () => stopChild(child),
    ready: async () => true,
  };
}

async function startBareWriter(url, topic, influx) {
  // Microsecond timestamps: the message number, as passerelle's pipeline writes it.
  const writeUrl = `${influx.url}/write?db=${DB}&precision=u`;
  const child = track(
    fork(fileURLToPath(import.meta.url), ['bare-writer', url, topic, writeUrl], { stdio: 'inherit' }),
    'bare-writer',
  );
  await new Promise((resolve, reject) => {
    child.on('message', (m) => m.type === 'ready' && resolve());
    child.once('exit', (code) => reject(new Error(`bare writer exited with ${code}`)));
  });
  return {
    pid: child.pid,
    topic,
    count: () => influx.count('bare'),
    written: influx.written,
    stop: () => stopChild(child),
    ready: async () => true,
  };
}

async function startPasserelle(tmp, brokerUrl, influx, topic) {
  const dir = join(tmp, 'passerelle');
  mkdirSync(dir, { recursive: true });
  const httpPort = await freePort();
  const measurement = 'passerelle';
  // The same data as the peer stores: every payload key (Node-RED writes them all); `phase` as a
  // tag so that the warm-up and the measured run (ids from 0 each) are separate series.
  const yaml = `name: bench-influxdb
source: { type: mqtt, url: ${brokerUrl}, topics: [${topic}], qos: ${QOS} }
sinks:
  - type: influxdb
    url: ${influx.url}
    database: ${DB}
    measurement: ${measurement}
    tags: { phase: payload.phase }
    fields: { id: float, ts: float, device: string, temperature: float, humidity: float, pad: string }
    # Messages arrive many per millisecond: the message number (as microseconds) keeps points apart.
    timestamp: payload.id
    timestampUnit: us
    precision: us
    batch: { count: 5000, maxWait: 100ms }
`;
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, yaml);
  const child = track(
    spawn(
      process.execPath,
      [join(root, 'bin', 'passerelle.js'), 'run', file, '--http', `127.0.0.1:${httpPort}`],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, PASSERELLE_LOG_LEVEL: 'warn' },
      },
    ),
    'passerelle',
  );
  let tail = '';
  child.stderr.on('data', (d) => (tail = (tail + d).slice(-3000)));
  const ready = async () => {
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(100)) {
      if (child.exitCode !== null) throw new Error(`passerelle exited: ${tail}`);
      try {
        if ((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200) return true;
      } catch {
        /* starting */
      }
    }
    throw new Error(`passerelle not ready after 30 s: ${tail}`);
  };
  // HTTP write requests InfluxDB answered 204, from passerelle's own metrics.
  const requests = async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const line = metrics
      .split('\n')
      .find((l) => /^passerelle_influxdb_write_requests_total\{.*outcome="ok"/.test(l));
    return Number(line?.split(' ').pop() ?? NaN);
  };
  const diagnose = async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    return metrics
      .split('\n')
      .filter((l) => /^passerelle_/.test(l) && !/_bucket|process_/.test(l))
      .join('\n');
  };
  return {
    pid: child.pid,
    topic,
    count: () => influx.count(measurement),
    written: influx.written,
    stop: () => stopChild(child),
    ready,
    diagnose,
    requests,
  };
}

async function startNodeRed(tmp, broker, influx, topic) {
  const dir = join(tmp, 'node-red');
  mkdirSync(dir, { recursive: true });
  const measurement = 'nodered';
  const { cmd, args, env } = prepareNodeRedInfluxdb(root, dir, {
    brokerPort: broker.port,
    httpPort: await freePort(),
    influxPort: influx.port,
    database: DB,
    measurement,
    topic,
    qos: QOS,
  });
  const child = track(
    spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }),
    'node-red',
  );
  let tail = '';
  child.stdout.on('data', (d) => (tail = (tail + d).slice(-3000)));
  child.stderr.on('data', (d) => (tail = (tail + d).slice(-3000)));
  // No readiness endpoint: a probe message must come through (see runPhase).
  const ready = async () => {
    if (child.exitCode !== null) throw new Error(`node-red exited: ${tail}`);
    return false;
  };
  return {
    pid: child.pid,
    topic,
    count: () => influx.count(measurement),
    written: influx.written,
    stop: () => stopChild(child),
    ready,
    tail: () => tail,
  };
}

// ---------------------------------------------------------------- one MQTT run

function startGenerator(brokerUrl, topic) {
  const child = track(
    fork(join(root, 'bench', 'load', 'generator.js'), [], {
      env: { ...process.env, BENCH_BROKER: brokerUrl, BENCH_TOPIC_IN: topic },
      stdio: 'inherit',
    }),
    'generator',
  );
  const waiters = new Map();
  child.on('message', (m) => {
    if (m.type === 'error') log(`generator: ${m.message}`);
    const w = waiters.get(m.type);
    if (w) {
      waiters.delete(m.type);
      w(m);
    }
  });
  const next = (type) => new Promise((resolve) => waiters.set(type, resolve));
  return { child, next };
}

/**
 * Starts the relay, waits until a probe comes through, warms up, then sends `count` messages in a
 * closed loop (at most WINDOW sent and not yet stored) and times them until the last one is stored.
 */
async function runPhase(name, count, broker, start) {
  log(`${name}: starting`);
  const relay = await start();
  const gen = startGenerator(broker.url, relay.topic);
  await gen.next('ready');
  try {
    if (!(await relay.ready())) {
      // Probes until the relay is subscribed and writing (Node-RED has no readiness endpoint).
      for (const deadline = Date.now() + 60_000; (await relay.count()) === 0;) {
        if (Date.now() > deadline)
          throw new Error(`${name}: nothing stored after 60 s ${relay.tail?.() ?? ''}`);
        gen.child.send({
          type: 'run',
          phase: 'probe',
          count: 10,
          rate: 0,
          window: 10,
          inflight: 10,
          qos: QOS,
          stallMs: 1000,
        });
        await gen.next('done');
        await sleep(500);
      }
    }
    const feed = async (phase, n) => {
      const base = await relay.count();
      const stored0 = await relay.written?.();
      // Progress from InfluxDB's cheap counter while it lasts; `SELECT count()` has the last word.
      let cheap = relay.written !== undefined;
      const poll = async () => {
        if (!cheap) return (await relay.count()) - base;
        const acknowledged = (await relay.written()) - stored0;
        if (acknowledged < n) return acknowledged;
        const exact = (await relay.count()) - base;
        // Fewer stored than acknowledged: points written twice. Count them from now on.
        if (exact < n) cheap = false;
        return exact;
      };
      gen.child.send({
        type: 'run',
        phase,
        count: n,
        rate: 0,
        window: WINDOW,
        inflight: INFLIGHT,
        qos: QOS,
        stallMs: 60_000,
      });
      const done = gen.next('done');
      let stored = 0;
      let lastChange = nowMs();
      let stuck = false;
      let seen = nowMs();
      while (stored < n) {
        await sleep(stored === 0 ? 20 : 50);
        const polled = nowMs();
        const now = await poll();
        seen = polled;
        if (now !== stored) lastChange = nowMs();
        stored = now;
        gen.child.send({ type: 'received', received: stored });
        if (nowMs() - lastChange > STUCK_MS) {
          // A relay that lost messages: measured up to its last progress, the loss reported.
          stuck = true;
          log(
            `${name}: no progress for ${STUCK_MS / 1000} s at ${stored}/${n} stored ${(await relay.diagnose?.()) ?? ''}`,
          );
          gen.child.send({ type: 'stop' });
          break;
        }
      }
      // The last poll saw every point (when it was sent, not after the check that followed).
      const tEnd = stuck ? lastChange : seen;
      const sent = await done;
      return { stored, t0: sent.t0, tEnd, sent: sent.sent, stuck };
    };
    const warm = await feed(`warmup-${name}`, WARMUP);
    if (warm.stuck)
      throw new Error(`${name}: the warm-up did not complete (${warm.stored}/${WARMUP} stored)`);
    const requests0 = await relay.requests?.();
    const cpu0 = treeCpuSeconds(relay.pid);
    const rss = rssSampler(relay.pid);
    const window = guard.phase(name);
    const run = await feed(`run-${name}`, count);
    const seconds = (run.tEnd - run.t0) / 1000;
    const cpu1 = treeCpuSeconds(relay.pid);
    const cores = window.stop();
    const requests = (await relay.requests?.()) - requests0;
    const result = {
      messages: count,
      stored: run.stored,
      sent: run.sent,
      lost: run.stuck ? run.sent - run.stored : 0,
      seconds,
      rate: run.stored / seconds,
      cpuPer100k: ((cpu1 - cpu0) / run.stored) * 100_000,
      peakRssMb: (Math.max(rss.stop(), hwmKb(relay.pid)) * 1024) / 1e6,
      otherCores: cores.foreignCores,
      machineBusyCores: cores.machineBusyCores,
      requests: Number.isFinite(requests) ? requests : undefined,
      errorSample: run.stuck ? relay.errorSample?.() : undefined,
    };
    log(`${name}: ${Math.round(result.rate)} msg/s, peak RSS ${Math.round(result.peakRssMb)} MB`);
    return result;
  } finally {
    gen.child.send({ type: 'exit' });
    await stopChild(gen.child);
    await relay.stop();
  }
}

// ---------------------------------------------------------------- the sink alone

function benchMessages(n, phase) {
  const messages = new Array(n);
  const base = Date.now() - 3_600_000;
  for (let i = 0; i < n; i++) {
    const payload = JSON.parse(makePayload(phase, i, nowMs()));
    messages[i] = { id: String(i), payload, meta: { 'mqtt.topic': 'bench/influx/sink' }, time: base + i };
  }
  return messages;
}

/** write() with batches of 5,000 pre-decoded messages, `concurrency` batches at a time. */
async function sinkAlone(influx, distSink, concurrency) {
  const { influxdbSink, influxdbSinkConfig } = await import(distSink);
  const { noopMetrics, silentLogger } = await import(join(root, 'dist', 'src', 'sdk', 'index.js'));
  const measurement = `sink_c${concurrency}`;
  const config = influxdbSinkConfig.parse({
    url: influx.url,
    database: DB,
    measurement,
    tags: { phase: 'payload.phase' },
    fields: {
      id: 'float',
      ts: 'float',
      device: 'string',
      temperature: 'float',
      humidity: 'float',
      pad: 'string',
    },
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
  const sink = influxdbSink.create(config, ctx);
  await sink.connect(AbortSignal.timeout(10_000));
  const batchSize = 5000;
  const messages = benchMessages(SINK_POINTS, `sink${concurrency}`);
  const batches = [];
  for (let i = 0; i < messages.length; i += batchSize) batches.push(messages.slice(i, i + batchSize));
  await sink.write(benchMessages(batchSize, 'warmup'), AbortSignal.timeout(60_000));
  // BENCH_INFLUX_PROFILE=<file>: a CPU profile of the timed loop only (not the set-up).
  const profiler = process.env.BENCH_INFLUX_PROFILE ? await startProfiler() : null;
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  let next = 0;
  const worker = async () => {
    while (next < batches.length) await sink.write(batches[next++], AbortSignal.timeout(60_000));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (nowMs() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (profiler) await profiler.stop(`${process.env.BENCH_INFLUX_PROFILE}.c${concurrency}.cpuprofile`);
  await sink.close();
  const stored = (await influx.count(measurement)) - batchSize;
  const result = {
    points: SINK_POINTS,
    stored,
    seconds,
    rate: SINK_POINTS / seconds,
    cpuPer100k: ((cpu.user + cpu.system) / 1e6 / SINK_POINTS) * 100_000,
  };
  log(
    `sink alone, concurrency ${concurrency}: ${Math.round(result.rate)} points/s, ${result.cpuPer100k.toFixed(2)} CPU s per 100k points (${stored} stored)`,
  );
  return result;
}

async function startProfiler() {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      log(`CPU profile of the timed loop: ${file}`);
    },
  };
}

/** InfluxDB's own intake: the same points as ready-made line protocol, 5,000 per POST, one at a time. */
async function rawIntake(influx) {
  const batchSize = 5000;
  const bodies = [];
  const base = Date.now() - 7_200_000;
  for (let i = 0; i < SINK_POINTS; i += batchSize) {
    const lines = [];
    for (let j = i; j < Math.min(SINK_POINTS, i + batchSize); j++) {
      const p = JSON.parse(makePayload('raw', j, nowMs()));
      lines.push(
        `raw,phase=raw id=${p.id},ts=${p.ts},device="${p.device}",temperature=${p.temperature},humidity=${p.humidity},pad="${p.pad}" ${base + j}`,
      );
    }
    bodies.push(lines.join('\n'));
  }
  const t0 = nowMs();
  for (const body of bodies) {
    const res = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body });
    if (res.status !== 204) throw new Error(`raw write: ${res.status} ${await res.text()}`);
  }
  const seconds = (nowMs() - t0) / 1000;
  const stored = await influx.count('raw');
  log(`raw line protocol: ${Math.round(SINK_POINTS / seconds)} points/s`);
  return { points: SINK_POINTS, stored, seconds, rate: SINK_POINTS / seconds };
}

// ---------------------------------------------------------------- report

const fmt = (v, d = 0) =>
  v == null || !Number.isFinite(v)
    ? '–'
    : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

function render(cond, r, durationSeconds) {
  const L = [];
  L.push(sectionHeading('InfluxDB sink'), '', quietLine(guard), '');
  L.push(
    `\`node bench/influxdb.js\` (after \`npm run build\`): MQTT -> InfluxDB with ${PAYLOAD_BYTES}-byte JSON messages, on one private`,
    'Mosquitto and one private InfluxDB, every relay in turn in the same run. Each relay gets a warm-up of',
    `${fmt(WARMUP)} messages, then its run, published by \`bench/load/generator.js\` at QoS ${QOS} in a closed loop (at most`,
    `${fmt(WINDOW)} messages published and not yet stored; "stored" = the points InfluxDB took in, from its`,
    'statistics (`/debug/vars`), polled every 50 ms, then checked by `SELECT count()`). Rate = stored / (first',
    'publish -> the poll that saw the last point). CPU: the relay process tree, per',
    '100,000 messages. The ceiling is a subscriber that only counts messages (same QoS), not a relay; the bare writer,',
    'for context, is that subscriber writing line protocol itself (one POST of up to 5,000 lines at a time, no',
    'acknowledgement held back: it guarantees nothing). Machine busy: cores busy on the whole machine (every',
    'process: generator, broker, relay, InfluxDB) during the run.',
    '',
  );
  const row = (name, x, note = '') =>
    x
      ? `| ${name} | ${fmt(x.messages)} | ${fmt(x.stored)} | ${fmt(x.rate)} | ${fmt(x.cpuPer100k, 1)} s | ${fmt(x.peakRssMb)} MB | ${fmt(x.machineBusyCores, 2)} | ${fmt(x.otherCores, 2)} | ${note}${x.lost ? ` **${fmt(x.lost)} of ${fmt(x.sent)} lost** (nothing new stored for ${STUCK_MS / 1000} s; rate up to the last point)${x.errorSample ? `; its log: \`${x.errorSample}\`` : ''}` : ''} |`
      : `| ${name} | – | – | – | – | – | – | – | ${note} |`;
  L.push(
    '| relay | messages | stored | msg/s | CPU / 100k | peak RSS | machine busy (cores) | other cores busy | |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  L.push(row('ceiling: bare subscriber (counts, stores nothing)', r.ceiling));
  L.push(
    row(
      'context: bare writer (that subscriber + line protocol + POST)',
      r.bareWriter,
      'up to 5,000 lines per POST, one at a time',
    ),
  );
  const perRequest = r.passerelle?.requests ? r.passerelle.stored / r.passerelle.requests : undefined;
  L.push(
    row(
      '**passerelle** (mqtt source -> influxdb sink, memory outbox)',
      r.passerelle,
      `batches of up to 5,000 points${perRequest ? `: ${fmt(r.passerelle.requests)} write requests, ${fmt(perRequest)} points each on average` : ''}`,
    ),
  );
  L.push(
    row(
      `Node-RED ${NODE_RED_VERSION} + node-red-contrib-influxdb ${CONTRIB_VERSION}`,
      r.nodeRed,
      r.nodeRedError ? `not run: ${r.nodeRedError}` : 'mqtt in -> influxdb out: one HTTP write per message',
    ),
  );
  L.push('');
  L.push(
    `The sink alone (\`write()\` called with batches of 5,000 decoded messages, in this process, no MQTT):`,
    '',
  );
  L.push(
    '| | points | stored | points/s | CPU / 100k points (this process) |',
    '| --- | --- | --- | --- | --- |',
  );
  L.push(
    `| sink, one batch at a time (\`concurrency: 1\`) | ${fmt(r.sink.points)} | ${fmt(r.sink.stored)} | ${fmt(r.sink.rate)} | ${fmt(r.sink.cpuPer100k, 2)} s |`,
  );
  L.push(
    `| sink, two batches at a time (\`concurrency: 2\`) | ${fmt(r.sink2.points)} | ${fmt(r.sink2.stored)} | ${fmt(r.sink2.rate)} | ${fmt(r.sink2.cpuPer100k, 2)} s |`,
  );
  L.push(
    `| context: InfluxDB's intake of the same points as ready-made line protocol, one POST at a time | ${fmt(r.raw.points)} | ${fmt(r.raw.stored)} | ${fmt(r.raw.rate)} | |`,
  );
  L.push('');
  const ofCeiling = r.passerelle && r.ceiling ? r.passerelle.rate / r.ceiling.rate : null;
  const ofPeer = r.passerelle && r.nodeRed ? r.passerelle.rate / r.nodeRed.rate : null;
  const sinkBest = Math.max(r.sink.rate, r.sink2.rate);
  const judged = (measured, threshold, kind) =>
    renderResult(verdict({ measured, op: '>=', threshold, kind }));
  L.push('| target | measured | result |', '| --- | --- | --- |');
  L.push(
    `| passerelle ≥ 90 % of the ceiling | ${ofCeiling == null ? '–' : `${fmt(ofCeiling * 100, 1)} %`} | ${judged(ofCeiling, 0.9, 'ratio')} |`,
  );
  L.push(
    `| passerelle ≥ 3 × Node-RED | ${ofPeer == null ? '–' : `${fmt(ofPeer, 1)} ×`} | ${judged(ofPeer, 3, 'ratio')} |`,
  );
  L.push(
    `| sink alone ≥ 100,000 points/s | ${fmt(sinkBest)} points/s | ${judged(sinkBest, 100_000, 'points/s')} |`,
  );
  L.push('');
  // What the figures say, from the figures themselves.
  const notes = [];
  if (r.passerelle && r.ceiling) {
    // Cores it kept busy on average: CPU per message x messages per second.
    const cores = (r.passerelle.cpuPer100k / 100_000) * r.passerelle.rate;
    notes.push(
      `Per message, passerelle used ${fmt(r.passerelle.cpuPer100k / r.ceiling.cpuPer100k, 1)} × the CPU of the counting subscriber ` +
        `(JSON decoding, the engine and outbox, line protocol, HTTP), and InfluxDB, on the same cores, indexes every point ` +
        `the subscriber merely counts. During its run passerelle kept ${fmt(cores, 2)} of a core busy on average` +
        (cores < 0.8 ? '' : ': its single JavaScript thread is near its limit') +
        `, and the machine ${fmt(r.passerelle.machineBusyCores, 2)} of its ${cond.cores} cores (the ceiling's run: ${fmt(r.ceiling.machineBusyCores, 2)}).`,
    );
  }
  if (r.bareWriter && r.ceiling && r.passerelle) {
    notes.push(
      `Writing to InfluxDB on the same cores costs the bare writer too: ${fmt((r.bareWriter.rate / r.ceiling.rate) * 100, 1)} % of the ceiling, ` +
        `and passerelle ran at ${fmt((r.passerelle.rate / r.bareWriter.rate) * 100, 1)} % of the bare writer's rate (which holds no acknowledgement back).`,
    );
  }
  if (r.nodeRed && r.passerelle) {
    notes.push(
      `Node-RED spent ${fmt(r.nodeRed.cpuPer100k, 1)} s of CPU per 100,000 messages (one HTTP request per message) ` +
        `against ${fmt(r.passerelle.cpuPer100k, 1)} s for passerelle.`,
    );
  }
  if (r.raw) {
    const sinkCapacity = 100_000 / Math.min(r.sink.cpuPer100k, r.sink2.cpuPer100k);
    notes.push(
      `The sink's own CPU cost is ${fmt(Math.min(r.sink.cpuPer100k, r.sink2.cpuPer100k), 2)} s per 100,000 points, i.e. about ` +
        `${fmt(sinkCapacity)} points/s per core; InfluxDB took the same points as ready-made line protocol at ` +
        `${fmt(r.raw.rate)} points/s${r.raw.rate < 100_000 ? ': below 100,000 points/s, InfluxDB itself is the limit of the sink-alone figure in this run' : ''}.`,
    );
  }
  for (const n of notes) L.push(`- ${n}`);
  if (notes.length) L.push('');
  L.push(
    `Conditions: ${cond.cores} cores (${cond.cpuModel}), ${fmt(cond.ramGiB, 1)} GiB RAM, Node.js ${cond.node}, InfluxDB`,
    `${r.influxVersion ?? '1.6 (Debian)'} with default settings (WAL on the temporary folder), Mosquitto with`,
    '`set_tcp_nodelay true` and persistence off; passerelle with the memory outbox. Everything shares the same',
    `cores: generator, broker, relay and influxd. Load average ${cond.loadStart.map((x) => fmt(x, 2)).join(' / ')} when the bench started and`,
    `${loadavg()
      .map((x) => fmt(x, 2))
      .join(' / ')} at the end (1 / 5 / 15 min); "other cores busy" is the CPU used by processes`,
    `that are not the bench's during each run: the machine is shared, so figures are lower bounds. Run took ${fmt(durationSeconds / 60, 1)} min.`,
  );
  return L.join('\n');
}

// Last: every constant above is initialised.
if (process.argv[2] === 'bare-writer') {
  await bareWriter(process.argv[3], process.argv[4], process.argv[5]);
} else if (process.argv[2] === 'bare-subscriber') {
  await bareSubscriber(process.argv[3], process.argv[4]);
} else {
  await main();
}
