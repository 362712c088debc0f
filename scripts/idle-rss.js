// Idle memory of `passerelle run` with one mqtt -> mqtt pipeline, memory outbox and Redis.
// Usage: npm run build && node scripts/idle-rss.js [--settle 10] [--node-options "..."] [--bench]
// Starts a private Mosquitto (and Redis), runs the relay, waits until /readyz answers 200 and the
// process settles, then prints VmRSS / VmHWM from /proc and the V8 heap from /metrics. Writes nothing.
// --bench: the relay bench's pipeline (unit-convert + enrich) instead of a bare mqtt -> mqtt one.
// --breakdown: also prints V8's heap spaces, the CommonJS packages loaded and the heap in use after a
// full GC (scripts/lib/memory-probe.mjs; the GC comes after the RSS figures are read).
// --snapshot DIR: with --breakdown, also writes a heap snapshot after that GC to
// DIR/idle-<outbox>.heapsnapshot (summarize it with scripts/heap-summary.js).
// RSS is split as Linux counts it: RssFile is file-backed pages (mostly the node binary's code, the
// same ~34 MB for any Node process, shared between processes), RssAnon the process's own memory
// (V8 heap, malloc), which is what our code and its packages can change.
/* global fetch */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort, startMosquitto, startRedis } from '../bench/lib/services.js';
import { installCleanup, stopChild, track } from '../bench/lib/procs.js';
import { PASSERELLE_TRANSFORMS } from '../bench/peers/passerelle.js';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const settleMs = Number(arg('settle', '10')) * 1000;
const nodeOptions = arg('node-options', '');
const benchPipeline = process.argv.includes('--bench');
const snapshotDir = arg('snapshot', undefined);
const breakdown = process.argv.includes('--breakdown') || snapshotDir !== undefined;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Decimal MB (1e6 bytes), as the bench and the V8 figures below; /proc counts kB of 1024 bytes.
const mb = (kib) => (kib * 1024) / 1e6;

function procStatus(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return {
    rssMb: mb(kb('VmRSS')),
    hwmMb: mb(kb('VmHWM')),
    anonMb: mb(kb('RssAnon')),
    fileMb: mb(kb('RssFile') + kb('RssShmem')),
  };
}

/** Resident MB by mapped file (/proc/PID/smaps): what RssFile is made of. */
function mappedFiles(pid) {
  const byFile = new Map();
  let file;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) file = header[1].startsWith('/') ? header[1] : undefined;
    else if (file && line.startsWith('Rss:'))
      byFile.set(file, (byFile.get(file) ?? 0) + mb(Number(/\d+/.exec(line)[0])));
  }
  return [...byFile].sort((a, b) => b[1] - a[1]);
}

async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').at(-1)) / 1e6 : NaN;
}

