// Instructions per relayed message, counted by valgrind (callgrind): a figure that does not depend
// on what else runs on the machine, unlike the relay bench's CPU seconds. One relay of bench/run.js
// (`bare-q0`, `passerelle-memory-q0`, `bare-q1`, `passerelle-redis-q1`) runs under callgrind on a
// private Mosquitto; this process publishes and receives the relay bench's messages, closed loop
// (at most INSTR_WINDOW sent and not yet received, so nothing is dropped however slow the relay is
// under valgrind). After the warm-up has been received in full, the counters are zeroed
// (`callgrind_control -z`); after the measured messages have all been received they are dumped, and
// the total over every thread of the relay (JIT, GC, libuv) is divided by the messages.
//
//   npm run build && node bench/instructions.js passerelle-memory-q0
//   INSTR_MESSAGES=20000 INSTR_WARMUP=5000 node bench/instructions.js bare-q0 passerelle-memory-q0
//
// INSTR_ROOT=<checkout> measures another checkout's passerelle (built), with this bench.
// INSTR_CPU_PROF=<dir>: runs the relay without valgrind under `node --cpu-prof` instead.
// INSTR_KEEP=1 keeps the callgrind dump (per-function costs: `callgrind_annotate <file>`).
// INSTR_IDLE_SECONDS=N also counts N idle seconds after the flood (timers, metrics), per second.
// INSTR_ALLOC=1: runs the relay without valgrind and counts instead, per measured message, the
// bytes V8 allocates and those its scavenges copy and promote (--trace-gc-nvp between two markers,
// bench/lib/alloc-probe.js), with the collections; INSTR_ALLOC_PROFILE=<file> (one relay) also writes a sampling heap profile of
// the measured messages (collected objects included; open it in Chrome DevTools' Memory tab); the
// profiler's own allocations then count too (about twice the bytes), so compare counts without it.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, createWriteStream, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import * as mqtt from 'mqtt';
import { installCleanup, stopChild, track, trackTempDir } from './lib/procs.js';
import { freePort, startMosquitto, startRedis } from './lib/services.js';
import { RELAY_PAYLOAD_BYTES, makePayload, nowMs, readRelayed } from './lib/payload.js';
import { preparePasserelle } from './peers/passerelle.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const num = (name, fallback) => Number(process.env[name] ?? fallback);
const cfg = {
  messages: num('INSTR_MESSAGES', 20_000),
  warmup: num('INSTR_WARMUP', 5000),
  window: num('INSTR_WINDOW', 500),
  idleSeconds: num('INSTR_IDLE_SECONDS', 0),
  startTimeoutMs: num('INSTR_START_TIMEOUT', 1800) * 1000,
  // No message relayed for this long: QoS 0 messages still missing are written off as lost; QoS 1 fails.
  stallMs: num('INSTR_STALL_TIMEOUT', 120) * 1000,
  // Another checkout to measure (e.g. a `git worktree` of an older commit, built): its bin/passerelle.js.
  relayRoot: process.env.INSTR_ROOT ?? root,
  // A V8 CPU profile instead of callgrind (JavaScript functions by name; time, so machine-dependent).
  cpuProf: process.env.INSTR_CPU_PROF,
  // Extra node flags for the relay, e.g. `--trace-deopt` (printed with the relay's output).
  // The relay's whole output goes to this file too.
  relayLog: process.env.INSTR_RELAY_LOG,
  nodeFlags: (process.env.INSTR_NODE_FLAGS ?? '').split(' ').filter(Boolean),
  keep: ['1', 'true', 'yes'].includes((process.env.INSTR_KEEP ?? '').toLowerCase()),
  alloc: ['1', 'true', 'yes'].includes((process.env.INSTR_ALLOC ?? '').toLowerCase()),
  // Redis relays: also counts the commands Redis served (INFO commandstats) and its CPU for the measured messages.
  redisStats: ['1', 'true', 'yes'].includes((process.env.INSTR_REDIS_STATS ?? '').toLowerCase()),
};
const RELAYS = {
  'bare-q0': { kind: 'bare', qos: 0 },
  'passerelle-memory-q0': { kind: 'passerelle', qos: 0 },
  'bare-q1': { kind: 'bare', qos: 1 },
  // Not a bench relay: QoS 1 without Redis, to split the Redis relay's cost into QoS 1 and Redis.
  'passerelle-memory-q1': { kind: 'passerelle', qos: 1 },
  'passerelle-redis-q1': { kind: 'passerelle', qos: 1, redis: true },
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...args) => console.log('[instructions]', ...args);

