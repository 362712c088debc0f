/* global fetch */
// OPC UA -> MQTT: N monitored items changing once a second (sampling 0, i.e. on change, publishing 100 ms),
// forwarded by passerelle to Mosquitto; and, against the same server in the same run, a bare
// node-opcua client subscribed to the same items (its latency to the change event is the floor
// that the intervals set: context) and a bare relay (that client publishing each value on mqtt.js
// to the same broker and subscriber: the like-for-like peer the latency is judged against). Latency = arrival time - the value's source timestamp (same machine
// clock), split at the publishTime of the notification message that carried the value: the wait
// for the subscription's next publish (its phase, random per run) and what comes after (judged).
// Run after `npm run build`: `node bench/opcua.js` (BENCH_OPCUA_ITEMS=5000 by default, a comma list,
// BENCH_OPCUA_SECONDS=30, BENCH_OPCUA_WARMUP=10 to change the load; BENCH_OPCUA_PUBLISH_TIME=off
// runs passerelle without the publishTime option, over MQTT 3.1.1, as before the split).
// Writes its section between the bench:opcua markers of docs/benchmarks.md.
//
// Roles (the same file runs as each child process): `--role bare` (bare node-opcua client),
// `--role relay` (bare node-opcua client -> mqtt.js), `--role receiver` (MQTT subscriber measuring
// latency); without a role it orchestrates.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const START = '<!-- bench:opcua:start -->';
const END = '<!-- bench:opcua:end -->';
const DOC = join(root, 'docs/benchmarks.md');
const NAMESPACE = 'urn:passerelle:plant-simulator';
const PUBLISHING_MS = 100;
// 0: exception-based on node-opcua's server (a variable whose MinimumSamplingInterval is 0 reports
// each change, coalesced over the server's fastest rate) instead of one sampling timer per item at
// 10 Hz: 50,000 timer callbacks a second for 5,000 items kept the server from producing the load.
const SAMPLING_MS = Number(process.env.BENCH_OPCUA_SAMPLING_MS ?? 0);
// How passerelle's messages carry the notification's publishTime to the subscriber (the latency
// split): `user-property` (the source's publishTime option, passed on as an MQTT 5 user property),
// `source` (the option only: its cost alone) or `off` (neither, MQTT 3.1.1; the latency target is
// then not measured).
const PUBLISH_TIME = process.env.BENCH_OPCUA_PUBLISH_TIME ?? 'user-property';
// `defaults`: passerelle's MQTT sink with its default batch (500, 50 ms), in-flight and concurrency
// settings instead of the bench's (a partial run: printed, not written).
const SINK_DEFAULTS = process.env.BENCH_OPCUA_SINK === 'defaults';

const role = process.argv.includes('--role') ? process.argv[process.argv.indexOf('--role') + 1] : undefined;
const arg = (name) => process.argv[process.argv.indexOf(`--${name}`) + 1];

/** Latencies in a fixed histogram (0.1 ms buckets up to 10 s): constant memory whatever the rate. */
function histogram() {
  const buckets = new Uint32Array(100_001);
  let count = 0;
  return {
    add(ms) {
      buckets[Math.min(buckets.length - 1, Math.max(0, Math.round(ms * 10)))]++;
      count++;
    },
    get count() {
      return count;
    },
    quantile(q) {
      if (count === 0) return NaN;
      const target = Math.ceil(q * count);
      let seen = 0;
      for (let i = 0; i < buckets.length; i++) {
        seen += buckets[i];
        if (seen >= target) return i / 10;
      }
      return NaN;
    },
  };
}

/**
 * Measures for `seconds`, starting `warmup` seconds after the first value arrived (subscribing to
 * thousands of items takes a while, longer on a busy machine); `done` resolves at the end.
 */