async function measure(dir, brokerUrl, redisUrl) {
  const httpPort = await freePort();
  const file = join(dir, redisUrl ? 'redis.yaml' : 'memory.yaml');
  const qos = redisUrl ? 1 : 0;
  writeFileSync(
    file,
    [
      'name: idle-relay',
      `source: { type: mqtt, url: ${brokerUrl}, topics: [idle/in], qos: ${qos}${redisUrl ? ', cleanSession: false, clientId: idle-relay' : ''} }`,
      ...(benchPipeline ? ['transforms:', ...PASSERELLE_TRANSFORMS] : []),
      'sinks:',
      `  - { type: mqtt, url: ${brokerUrl}, topic: idle/out, qos: ${qos} }`,
      '',
    ].join('\n'),
  );
  const args = [
    join(root, 'bin', 'passerelle.js'),
    'run',
    file,
    '--no-watch',
    '--http',
    `127.0.0.1:${httpPort}`,
  ];
  if (redisUrl) args.push('--redis', redisUrl);
  const env = { ...process.env, PASSERELLE_LOG_LEVEL: 'warn' };
  if (nodeOptions) env.NODE_OPTIONS = nodeOptions;
  else delete env.NODE_OPTIONS;
  const probeOut = join(dir, `probe-${redisUrl ? 'redis' : 'memory'}.json`);
  const execArgs = breakdown
    ? ['--import', pathToFileURL(join(root, 'scripts', 'lib', 'memory-probe.mjs')).href]
    : [];
  if (breakdown) env.PASSERELLE_MEMORY_PROBE_OUT = probeOut;
  if (snapshotDir)
    env.PASSERELLE_MEMORY_PROBE_SNAPSHOT = join(
      snapshotDir,
      `idle-${redisUrl ? 'redis' : 'memory'}.heapsnapshot`,
    );
  const child = track(
    spawn(process.execPath, [...execArgs, ...args], {
      cwd: root,
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
    'relay',
  );
  const url = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error('relay not ready within 60 s');
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await sleep(200);
  }
  await sleep(settleMs);
  const status = procStatus(child.pid);
  const mappings = breakdown ? mappedFiles(child.pid) : undefined;
  // prom-client's default metrics, registered without a prefix (src/runtime/service.ts).
  const heapUsedMb = await metric(url, 'nodejs_heap_size_used_bytes');
  const heapTotalMb = await metric(url, 'nodejs_heap_size_total_bytes');
  const externalMb = await metric(url, 'nodejs_external_memory_bytes');
  let probe;
  if (breakdown) {
    child.kill('SIGUSR2');
    // A heap snapshot takes seconds; the probe writes its figures after it.
    for (let i = 0; i < 600 && !existsSync(probeOut); i++) await sleep(100);
    probe = JSON.parse(readFileSync(probeOut, 'utf8'));
  }
  await stopChild(child);
  return {
    probe,
    mappings,
    outbox: redisUrl ? 'redis' : 'memory',
    ...status,
    heapUsedMb,
    heapTotalMb,
    externalMb,
  };
}

installCleanup();
const dir = mkdtempSync(join(tmpdir(), 'passerelle-idle-'));
try {
  const mosquitto = await startMosquitto(dir);
  const redis = await startRedis(dir);
  const rows = [await measure(dir, mosquitto.url, undefined), await measure(dir, mosquitto.url, redis.url)];
  const f = (n) => n.toFixed(1);
  console.log(
    `node ${process.version}${nodeOptions ? `, NODE_OPTIONS=${nodeOptions}` : ''}, settle ${settleMs / 1000} s, ${benchPipeline ? 'unit-convert + enrich' : 'no transform'}`,
  );
  console.log(
    '| outbox | RSS MB | RssAnon MB | RssFile MB | peak RSS MB | V8 heap used MB | V8 heap total MB | external MB |',
  );
  for (const r of rows)
    console.log(
      `| ${r.outbox} | ${f(r.rssMb)} | ${f(r.anonMb)} | ${f(r.fileMb)} | ${f(r.hwmMb)} | ${f(r.heapUsedMb)} | ${f(r.heapTotalMb)} | ${f(r.externalMb)} |`,
    );
  console.log(
    '(MB = 1e6 bytes; RssFile includes RssShmem: mostly the node binary, shared by every Node process)',
  );
  for (const r of rows.filter((row) => row.probe)) {
    console.log(`\n${r.outbox} outbox: process.memoryUsage() MB`, r.probe.usage);
    console.log(`V8 heap in use after a full GC: ${r.probe.liveHeapMb} MB`);
    console.log(
      'Resident file mappings MB:',
      r.mappings
        .filter(([, size]) => size >= 0.1)
        .map(([file, size]) => `${file} ${size.toFixed(1)}`)
        .join(', '),
    );
    console.table(r.probe.spaces);
    const packages = Object.entries(r.probe.packages).sort((a, b) => b[1].sourceKb - a[1].sourceKb);
    console.log(
      'CommonJS packages loaded (source KB):',
      packages.map(([n, p]) => `${n} ${p.sourceKb}`).join(', '),
    );
  }
  await stopChild(mosquitto.child);
  await stopChild(redis.child);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