async function relayCommand(relay, dir, brokerUrl, redisUrl) {
  if (relay.kind === 'bare')
    return {
      args: [join(here, 'peers', 'bare-relay.js')],
      env: { BENCH_BROKER: brokerUrl, BENCH_QOS: String(relay.qos) },
    };
  const httpPort = await freePort();
  const spec = preparePasserelle(cfg.relayRoot, dir, { brokerUrl, httpPort, qos: relay.qos, redisUrl });
  // Under valgrind the event loop lags by seconds: with the default 15 s lease the Redis relay lost
  // its source lease in most runs (a renewal timed out), and a lease lost while counting closed and
  // reopened the source: a new MQTT client, deopts and recompiles counted as per-message work.
  return {
    args: spec.args,
    env: { ...spec.env, PASSERELLE_LEASE_TTL: process.env.PASSERELLE_LEASE_TTL ?? '300s' },
  };
}

/** Total Ir of a callgrind dump (the `summary:` or `totals:` line). */
function dumpTotal(file) {
  const m = readFileSync(file, 'utf8').match(/^(?:summary|totals):\s+(\d+)/m);
  if (!m) throw new Error(`no total in ${file}`);
  return Number(m[1]);
}

/**
 * Instructions of a dump by kind, from callgrind_annotate's per-function totals: V8's garbage
 * collector and its optimising compilers (still at work when the warm-up was short) apart.
 */
function dumpKinds(file) {
  const out = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], {
    maxBuffer: 256 * 1024 * 1024,
  }).toString();
  const kinds = { gc: 0, compiler: 0 };
  for (const line of out.split('\n')) {
    const m = /^\s*([\d,]+) \([^)]*\)\s+(.*)$/.exec(line);
    if (!m || line.includes('PROGRAM TOTALS')) continue;
    const n = Number(m[1].replaceAll(',', ''));
    if (
      /Marking|Sweep|Scaveng|Heap|Evacuat|MemoryChunk|ActiveSystemPages|MarkCompact|SlotSet|heap::/.test(m[2])
    )
      kinds.gc += n;
    else if (/compiler::|[Mm]aglev|[Tt]urboshaft|Zone|Compil|Bytecode/.test(m[2])) kinds.compiler += n;
  }
  return kinds;
}

/**
 * Sums --trace-gc-nvp's lines of a relay between the markers of bench/lib/alloc-probe.js: bytes
 * allocated, promoted and copied within the young generation (what a scavenge copies), scavenges (`gc=s`) and mark-compacts (`gc=mc`, `gc=mmc`).
 */
function gcTraceCounter() {
  let pending = '';
  let marks = 0;
  const totals = { allocated: 0, promoted: 0, copied: 0, scavenges: 0, markCompacts: 0 };
  const waiters = new Map();
  const field = (line, key) => Number(new RegExp(`\\b${key}=(\\d+)`).exec(line)?.[1] ?? 0);
  return {
    feed(text) {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        const mark = /^\[alloc-probe\] mark (\d+)/.exec(line);
        if (mark) {
          marks = Number(mark[1]) + 1;
          waiters.get(Number(mark[1]))?.({ ...totals });
          continue;
        }
        const kind = /\bgc=(\w+)/.exec(line)?.[1];
        // The GC of marker 0 ends the warm-up's share; the one of marker 1 closes the measured one.
        if (!kind || marks !== 1) continue;
        totals.allocated += field(line, 'allocated');
        totals.promoted += field(line, 'promoted');
        totals.copied += field(line, 'new_space_survived');
        if (kind === 's') totals.scavenges++;
        else totals.markCompacts++;
      }
    },
    /** Resolves with the totals once marker `n` is printed. */
    mark(n) {
      return new Promise((resolve) => waiters.set(n, resolve));
    },
  };
}