function measurement(warmup, seconds) {
  const h = histogram();
  // The two parts of the latency (needs the notification's publishTime): the wait in the server
  // for the subscription's next publish (its phase against the value changes: fixed within a run,
  // random between runs), and what comes after the server published (the client's own share).
  const serverWait = histogram();
  const afterPublish = histogram();
  let missingPublishTime = 0;
  const halves = [histogram(), histogram()];
  let first;
  let start = Infinity;
  let end = Infinity;
  let finish;
  const done = new Promise((resolve) => (finish = resolve));
  return {
    record(sourceMs, publishMs) {
      const now = Date.now();
      if (first === undefined) {
        first = now;
        start = now + warmup * 1000;
        end = start + seconds * 1000;
        process.stderr.write(`first ${now} window ${start} ${end}\n`);
        setTimeout(finish, end - now);
      }
      if (now < start || now >= end) return;
      h.add(now - sourceMs);
      if (!Number.isFinite(publishMs)) {
        missingPublishTime++;
        return;
      }
      serverWait.add(publishMs - sourceMs);
      afterPublish.add(now - publishMs);
      // The backlog check: on the part after the publish, which the phase does not move.
      halves[now < start + (seconds * 1000) / 2 ? 0 : 1].add(now - publishMs);
    },
    done,
    firstAt: () => first,
    report(extra = {}) {
      return {
        received: h.count,
        perSecond: h.count / seconds,
        p50: h.quantile(0.5),
        p99: h.quantile(0.99),
        max: h.quantile(1),
        waitP50: serverWait.quantile(0.5),
        waitP99: serverWait.quantile(0.99),
        afterP50: afterPublish.quantile(0.5),
        afterP99: afterPublish.quantile(0.99),
        afterMax: afterPublish.quantile(1),
        missingPublishTime,
        p50FirstHalf: halves[0].quantile(0.5),
        p50SecondHalf: halves[1].quantile(0.5),
        firstValueAt: first,
        ...extra,
      };
    },
  };
}

/**
 * A node-opcua client subscribed to the `items` load variables with the bench's intervals; calls
 * `onValue(dataValue, name, publishMs)` for each value, `publishMs` being the publishTime of the
 * notification message that brought it (as passerelle's `publishTime` option reads it).
 */
async function subscribeLoad(items, onValue) {
  const { OPCUAClient, AttributeIds, TimestampsToReturn, ClientMonitoredItemGroup } =
    await import('node-opcua');
  const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 3 } });
  await client.connect(arg('url'));
  const session = await client.createSession();
  const ns = (await session.readNamespaceArray()).indexOf(NAMESPACE);
  const subscription = await session.createSubscription2({
    requestedPublishingInterval: PUBLISHING_MS,
    requestedMaxKeepAliveCount: 10,
    requestedLifetimeCount: 60,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 10,
  });
  const publishTimes = new WeakMap();
  subscription.on('raw_notification', (message) => {
    for (const data of message.notificationData ?? [])
      for (const item of data?.monitoredItems ?? [])
        publishTimes.set(item.value, message.publishTime.getTime());
  });
  for (let i = 1; i <= items; i += 1000) {
    const nodes = [];
    const names = [];
    for (let j = i; j < Math.min(i + 1000, items + 1); j++) {
      const id = `Load.Item${String(j).padStart(5, '0')}`;
      nodes.push({ nodeId: `ns=${ns};s=${id}`, attributeId: AttributeIds.Value });
      names.push(`Plant/Load/${id.slice(5)}`);
    }
    const group = ClientMonitoredItemGroup.create(
      subscription,
      nodes,
      { samplingInterval: SAMPLING_MS, queueSize: 10, discardOldest: true },
      TimestampsToReturn.Both,
    );
    group.on('changed', (_item, dv, index) => onValue(dv, names[index], publishTimes.get(dv)));
    await new Promise((resolve) => group.once('initialized', resolve));
  }
  return async () => {
    await subscription.terminate().catch(() => {});
    await session.close().catch(() => {});
    await client.disconnect();
  };
}

async function bareClient() {
  const m = measurement(Number(arg('warmup')), Number(arg('seconds')));
  const close = await subscribeLoad(Number(arg('items')), (dv, _name, publishMs) => {
    if (dv.sourceTimestamp) m.record(dv.sourceTimestamp.getTime(), publishMs);
  });
  process.stderr.write('ready\n');
  await m.done;
  process.stdout.write(`${JSON.stringify(m.report())}\n`);
  await close();
  process.exit(0);
}

