// `npm run bench`: MQTT -> map -> MQTT relays compared on one private Mosquitto, one at a time.
// See bench/README.md for what is measured and how; results go to docs/benchmarks.md.

/**
 * The map transform that passerelle runs: adjust here if the map bindings change. The expression
 * is evaluated on the message envelope `{ payload, meta, id, time }` and gives the new payload.
 */
const MAP_EXPRESSION = '$merge([payload, {"relayed": true}])';

import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  foreignCpuMeter,
  hwmKb,
  installCleanup,
  rssSampler,
  stopChild,
  track,
  trackTempDir,
  treeCpuSeconds,
} from './lib/procs.js';
import { freePort, startMosquitto, startRedis } from './lib/services.js';
import { PAYLOAD_BYTES } from './lib/payload.js';
import { renderSection, evaluateTargets, writeDocs } from './lib/report.js';
import {
  NODE_RED_VERSION,
  ensureNodeRed,
  installedNodeRedVersion,
  prepareNodeRed,
} from './peers/node-red.js';
import { preparePasserelle } from './peers/passerelle.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);

function envNum(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${v} is not a non-negative number`);
  return n;
}

const cfg = {
  messages: envNum('BENCH_MESSAGES', 100_000),
  rate: envNum('BENCH_RATE', 2000),
  latencySeconds: envNum('BENCH_LATENCY_SECONDS', 20),
  repeat: Math.max(1, envNum('BENCH_REPEAT', 1)),
  warmup: envNum('BENCH_WARMUP', 10_000),
  window: envNum('BENCH_WINDOW', 5000),
  inflight: envNum('BENCH_INFLIGHT', 1000),
  startTimeoutMs: envNum('BENCH_START_TIMEOUT', 60) * 1000,
  phaseTimeoutMs: envNum('BENCH_PHASE_TIMEOUT', 180) * 1000,
  drainIdleMs: envNum('BENCH_DRAIN_IDLE_MS', 3000),
  only: (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
  skipNodeRed: ['1', 'true', 'yes'].includes((process.env.BENCH_SKIP_NODE_RED ?? '').toLowerCase()),
  docs: process.env.BENCH_DOCS ?? join(root, 'docs', 'benchmarks.md'),
  noWrite: ['1', 'true', 'yes'].includes((process.env.BENCH_NO_WRITE ?? '').toLowerCase()),
  forceWrite: ['1', 'true', 'yes'].includes((process.env.BENCH_WRITE ?? '').toLowerCase()),
};

/** Measured in this order; the QoS 1 baselines are context for the Redis outbox figures. */
const RELAYS = [
  {
    name: 'direct-q0',
    kind: 'direct',
    qos: 0,
    outbox: '–',
    label: 'no relay: generator → broker → receiver',
    context: true,
  },
  { name: 'bare-q0', kind: 'bare', qos: 0, outbox: '–', label: 'bare relay (mqtt.js)' },
  { name: 'node-red-q0', kind: 'node-red', qos: 0, outbox: '–', label: 'Node-RED' },
  { name: 'passerelle-memory-q0', kind: 'passerelle', qos: 0, outbox: 'memory', label: 'passerelle' },
  {
    name: 'passerelle-redis-q1',
    kind: 'passerelle',
    qos: 1,
    outbox: 'Redis',
    redis: true,
    label: 'passerelle',
  },
  { name: 'bare-q1', kind: 'bare', qos: 1, outbox: '–', label: 'bare relay (mqtt.js)', context: true },
  { name: 'node-red-q1', kind: 'node-red', qos: 1, outbox: '–', label: 'Node-RED', context: true },
];

const started = Date.now();
function log(...args) {
  const s = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  console.log(`[bench ${s}s]`, ...args);
}

function selected(relay) {
  if (cfg.skipNodeRed && relay.kind === 'node-red') return false;
  if (cfg.only.length === 0) return true;
  return cfg.only.some((o) => relay.name === o || relay.name.startsWith(`${o}-`) || relay.kind === o);
}

// ---------------------------------------------------------------------------------------------
// Worker processes (generator, receiver) over IPC

function startWorker(file, env) {
  const child = track(
    spawn(process.execPath, [join(here, file)], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
    file,
  );
  child.on('message', (m) => {
    if (m.type === 'error') log(`${file}: ${m.message}`);
  });
  return child;
}

function waitMessage(child, pred, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const onMsg = (m) => {
      if (!pred(m)) return;
      cleanup();
      resolve(m);
    };
    const onExit = (code) => {
      cleanup();
      reject(new Error(`${what}: process exited (${code}) before answering`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no answer after ${timeoutMs} ms`));
    }, timeoutMs);
    function cleanup() {
      clearTimeout(timer);
      child.off('message', onMsg);
      child.off('exit', onExit);
    }
    child.on('message', onMsg);
    child.once('exit', onExit);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// One relay run