/** Redis's counters: `CONFIG RESETSTAT` at the start of the measured messages, then per job and per message. */
async function redisStats(url, reset) {
  const r = new Redis(url, { lazyConnect: true });
  await r.connect();
  try {
    if (reset) {
      await r.config('RESETSTAT');
      return null;
    }
    const info = await r.info('all');
    const calls = {};
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2]);
    const cpu = (k) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    return { calls, cpuSeconds: cpu('used_cpu_sys') + cpu('used_cpu_user') };
  } finally {
    r.disconnect();
  }
}

function callgrindControl(flag, pid) {
  execFileSync('callgrind_control', [...flag.split(' '), String(pid)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 300_000,
  });
}

async function measure(name) {
  const relay = RELAYS[name];
  if (!relay) throw new Error(`unknown relay ${name}: one of ${Object.keys(RELAYS).join(', ')}`);
  const tmp = trackTempDir(mkdtempSync(join(tmpdir(), 'instr-')));
  const broker = await startMosquitto(tmp);
  const redis = relay.redis ? await startRedis(tmp) : null;
  const cmd = await relayCommand(relay, tmp, broker.url, redis?.url);
  const outPrefix = join(tmp, 'callgrind.out');
  const allocFlags = [
    '--expose-gc',
    '--trace-gc-nvp',
    '--import',
    pathToFileURL(join(here, 'lib', 'alloc-probe.js')).href,
  ];
  const command = cfg.cpuProf
    ? [process.execPath, ...cfg.nodeFlags, '--cpu-prof', `--cpu-prof-dir=${cfg.cpuProf}`, ...cmd.args]
    : cfg.alloc
      ? [process.execPath, ...cfg.nodeFlags, ...allocFlags, ...cmd.args]
      : [
          'valgrind',
          '--tool=callgrind',
          '--instr-atstart=no',
          `--callgrind-out-file=${outPrefix}.%p`,
          '--dump-instr=no',
          process.execPath,
          ...cfg.nodeFlags,
          ...cmd.args,
        ];
  const child = track(
    spawn(command[0], command.slice(1), {
      cwd: cfg.relayRoot,
      env: { ...process.env, ...cmd.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
    name,
  );
  let tail = '';
  const relayLog = cfg.relayLog ? createWriteStream(cfg.relayLog) : null;
  const gcTrace = gcTraceCounter();
  // The relay's warnings and errors while counting (a lost lease, a reconnection): the count is then suspect.
  let counting = false;
  const warnings = [];
  const collect = (d) => {
    relayLog?.write(d);
    if (counting)
      for (const line of d.toString().split('\n'))
        if (/"level":"(warn|error|fatal)"/.test(line))
          warnings.push(/"msg":"([^"]*)"/.exec(line)?.[1] ?? line);
    tail = (tail + d.toString()).slice(-4000);
    if (cfg.alloc) gcTrace.feed(d.toString());
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let exited = false;
  child.once('exit', () => (exited = true));

  const pub = mqtt.connect(broker.url, {
    clientId: `instr-pub-${process.pid}`,
    clean: true,
    queueQoSZero: false,
  });
  const sub = mqtt.connect(broker.url, { clientId: `instr-sub-${process.pid}`, clean: true });
  await Promise.all([new Promise((r) => pub.once('connect', r)), new Promise((r) => sub.once('connect', r))]);
  pub.stream?.setNoDelay?.(true);
  await sub.subscribeAsync('bench/out', { qos: relay.qos });

  let phase = '';
  let seen = new Uint8Array(0);
  let received = 0;
  let unchanged = 0;
  let wake = null;
  sub.on('message', (_t, buf) => {
    const m = readRelayed(buf);
    if (!m || m.phase !== phase || !(m.id >= 0 && m.id < seen.length) || seen[m.id]) return;
    seen[m.id] = 1;
    received++;
    if (!m.relayed) unchanged++;
    wake?.();
  });
  const progress = (ms) =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        wake = null;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        wake = null;
        resolve();
      };
    });

  /**
   * Sends `count` messages, at most `window` unreceived; resolves when each is received or written
   * off: with QoS 0 a message can be lost (a keepalive missed under valgrind ends a connection), so
   * after `stallMs` without progress the missing ones count as lost and sending goes on.
   */
  async function run(tag, count, window, stallMs) {
    phase = tag;
    const stats = cfg.redisStats && redis && tag === 'measured';
    if (stats) await redisStats(redis.url, true);
    const cpu0 = stats ? (await redisStats(redis.url)).cpuSeconds : 0;
    seen = new Uint8Array(count);
    received = 0;
    unchanged = 0;
    let sent = 0;
    let lost = 0;
    let lastProgress = Date.now();
    let lastReceived = 0;
    while (received + lost < count) {
      if (exited) throw new Error(`${name} exited:\n${tail}`);
      if (received !== lastReceived) [lastReceived, lastProgress] = [received, Date.now()];
      if (Date.now() - lastProgress > stallMs) {
        if (relay.qos > 0) throw new Error(`${tag}: stuck at ${received}/${count}; relay output:\n${tail}`);
        lost = sent - received;
        lastProgress = Date.now();
        log(`${tag}: ${lost} QoS 0 message(s) lost so far; relay output:\n${tail.slice(-1000)}`);
      }
      while (sent < count && sent - received - lost < window)
        pub.publish('bench/in', makePayload(tag, sent++, nowMs(), RELAY_PAYLOAD_BYTES), { qos: relay.qos });
      await progress(sent < count ? 20 : 200);
    }
    if (stats) {
      const { calls, cpuSeconds } = await redisStats(redis.url);
      log(
        `${name}: Redis commands for ${received} messages: ${JSON.stringify(calls)}; Redis CPU ${(((cpuSeconds - cpu0) * 100_000) / received).toFixed(2)} s per 100k`,
      );
    }
    return { sent, received, unchanged, lost };
  }

  try {
    // Ready when a probe comes through (start-up under valgrind takes a while; until the relay has
    // subscribed, a QoS 0 probe is lost: one every 2 s).
    const t0 = Date.now();
    phase = 'probe';
    seen = new Uint8Array(1);
    received = 0;
    while (received === 0) {
      if (exited) throw new Error(`${name} exited:\n${tail}`);
      if (Date.now() - t0 > cfg.startTimeoutMs) throw new Error(`${name}: not relaying:\n${tail}`);
      pub.publish('bench/in', makePayload('probe', 0, nowMs(), RELAY_PAYLOAD_BYTES), { qos: relay.qos });
      await progress(2000);
    }
    log(`${name}: ready after ${((Date.now() - t0) / 1000).toFixed(0)} s (pid ${child.pid})`);
    if (cfg.warmup > 0) await run('warmup', cfg.warmup, cfg.window, cfg.stallMs);
    if (cfg.alloc) {
      child.kill('SIGUSR2');
      await gcTrace.mark(0);
      const r = await run('measured', cfg.messages, cfg.window, cfg.stallMs);
      child.kill('SIGUSR2');
      const gc = await gcTrace.mark(1);
      const result = {
        relay: name,
        messages: r.received,
        lost: r.lost,
        bytesPerMessage: Math.round(gc.allocated / r.received),
        promotedPerMessage: Math.round(gc.promoted / r.received),
        copiedPerMessage: Math.round(gc.copied / r.received),
        scavenges: gc.scavenges,
        markCompacts: gc.markCompacts,
      };
      log(
        `${name}: ${result.bytesPerMessage.toLocaleString('en')} bytes allocated per message (${result.copiedPerMessage} copied and ${result.promotedPerMessage} promoted by GCs), ${gc.scavenges} scavenges and ${gc.markCompacts} mark-compacts for ${r.received} messages${r.lost ? `; ${r.lost} lost` : ''}`,
      );
      return result;
    }
    if (cfg.cpuProf) {
      const r = await run('measured', cfg.messages, cfg.window, cfg.stallMs);
      log(`${name}: ${r.received} messages relayed; the profile goes to ${cfg.cpuProf} when the relay exits`);
      return { relay: name, messages: r.received, unchanged: r.unchanged };
    }
    // Counting starts here: start-up (module loading) runs uninstrumented, several times faster.
    callgrindControl('--instr=on', child.pid);
    callgrindControl('-z', child.pid);
    // The relay's log marks the counted span (e.g. for --trace-opt lines); pipe delays make it approximate.
    relayLog?.write('[instructions] counting\n');
    counting = true;
    const t1 = Date.now();
    const r = await run('measured', cfg.messages, cfg.window, cfg.stallMs);
    const seconds = (Date.now() - t1) / 1000;
    callgrindControl('-d', child.pid);
    relayLog?.write('[instructions] dumped\n');
    counting = false;
    const dumps = () =>
      readdirSync(tmp)
        .filter((f) => f.startsWith('callgrind.out.'))
        .sort();
    const file = join(tmp, dumps().at(-1));
    const total = dumpTotal(file);
    const kinds = dumpKinds(file);
    if (cfg.keep) {
      const kept = join(root, `.bench/callgrind.${name}.${Date.now()}`);
      execFileSync('mkdir', ['-p', join(root, '.bench')]);
      copyFileSync(file, kept);
      log(`callgrind dump kept in ${kept}`);
    }
    let idlePerSecond = null;
    if (cfg.idleSeconds > 0) {
      callgrindControl('-z', child.pid);
      await sleep(cfg.idleSeconds * 1000);
      callgrindControl('-d', child.pid);
      idlePerSecond = dumpTotal(join(tmp, dumps().at(-1))) / cfg.idleSeconds;
    }
    const result = {
      relay: name,
      messages: r.received,
      lost: r.lost,
      unchanged: r.unchanged,
      instructions: total,
      perMessage: Math.round(total / r.received),
      gcPerMessage: Math.round(kinds.gc / r.received),
      compilerPerMessage: Math.round(kinds.compiler / r.received),
      seconds,
      idlePerSecond,
      warnings,
    };
    log(
      `${name}: ${result.perMessage.toLocaleString('en')} instructions per message, of which GC ${result.gcPerMessage.toLocaleString('en')} and V8 compilers ${result.compilerPerMessage.toLocaleString('en')} (${total.toLocaleString('en')} for ${r.received} messages in ${seconds.toFixed(0)} s under valgrind${r.lost ? `; ${r.lost} lost, the wait for them counted too` : ''}${r.unchanged ? `; ${r.unchanged} not relayed correctly` : ''})${idlePerSecond === null ? '' : `; idle ${Math.round(idlePerSecond).toLocaleString('en')} per second`}`,
    );
    if (warnings.length > 0)
      log(
        `${name}: the relay warned while counting (the count is suspect): ${[...new Set(warnings)].join('; ')}`,
      );
    return result;
  } finally {
    pub.end(true);
    sub.end(true);
    await stopChild(child, 20_000);
    await redis?.dispose();
    await broker.dispose();
  }
}

installCleanup();
const names = process.argv.slice(2);
if (names.length === 0) {
  console.error(`usage: node bench/instructions.js <relay>... (${Object.keys(RELAYS).join(', ')})`);
  process.exit(2);
}
const results = [];
for (const name of names) results.push(await measure(name));
console.log(JSON.stringify(results));
process.exit(0);