/**
 * The like-for-like peer of passerelle: the same node-opcua subscription, and each value published
 * on mqtt.js as it comes (QoS 1, MQTT 5), with passerelle's payload, topic and publishTime user
 * property, so the same subscriber measures both. No batching, no acknowledgement tracking beyond
 * what mqtt.js does, nothing between a value and its publish: what a dozen lines can do.
 */
async function relayClient() {
  const { default: mqtt } = await import('mqtt');
  const broker = await mqtt.connectAsync(arg('broker'), { clean: true, protocolVersion: 5 });
  const close = await subscribeLoad(Number(arg('items')), (dv, name, publishMs) => {
    const payload = {
      node: name,
      value: dv.value.value,
      dataType: 'Double',
      quality: 'good',
      status: dv.statusCode.name,
      sourceTimestamp: dv.sourceTimestamp?.toISOString() ?? null,
      serverTimestamp: dv.serverTimestamp?.toISOString() ?? null,
    };
    broker.publish(`bench/opcua/${name}`, JSON.stringify(payload), {
      qos: 1,
      properties: { userProperties: { publishTime: new Date(publishMs).toISOString() } },
    });
  });
  process.stderr.write('ready\n');
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  await close().catch(() => {});
  await broker.endAsync();
  process.exit(0);
}

async function receiver() {
  const { default: mqtt } = await import('mqtt');
  const m = measurement(Number(arg('warmup')), Number(arg('seconds')));
  const client = await mqtt.connectAsync(arg('url'), { clean: true, protocolVersion: 5 });
  client.on('message', (_topic, payload, packet) => {
    const ts = Date.parse(JSON.parse(payload.toString()).sourceTimestamp);
    const published = packet.properties?.userProperties?.publishTime;
    if (Number.isFinite(ts)) m.record(ts, typeof published === 'string' ? Date.parse(published) : NaN);
  });
  await client.subscribeAsync('bench/opcua/#', { qos: 1 });
  process.stderr.write('ready\n');
  await m.done;
  process.stdout.write(`${JSON.stringify(m.report())}\n`);
  await client.endAsync();
  process.exit(0);
}