class StartError extends Error {}

function spawnRelay(relay, ctx, dir, httpPort, redis) {
  if (relay.kind === 'bare') {
    return {
      cmd: process.execPath,
      args: [join(here, 'peers', 'bare-relay.js')],
      env: { BENCH_BROKER: ctx.broker.url, BENCH_QOS: String(relay.qos) },
    };
  }
  if (relay.kind === 'node-red')
    return prepareNodeRed(root, dir, { brokerPort: ctx.broker.port, httpPort, qos: relay.qos });
  return preparePasserelle(root, dir, {
    brokerUrl: ctx.broker.url,
    httpPort,
    qos: relay.qos,
    redisUrl: redis?.url,
    expression: MAP_EXPRESSION,
  });
}

async function runRelay(relay, ctx, rep) {
  const dir = mkdtempSync(join(ctx.tmp, `${relay.name}-`));
  const redis = relay.redis ? await startRedis(ctx.tmp) : null;
  const httpPort = await freePort();
  const direct = relay.kind === 'direct';
  const logFile = join(dir, 'relay.log');
  const logStream = createWriteStream(logFile);
  let tail = '';
  let exited = null;
  let child = null;
  if (!direct) {
    const spec = spawnRelay(relay, ctx, dir, httpPort, redis);
    child = track(
      spawn(spec.cmd, spec.args, {
        cwd: root,
        env: { ...process.env, ...spec.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
      relay.name,
    );
    const collect = (d) => {
      logStream.write(d);
      tail = (tail + d.toString()).slice(-3000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('exit', (code, signal) => {
      exited = { code, signal };
    });
  }
  // The calibration row publishes straight to the receiver's topic: the floor of the set-up.
  const cpuOf = () => (child ? treeCpuSeconds(child.pid) : NaN);
  const recv = startWorker('load/receiver.js', {
    BENCH_BROKER: ctx.broker.url,
    BENCH_QOS: String(relay.qos),
  });
  const gen = startWorker('load/generator.js', {
    BENCH_BROKER: ctx.broker.url,
    BENCH_TOPIC_IN: direct ? 'bench/out' : 'bench/in',
  });
  let received = 0;
  let receivedAt = Date.now();
  let currentPhase = null;
  const foreign = { count: 0, sample: '' };
  recv.on('message', (m) => {
    if (m.type === 'foreign') Object.assign(foreign, m);
    if (m.type === 'progress' && m.phase === currentPhase) {
      received = m.received;
      receivedAt = Date.now();
      if (gen.connected) gen.send({ type: 'received', received });
    }
  });
  const relayDied = () => exited !== null;
  const describeExit = () =>
    `exited with ${exited.signal ?? `code ${exited.code}`}; last output:\n${tail.trim().split('\n').slice(-15).join('\n')}`;

  async function phase(name, count, rate, timeoutMs) {
    const tag = `${name}-${rep}`;
    currentPhase = tag;
    received = 0;
    receivedAt = Date.now();
    recv.send({ type: 'phase', phase: tag, expect: count });
    await waitMessage(recv, (m) => m.type === 'phase-ok' && m.phase === tag, 10_000, 'receiver');
    const doneP = waitMessage(
      gen,
      (m) => m.type === 'done' && m.phase === tag,
      timeoutMs + 30_000,
      'generator',
    );
    gen.send({
      type: 'run',
      phase: tag,
      count,
      rate,
      window: cfg.window,
      inflight: cfg.inflight,
      qos: relay.qos,
      stallMs: 1000,
    });
    const deadline = Date.now() + timeoutMs;
    let timedOut = false;
    let done = null;
    doneP.then(
      (d) => {
        done = d;
      },
      () => {},
    );
    while (!done) {
      if (relayDied() || Date.now() > deadline) {
        timedOut = !relayDied();
        gen.send({ type: 'stop' });
        break;
      }
      await sleep(50);
    }
    done = await doneP;
    // Drain: until every sent message is seen, or nothing new arrives for a while.
    while (received < done.sent && Date.now() - receivedAt < cfg.drainIdleMs && !relayDied()) await sleep(20);
    recv.send({ type: 'report' });
    const report = await waitMessage(recv, (m) => m.type === 'report' && m.phase === tag, 10_000, 'receiver');
    currentPhase = null;
    return { ...done, ...report, timedOut };
  }

  try {
    await Promise.all([
      waitMessage(recv, (m) => m.type === 'ready', 15_000, 'receiver'),
      waitMessage(gen, (m) => m.type === 'ready', 15_000, 'generator'),
    ]);
    // Ready when a probe message makes it through the relay (the same test for every relay).
    const t0 = Date.now();
    currentPhase = `probe-${rep}`;
    recv.send({ type: 'phase', phase: currentPhase, expect: 1_000_000 });
    await waitMessage(recv, (m) => m.type === 'phase-ok', 10_000, 'receiver');
    const probeDone = waitMessage(gen, (m) => m.type === 'done', cfg.startTimeoutMs + 30_000, 'generator');
    gen.send({
      type: 'run',
      phase: currentPhase,
      count: 1_000_000,
      rate: 20,
      window: 1,
      inflight: 10,
      qos: relay.qos,
      stallMs: 1000,
    });
    while (received === 0 && !relayDied() && Date.now() - t0 < cfg.startTimeoutMs) await sleep(50);
    gen.send({ type: 'stop' });
    await probeDone;
    currentPhase = null;
    if (relayDied()) throw new StartError(describeExit());
    if (received === 0) {
      const why =
        foreign.count > 0
          ? `${foreign.count} message(s) arrived on bench/out but without the bench's fields (phase, id, ts), so the relay's output is not the input with one field changed; first one: ${foreign.sample}`
          : `no message came through within ${cfg.startTimeoutMs / 1000} s`;
      throw new StartError(`${why}; last output:\n${tail.trim().split('\n').slice(-15).join('\n')}`);
    }
    const startSeconds = (Date.now() - t0) / 1000;
    log(`${relay.name}: ready after ${startSeconds.toFixed(1)} s${child ? ` (pid ${child.pid})` : ''}`);
    await sleep(1000);

    const sampler = child ? rssSampler(child.pid) : { stop: () => NaN };
    if (cfg.warmup > 0) {
      const w = await phase('warmup', cfg.warmup, 0, cfg.phaseTimeoutMs);
      log(`${relay.name}: warm-up ${w.received}/${w.sent}`);
    }
    const cpu0 = cpuOf();
    const broker0 = treeCpuSeconds(ctx.broker.pid);
    const redis0 = redis ? treeCpuSeconds(redis.pid) : 0;
    const foreignMeter = foreignCpuMeter();
    const tp = await phase('throughput', cfg.messages, 0, cfg.phaseTimeoutMs);
    const foreignCores = foreignMeter.stop();
    const cpu1 = cpuOf();
    const broker1 = treeCpuSeconds(ctx.broker.pid);
    const redis1 = redis ? treeCpuSeconds(redis.pid) : 0;
    if (relayDied()) throw new Error(`died during the throughput run: ${describeExit()}`);
    const tpSeconds = tp.received > 0 ? (tp.lastAt - tp.t0) / 1000 : NaN;
    const throughput = tp.received / tpSeconds;
    const per100k = (s) => (tp.received > 0 ? (s * 100_000) / tp.received : NaN);
    log(
      `${relay.name}: throughput ${Math.round(throughput)} msg/s, ${tp.received}/${tp.sent} received, relay CPU ${(cpu1 - cpu0).toFixed(2)} s; other processes on the machine used ${foreignCores.toFixed(2)} cores`,
    );
    await sleep(1000);

    const latCount = Math.round(cfg.rate * cfg.latencySeconds);
    let lat = null;
    let latCpu = NaN;
    let latForeign = NaN;
    if (latCount > 0) {
      const c0 = cpuOf();
      const w0 = Date.now();
      const meter = foreignCpuMeter();
      lat = await phase('latency', latCount, cfg.rate, cfg.latencySeconds * 1000 + cfg.phaseTimeoutMs);
      latForeign = meter.stop();
      latCpu = ((cpuOf() - c0) / ((Date.now() - w0) / 1000)) * 100;
      if (relayDied()) throw new Error(`died during the latency run: ${describeExit()}`);
      const offered = lat.sent / ((lat.t1 - lat.t0) / 1000);
      log(
        `${relay.name}: latency at ${Math.round(offered)} msg/s offered: p50 ${lat.p50?.toFixed(2)} ms, p99 ${lat.p99?.toFixed(2)} ms, ${lat.received}/${lat.sent} received`,
      );
    }
    const peakSampledKb = sampler.stop();
    const hwm = child ? hwmKb(child.pid) : NaN;
    return {
      ok: true,
      startSeconds,
      throughput,
      tpReceived: tp.received,
      tpSent: tp.sent,
      tpDups: tp.dups,
      tpUnchanged: tp.unchanged,
      tpStalls: tp.stalls,
      tpTimedOut: tp.timedOut,
      cpuPer100k: per100k(cpu1 - cpu0),
      brokerCpuPer100k: per100k(broker1 - broker0),
      redisCpuPer100k: redis ? per100k(redis1 - redis0) : null,
      latOffered: lat ? lat.sent / ((lat.t1 - lat.t0) / 1000) : null,
      latReceived: lat?.received ?? null,
      latSent: lat?.sent ?? null,
      p50: lat?.p50 ?? null,
      p90: lat?.p90 ?? null,
      p99: lat?.p99 ?? null,
      max: lat?.max ?? null,
      latUnchanged: lat?.unchanged ?? 0,
      cpuPercentAtRate: latCpu,
      foreignCores: Math.max(foreignCores, Number.isFinite(latForeign) ? latForeign : 0),
      rssPeakMB: (Math.max(peakSampledKb, hwm) * 1024) / 1e6,
      rssSampledMB: (peakSampledKb * 1024) / 1e6,
      hwmMB: (hwm * 1024) / 1e6,
    };
  } finally {
    for (const w of [gen, recv]) if (w.connected) w.send({ type: 'exit' });
    if (child) await stopChild(child, 5000);
    await Promise.all([stopChild(gen, 3000), stopChild(recv, 3000)]);
    if (redis) await stopChild(redis.child, 3000);
    logStream.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Conditions and aggregation

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 }).toString();
  } catch (err) {
    return String(err.stdout ?? '') + String(err.stderr ?? '');
  }
}

function conditions() {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel =
      readFileSync('/proc/cpuinfo', 'utf8')
        .match(/^model name\s*:\s*(.+)$/m)?.[1]
        ?.trim() ?? cpuModel;
  } catch {
    /* keep os.cpus() */
  }
  const mosq = sh('mosquitto', ['-h']).match(/mosquitto version (\S+)/)?.[1] ?? 'unknown';
  const redis = sh('redis-server', ['--version']).match(/v=(\S+)/)?.[1] ?? 'unknown';
  let mqttVersion = 'unknown';
  try {
    mqttVersion = JSON.parse(
      readFileSync(join(root, 'node_modules', 'mqtt', 'package.json'), 'utf8'),
    ).version;
  } catch {
    /* not installed */
  }
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* not Linux */
  }
  return {
    cores: cpus().length,
    cpuModel,
    ramGiB: totalmem() / 2 ** 30,
    kernel,
    node: process.version,
    mosquitto: mosq,
    redis,
    mqtt: mqttVersion,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    loadavg: loadavg(),
  };
}

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function aggregate(runs) {
  const out = { runs: runs.length };
  for (const key of Object.keys(runs[0])) {
    if (typeof runs[0][key] === 'number') out[key] = median(runs.map((r) => r[key]));
    else out[key] = runs[0][key];
  }
  // Losses and duplicates are summed over runs, not smoothed away.
  for (const key of [
    'tpReceived',
    'tpSent',
    'tpDups',
    'tpUnchanged',
    'latReceived',
    'latSent',
    'latUnchanged',
    'tpStalls',
  ]) {
    out[key] = runs.reduce((s, r) => s + (r[key] ?? 0), 0);
  }
  out.tpTimedOut = runs.some((r) => r.tpTimedOut);
  return out;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  installCleanup();
  const relays = RELAYS.filter(selected);
  if (relays.length === 0) {
    console.error(
      `BENCH_ONLY=${process.env.BENCH_ONLY} selects none of: ${RELAYS.map((r) => r.name).join(', ')}`,
    );
    return 2;
  }
  const latCount = Math.round(cfg.rate * cfg.latencySeconds);
  log(
    `relays: ${relays.map((r) => r.name).join(', ')}; ${cfg.messages} messages per throughput run, ${latCount} at ${cfg.rate} msg/s for latency, ${cfg.repeat} run(s) each`,
  );
  const cond = conditions();
  const notes = [];
  const failures = [];

  let nodeRed = null;
  if (relays.some((r) => r.kind === 'node-red')) {
    try {
      const inst = await ensureNodeRed(root, log);
      nodeRed = { version: installedNodeRedVersion(root), installSeconds: inst.seconds, cached: inst.cached };
      log(
        inst.cached
          ? `node-red ${nodeRed.version} already installed in .bench/node-red`
          : `node-red ${nodeRed.version} installed in ${inst.seconds.toFixed(1)} s`,
      );
    } catch (err) {
      for (const r of relays.filter((x) => x.kind === 'node-red'))
        failures.push({ relay: r, reason: err.message });
      log(`NODE-RED NOT AVAILABLE: ${err.message}`);
    }
  }

  const tmp = trackTempDir(mkdtempSync(join(tmpdir(), 'passerelle-bench-')));
  const broker = await startMosquitto(tmp);
  log(`mosquitto ${cond.mosquitto} on ${broker.url} (pid ${broker.pid})`);
  const ctx = { tmp, broker };

  if (
    relays.some((r) => r.kind === 'passerelle') &&
    !existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))
  ) {
    notes.push(
      'dist/src/cli/main.js was missing when the bench started: passerelle was not built (`npm run bench` builds first).',
    );
  }

  const results = new Map();
  for (const relay of relays) {
    if (failures.some((f) => f.relay === relay)) continue;
    const runs = [];
    try {
      for (let rep = 1; rep <= cfg.repeat; rep++) {
        log(`${relay.name}: run ${rep}/${cfg.repeat}`);
        runs.push(await runRelay(relay, ctx, rep));
      }
      results.set(relay.name, aggregate(runs));
    } catch (err) {
      const kind = err instanceof StartError ? 'FAILED TO START' : 'FAILED';
      failures.push({ relay, reason: `${kind}: ${err.message}` });
      console.log(
        `\n${'!'.repeat(78)}\n!! ${relay.name} ${kind} — skipped, reported as not measured.\n!! ${err.message.split('\n').join('\n!! ')}\n${'!'.repeat(78)}\n`,
      );
      if (runs.length > 0) results.set(relay.name, aggregate(runs));
    }
  }
  await stopChild(broker.child, 3000);

  const targets = evaluateTargets(results);
  const section = renderSection({
    cfg,
    cond,
    relays,
    results,
    failures,
    targets,
    notes,
    nodeRed: nodeRed ?? {
      version: installedNodeRedVersion(root) ?? NODE_RED_VERSION,
      installSeconds: null,
      cached: null,
    },
    payloadBytes: PAYLOAD_BYTES,
    expression: MAP_EXPRESSION,
    durationSeconds: (Date.now() - started) / 1000,
  });
  console.log(`\n${section}`);
  // A partial run (BENCH_ONLY, BENCH_SKIP_NODE_RED) lacks baselines: it does not replace the
  // committed figures unless asked to (BENCH_WRITE=1).
  const partial = relays.length < RELAYS.length;
  if (!cfg.noWrite && (!partial || cfg.forceWrite)) {
    writeDocs(cfg.docs, section);
    log(`wrote ${cfg.docs}`);
  } else if (!cfg.noWrite) {
    log(`partial run: ${cfg.docs} left as it is (BENCH_WRITE=1 to write it anyway)`);
  }
  const noisy = [...results.entries()].filter(([, r]) => r.foreignCores > 0.2).map(([n]) => n);
  if (noisy.length > 0) {
    console.log(
      `\nbench: other processes used more than 0.2 core during: ${noisy.join(', ')}; those figures are likely low. Re-run on a quiet machine.`,
    );
  }
  if (failures.length > 0) {
    console.log(
      `\nbench: ${failures.length} relay(s) not measured: ${failures.map((f) => f.relay.name).join(', ')} (exit code 1)`,
    );
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
    process.exit(code);
  },
  (err) => {
    console.error('bench failed:', err);
    process.exit(1);
  },
);