async function orchestrate() {
  const { freePort, startMosquitto } = await import('./lib/services.js');
  const { installCleanup, rssSampler, stopChild, track, trackTempDir, treeCpuSeconds } =
    await import('./lib/procs.js');
  const { QuietGuard, quietLine, renderResult, sectionHeading, verdict } = await import('./lib/honest.js');
  installCleanup();
  const guard = new QuietGuard({ suite: 'opcua' });
  if (!(await guard.before())) process.exit(3);
  const counts = (process.env.BENCH_OPCUA_ITEMS ?? '5000').split(',').map(Number);
  const seconds = Number(process.env.BENCH_OPCUA_SECONDS ?? 30);
  const warmup = Number(process.env.BENCH_OPCUA_WARMUP ?? 10);
  const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'passerelle-bench-opcua-')));
  const cli = join(root, 'bin/passerelle.js');
  const env = { ...process.env, XDG_CONFIG_HOME: join(dir, 'xdg'), PASSERELLE_LOG_LEVEL: 'warn' };
  const broker = await startMosquitto(dir);
  track(broker.child, 'mosquitto');
  const started = Date.now();
  const load0 = loadavg();

  /** Starts a child, waits for "ready" (or a line matching `ready`) on stderr. */
  function child(args, label, ready = /ready/, extraEnv = {}) {
    const c = track(
      spawn(process.execPath, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] }),
      label,
    );
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    const isReady = new Promise((resolve, reject) => {
      const timer = setInterval(() => {
        if (ready.test(err)) {
          clearInterval(timer);
          resolve();
        } else if (c.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`${label} exited: ${err}`));
        }
      }, 100);
    });
    const result = new Promise((resolve) => c.on('exit', () => resolve(out)));
    return { c, isReady, result, err: () => err };
  }

  /** The measuring window of a child, once its first value arrived ("window <start> <end>" on stderr). */
  async function windowOf(c) {
    // No first value within two minutes: the run is broken (a refused topic, a failed browse), not slow.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const m = /window (\d+) (\d+)/.exec(c.err());
      if (m) return [Number(m[1]), Number(m[2])];
      if (c.c.exitCode !== null) throw new Error(`${c.c.benchLabel} exited: ${c.err()}`);
      if (Date.now() > deadline) throw new Error(`${c.c.benchLabel}: no value arrived within 120 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** CPU (cores) and peak RSS of a process over [fromMs, untilMs]. */
  async function measureProcess(pid, fromMs, untilMs, label) {
    await new Promise((r) => setTimeout(r, Math.max(0, fromMs - Date.now())));
    const cpu0 = treeCpuSeconds(pid);
    const rss = rssSampler(pid);
    const window = guard.phase(label);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, Math.max(0, untilMs - Date.now() - 200)));
    return {
      cpuCores: (treeCpuSeconds(pid) - cpu0) / ((Date.now() - t0) / 1000),
      peakRssMb: (rss.stop() * 1024) / 1e6,
      foreignCores: window.stop().foreignCores,
    };
  }

  /**
   * Where passerelle's RSS goes (a measurement aid, not a target): every 2 s over [fromMs, untilMs],
   * RssAnon / RssFile from /proc and V8's heap spaces and the messages in flight from its /metrics;
   * returns the sample with the highest RSS, and the most messages in flight seen (a backlog: the
   * values received and not yet delivered, all of them promoted to V8's old space while they wait).
   */
  async function breakdown(pid, httpPort, fromMs, untilMs) {
    await new Promise((r) => setTimeout(r, Math.max(0, fromMs - Date.now())));
    const mb = (n) => n / 1e6;
    let top;
    let maxInFlight = 0;
    while (Date.now() < untilMs - 2200) {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
        const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
        const sum = (re) =>
          text
            .split('\n')
            .filter((l) => re.test(l))
            .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
        const sample = {
          rssMb: mb(kb('VmRSS')),
          anonMb: mb(kb('RssAnon')),
          fileMb: mb(kb('RssFile')),
          heapMb: mb(sum(/^nodejs_heap_size_total_bytes/)),
          heapUsedMb: mb(sum(/^nodejs_heap_size_used_bytes/)),
          newMb: mb(sum(/^nodejs_heap_space_size_total_bytes\{space="new"/)),
          oldMb: mb(sum(/^nodejs_heap_space_size_total_bytes\{space="old"/)),
          oldUsedMb: mb(sum(/^nodejs_heap_space_size_used_bytes\{space="old"/)),
          externalMb: mb(sum(/^nodejs_external_memory_bytes/)),
          inFlight: sum(/^passerelle_messages_in_flight/),
        };
        maxInFlight = Math.max(maxInFlight, sample.inFlight);
        if (!top || sample.rssMb > top.rssMb) top = sample;
      } catch {
        // The process ended or /metrics did not answer: keep what was sampled.
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
    return top ? { ...top, maxInFlight } : undefined;
  }

  const results = [];
  for (const items of counts) {
    const port = await freePort();
    const sim = child(
      [
        cli,
        'simulate',
        'opcua',
        '--port',
        String(port),
        '--items',
        String(items),
        '--interval',
        '1s',
        '--pki',
        join(dir, 'sim-pki'),
      ],
      'simulator',
      /listening/,
    );
    await sim.isReady;
    const url = `opc.tcp://127.0.0.1:${port}/passerelle/simulator`;

    // 1. The floor: a bare node-opcua client.
    const bare = child(
      [
        fileURLToPath(import.meta.url),
        '--role',
        'bare',
        '--url',
        url,
        '--items',
        String(items),
        '--warmup',
        String(warmup),
        '--seconds',
        String(seconds),
      ],
      'bare',
    );
    await bare.isReady;
    const [bareStart, bareEnd] = await windowOf(bare);
    const bareProc = await measureProcess(bare.c.pid, bareStart, bareEnd, `${items} items, bare client`);
    const bareResult = { ...JSON.parse((await bare.result).trim().split('\n').pop()), ...bareProc };

    // The MQTT subscriber measuring a relay, with the same warm-up for both relays.
    const receiver = () =>
      child(
        [
          fileURLToPath(import.meta.url),
          '--role',
          'receiver',
          '--url',
          broker.url,
          '--warmup',
          String(warmup + 15),
          '--seconds',
          String(seconds),
        ],
        'receiver',
      );

    // 2. The like-for-like peer: the same subscription, each value published on mqtt.js (QoS 1).
    const relayRecv = receiver();
    await relayRecv.isReady;
    const relay = child(
      [
        fileURLToPath(import.meta.url),
        '--role',
        'relay',
        '--url',
        url,
        '--broker',
        broker.url,
        '--items',
        String(items),
      ],
      'relay',
    );
    await relay.isReady;
    const [relayStart, relayEnd] = await windowOf(relayRecv);
    const relayProc = await measureProcess(relay.c.pid, relayStart, relayEnd, `${items} items, bare relay`);
    const relayResult = { ...JSON.parse((await relayRecv.result).trim().split('\n').pop()), ...relayProc };
    await stopChild(relay.c);

    // 3. passerelle: opcua source -> mqtt sink (QoS 1), memory outbox.
    const pipeline = join(dir, `opcua-${items}.yaml`);
    writeFileSync(
      pipeline,
      [
        `name: bench-opcua-${items}`,
        'source:',
        '  type: opcua',
        `  url: ${url}`,
        `  pkiFolder: ${join(dir, 'client-pki')}`,
        '  publishingInterval: 100ms',
        `  samplingInterval: ${SAMPLING_MS}ms`,
        // The notification's publishTime in meta, passed on as an MQTT 5 user property: the
        // receiver splits the latency as the bare client does.
        ...(PUBLISH_TIME === 'off' ? [] : ['  publishTime: true']),
        '  nodes:',
        '    - folder: Plant/Load',
        '      depth: 1',
        'sinks:',
        '  - type: mqtt',
        `    url: ${broker.url}`,
        '    topic: bench/opcua/{{ payload.node }}',
        // Node names hold "/" (Plant/Load/Item00001): levels the pipeline author chose.
        '    topicValues: levels',
        '    qos: 1',
        ...(PUBLISH_TIME === 'user-property'
          ? ['    protocolVersion: 5', "    userProperties: { publishTime: '{{ meta.opcua.publishTime }}' }"]
          : []),
        // Sized for thousands of messages a second: the defaults (500 per batch, one batch at a
        // time, 100 publishes in flight, 50 ms wait) cap an MQTT sink near 3,000 msg/s here.
        // BENCH_OPCUA_SINK=defaults keeps them (what a pipeline without these lines gets).
        ...(SINK_DEFAULTS
          ? []
          : ['    maxUnacked: 1000', '    batch: { count: 1000, maxWait: 5ms }', '    concurrency: 2']),
        '',
      ].join('\n'),
    );
    const recv = receiver();
    await recv.isReady;
    const httpPort = await freePort();
    const service = child([cli, 'run', pipeline, '--http', `127.0.0.1:${httpPort}`], 'passerelle', /running/);
    const serviceStarted = Date.now();
    await service.isReady;
    const [recvStart, recvEnd] = await windowOf(recv);
    const [svcProc, memory] = await Promise.all([
      measureProcess(service.c.pid, recvStart, recvEnd, `${items} items, passerelle`),
      breakdown(service.c.pid, httpPort, recvStart, recvEnd),
    ]);
    const recvResult = JSON.parse((await recv.result).trim().split('\n').pop());
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const dropped = metrics
      .split('\n')
      .filter((l) => l.startsWith('passerelle_messages_dropped_total'))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    await stopChild(service.c);
    await stopChild(sim.c);
    const firstValueS = (recvResult.firstValueAt - serviceStarted) / 1000;
    results.push({
      items,
      bare: bareResult,
      relay: relayResult,
      passerelle: { ...recvResult, ...svcProc, dropped, firstValueS, memory },
    });
    console.log(JSON.stringify(results.at(-1)));
  }

  const f = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  const samplingText =
    SAMPLING_MS === 0
      ? "0 (on change: node-opcua's server reports each change, with no sampling timer per item)"
      : `${SAMPLING_MS} ms`;
  const lines = [
    START,
    sectionHeading('OPC UA -> MQTT'),
    '',
    quietLine(guard),
    '',
    '`node bench/opcua.js` (after `npm run build`). N variables of the plant simulator (`passerelle simulate opcua --items N`, its own process) change once a second each, spread evenly over ten slices per second (driven by the clock: a late timer catches up); subscribed with sampling ' +
      samplingText +
      ' and publishing ' +
      PUBLISHING_MS +
      ' ms. ' +
      "**bare client**: node-opcua alone, same items and intervals, latency to the `changed` event (context: it has no MQTT hop). **bare relay**: the same node-opcua client publishing each value as it comes on mqtt.js (QoS 1, MQTT 5), with passerelle's payload, topic and user property, to the same broker and subscriber: the like-for-like peer. **passerelle**: `opcua` source (folder browse of Plant/Load) -> `mqtt` sink QoS 1 -> Mosquitto -> a subscriber; memory outbox; " +
      (SINK_DEFAULTS
        ? "the sink's defaults (batches of up to 500 with `maxWait: 50ms`, one at a time, 100 publishes in flight)"
        : 'sink batches of up to 1,000 with `maxWait: 5ms`, 2 batches at once, 1,000 publishes in flight (the defaults cap an MQTT sink near 3,000 msg/s on this machine)') +
      "; source defaults otherwise (`nodeMetrics` off) with `publishTime: true`, the sink passing `opcua.publishTime` on as an MQTT 5 user property. One after the other against the same server, never at the same time. **Latency** (same clock): arrival minus the value's source timestamp, split at the publishTime of the notification message that carried the value: **server wait** (publishTime - source timestamp: the wait for the subscription's next publish, set by the phase between the value changes and that subscription's 100 ms clock, fixed within a run, 0-100 ms at random between runs) and **after publish** (arrival - publishTime: encoding, transport and the client; for passerelle also the pipeline, the sink, Mosquitto and the subscriber). The latency target is judged on the part after the publish, which the phase does not move.",
    '',
    '| | |',
    '| --- | --- |',
    `| machine | ${cpus().length} cores, ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM |`,
    `| Node.js | ${process.version}; node-opcua 2.182.2 |`,
    `| window | ${warmup} s warm-up, then ${seconds} s measured per run |`,
    `| machine load | load average ${load0.map((l) => l.toFixed(2)).join(' / ')} when the bench started; "other CPU" is what processes outside the bench used during each window |`,
    `| duration | ${((Date.now() - started) / 60000).toFixed(1)} min |`,
    '',
    '| items | client | values/s (expected) | latency p50 / p99 / max ms | server wait p50 / p99 ms | after publish p50 / p99 / max ms | after publish p50 1st half / 2nd half | CPU (cores) | peak RSS MB | dropped | other CPU (cores) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    for (const [name, x] of [
      ['bare node-opcua', r.bare],
      ['bare relay -> MQTT', r.relay],
      ['passerelle -> MQTT', r.passerelle],
    ])
      lines.push(
        `| ${r.items.toLocaleString('en')} | ${name} | ${f(x.perSecond, 0)} (${r.items}) | ${f(x.p50)} / ${f(x.p99)} / ${f(x.max)} | ${f(x.waitP50)} / ${f(x.waitP99)} | ${f(x.afterP50)} / ${f(x.afterP99)} / ${f(x.afterMax)} | ${f(x.p50FirstHalf)} / ${f(x.p50SecondHalf)} | ${f(x.cpuCores, 2)} | ${f(x.peakRssMb, 0)} | ${x.dropped ?? '-'} | ${f(x.foreignCores, 2)} |`,
      );
  }
  lines.push('');
  for (const r of results)
    lines.push(
      `- ${r.items.toLocaleString('en')} items: passerelle's first value reached MQTT ${f(r.passerelle.firstValueS)} s after the process started (load, connect, browse Plant/Load, subscribe).`,
    );
  for (const r of results) {
    const m = r.passerelle.memory;
    if (m)
      lines.push(
        `- ${r.items.toLocaleString('en')} items, passerelle's memory at its highest RSS sample (every 2 s): RSS ${f(m.rssMb, 0)} MB (${f(m.anonMb, 0)} anonymous, ${f(m.fileMb, 0)} file-backed: code and libraries); V8 heap ${f(m.heapMb, 0)} MB (young generation ${f(m.newMb, 0)}, old space ${f(m.oldMb, 0)} with ${f(m.oldUsedMb, 0)} of live or not yet collected objects; ${f(m.heapUsedMb, 0)} used in all spaces), external ${f(m.externalMb, 0)} MB; messages in flight (received, not yet delivered): ${m.inFlight} then, at most ${m.maxInFlight} in the window.`,
      );
  }
  // A figure measures passerelle only when the server produced the load: the bare client, alone
  // against the same simulator, must have received (almost) every value.
  const starvedWhy = (r) =>
    r.bare.perSecond < r.items * 0.98
      ? `the simulator did not produce the load: even the bare client received ${f(r.bare.perSecond, 0)} values/s of ${r.items}`
      : undefined;
  // The split needs the publishTime of (nearly) every value, on both sides.
  const withoutPublishTimeWhy = (r) => {
    const missing = [r.bare, r.relay, r.passerelle].find((x) => x.missingPublishTime > x.received * 0.01);
    return missing
      ? `${missing.missingPublishTime} values arrived without the notification's publishTime`
      : undefined;
  };
  lines.push(
    '',
    '### Targets',
    '',
    "No growing backlog: values/s at least 0.98 × items, nothing dropped, and the p50 latency after the publish of the second half at most 1.5 × the first half's + 10 ms. Latency: the p99 after the server published, against the bare relay's, which makes the same MQTT hop (QoS 1 publish, Mosquitto, the subscriber); the bare client's, without that hop, is in the table as context (the whole latency's p99 depends on each subscription's phase: context only too).",
    '',
    '| items | target | measured | threshold | result |',
    '| --- | --- | ---: | ---: | --- |',
  );
  for (const r of results) {
    const invalid = starvedWhy(r);
    const p = r.passerelle;
    const rows = [
      ['peak RSS ≤ 200 MB', p.peakRssMb, '<=', 200, 'MB'],
      ['values/s ≥ 0.98 × items', p.perSecond, '>=', r.items * 0.98, '/s'],
      ['dropped = 0', p.dropped, '<=', 0, ''],
      [
        'after publish p50 2nd half ≤ 1.5 × 1st half + 10 ms',
        p.p50SecondHalf,
        '<=',
        p.p50FirstHalf * 1.5 + 10,
        'ms',
      ],
      ["p99 after publish ≤ bare relay's + 20 ms", p.afterP99, '<=', r.relay.afterP99 + 20, 'ms'],
    ];
    // The relay is the yardstick only when it kept up with the load itself.
    const relayShort =
      r.relay.perSecond < r.items * 0.98
        ? `the bare relay fell behind: its subscriber received ${f(r.relay.perSecond, 0)} values/s of ${r.items}`
        : undefined;
    for (const [what, measured, op, threshold, unit] of rows) {
      const v = verdict({
        measured,
        op,
        threshold,
        kind: unit,
        invalid:
          invalid ??
          (what.includes('after publish') ? withoutPublishTimeWhy(r) : undefined) ??
          (what.includes('relay') ? relayShort : undefined),
      });
      lines.push(
        `| ${r.items.toLocaleString('en')} | ${what} | ${f(measured, unit === 'ms' ? 1 : 0)} ${unit} | ${f(threshold, unit === 'ms' ? 1 : 0)} ${unit} | ${renderResult(v)} |`,
      );
    }
  }
  lines.push(END);
  const section = lines.slice(1, -1).join('\n');
  console.log(section);
  await stopChild(broker.child);
  const decision = guard.write(DOC, START, END, section, {
    // Smaller loads (development) are not the suite's figures: printed, not written.
    partial: [
      'BENCH_OPCUA_ITEMS',
      'BENCH_OPCUA_SECONDS',
      'BENCH_OPCUA_WARMUP',
      'BENCH_OPCUA_PUBLISH_TIME',
      'BENCH_OPCUA_SINK',
    ].some((k) => process.env[k]),
    forceWrite: ['1', 'true', 'yes'].includes(String(process.env.BENCH_WRITE ?? '').toLowerCase()),
  });
  process.exit(decision.write || guard.dry ? 0 : 3);
}

if (role === 'bare') await bareClient();
else if (role === 'relay') await relayClient();
else if (role === 'receiver') await receiver();
else await orchestrate();
