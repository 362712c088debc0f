// Targets, the markdown section, and docs/benchmarks.md.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';

export const START = '<!-- bench:start -->';
export const END = '<!-- bench:end -->';

const INTRO = `# Benchmarks

\`npm run bench\` measures an MQTT -> map -> MQTT relay: messages published to \`bench/in\`, a transform
that changes one field of the JSON payload, and the result published to \`bench/out\`. The same load
goes through each relay in turn, on the same private Mosquitto, on the same machine:

- **bare relay**: a dozen lines on mqtt.js (\`bench/peers/bare-relay.js\`): subscribe, \`JSON.parse\`, set a
  field, publish. The floor: what any Node.js relay costs before it does anything useful.
- **Node-RED**: mqtt in (parsed JSON) -> function node (\`msg.payload.relayed = true\`) -> mqtt out, the flow a
  Node-RED user would draw.
- **passerelle**, memory outbox, QoS 0 in and out; and **passerelle**, Redis outbox, QoS 1 in and out with
  a persistent session (the at-least-once set-up).

How it measures (details in \`bench/README.md\`):

- A load generator and a receiver run in their own processes. Each message is 200 bytes of JSON with
  a send timestamp on the machine's monotonic clock; the receiver counts unique messages, duplicates
  and messages the relay did not change, and computes end-to-end latency.
- **Throughput**: N messages as fast as the relay takes them, with at most a window of messages sent
  but not yet received (closed loop), so that a relay is measured at the rate it sustains rather than
  by how much the broker can queue for it. Throughput = messages received / (last receive − first send).
  With QoS 0 a relay may lose messages: received/sent says how many.
- **CPU**: user + system seconds of the relay process and its children (from \`/proc/<pid>/stat\`), per
  100,000 messages received, during the throughput run. The broker's CPU is shown for context.
- **Latency**: p50/p99 of publish -> receive at a fixed offered rate (open loop).
- **Peak RSS**: the larger of the relay's \`VmHWM\` and the peak of its process tree's \`VmRSS\` sampled
  every 250 ms under load (MB = 10^6 bytes).
- Every relay shares the machine with the broker, the generator and the receiver: on a 2-core machine
  the figures are a comparison between relays under the same conditions, not a ceiling for any of them.
- The broker runs with \`set_tcp_nodelay true\` and the generator sets \`TCP_NODELAY\`: otherwise
  Nagle's algorithm and delayed ACKs on the QoS 0 legs add 20–40 ms at 2,000 msg/s even with no relay,
  and the latency would measure TCP rather than the relay. The *no relay* row shows the floor.

The section below is replaced by each \`npm run bench\`.
`;

function fmt(v, digits = 0) {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '–';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(num, den) {
  if (!den) return '–';
  const pct = (num / den) * 100;
  return `${num.toLocaleString('en-US')}/${den.toLocaleString('en-US')}${num === den ? '' : ` (${fmt(pct, 2)} %)`}`;
}

/**
 * The targets from the bench brief. Each row: what, measured, threshold, result (PASS, FAIL, or
 * "not measured" when the relay, or its baseline, did not run).
 */
export function evaluateTargets(results) {
  const mem = results.get('passerelle-memory-q0');
  const red = results.get('passerelle-redis-q1');
  const bare = results.get('bare-q0');
  const nr = results.get('node-red-q0');
  const rows = [];
  const add = (relay, what, measured, threshold, pass, unit = '') =>
    rows.push({
      relay,
      what,
      measured,
      threshold,
      unit,
      result: pass === null ? 'not measured' : pass ? 'PASS' : 'FAIL',
    });
  const both = (a, b) => a != null && b != null && Number.isFinite(a) && Number.isFinite(b);

  const memTp = mem?.throughput;
  const memCpu = mem?.cpuPer100k;
  add(
    'memory, QoS 0',
    'throughput ≥ bare relay − 5 %',
    memTp,
    both(memTp, bare?.throughput) ? bare.throughput * 0.95 : null,
    both(memTp, bare?.throughput) ? memTp >= bare.throughput * 0.95 : null,
    'msg/s',
  );
  add(
    'memory, QoS 0',
    'CPU per message ≤ 0.6 × Node-RED (QoS 0)',
    memCpu,
    both(memCpu, nr?.cpuPer100k) ? nr.cpuPer100k * 0.6 : null,
    both(memCpu, nr?.cpuPer100k) ? memCpu <= nr.cpuPer100k * 0.6 : null,
    's/100k',
  );
  add(
    'memory, QoS 0',
    'p99 at the offered rate ≤ 25 ms',
    mem?.p99,
    25,
    mem?.p99 != null ? mem.p99 <= 25 : null,
    'ms',
  );
  add(
    'memory, QoS 0',
    'peak RSS under load ≤ 150 MB',
    mem?.rssPeakMB,
    150,
    mem?.rssPeakMB != null ? mem.rssPeakMB <= 150 : null,
    'MB',
  );

  const redTp = red?.throughput;
  const redCpu = red?.cpuPer100k;
  add(
    'Redis, QoS 1',
    'throughput ≥ Node-RED QoS 0',
    redTp,
    nr?.throughput ?? null,
    both(redTp, nr?.throughput) ? redTp >= nr.throughput : null,
    'msg/s',
  );
  add(
    'Redis, QoS 1',
    'CPU per message ≤ Node-RED (QoS 0)',
    redCpu,
    nr?.cpuPer100k ?? null,
    both(redCpu, nr?.cpuPer100k) ? redCpu <= nr.cpuPer100k : null,
    's/100k',
  );
  add(
    'Redis, QoS 1',
    'p99 at the offered rate ≤ 50 ms',
    red?.p99,
    50,
    red?.p99 != null ? red.p99 <= 50 : null,
    'ms',
  );
  add(
    'Redis, QoS 1',
    'peak RSS under load ≤ 150 MB',
    red?.rssPeakMB,
    150,
    red?.rssPeakMB != null ? red.rssPeakMB <= 150 : null,
    'MB',
  );
  return rows;
}

export function renderSection({
  cfg,
  cond,
  relays,
  results,
  failures,
  targets,
  notes,
  nodeRed,
  payloadBytes,
  expression,
  durationSeconds,
}) {
  const L = [];
  L.push(`## Results — ${cond.date}`, '');
  L.push('### Conditions', '');
  L.push('| | |', '| --- | --- |');
  L.push(
    `| machine | ${cond.cores} cores, ${cond.cpuModel}, ${fmt(cond.ramGiB, 1)} GiB RAM, Linux ${cond.kernel} |`,
  );
  L.push(`| Node.js | ${cond.node} (mqtt.js ${cond.mqtt} for the bare relay, generator and receiver) |`);
  L.push(
    `| Mosquitto | ${cond.mosquitto}, private instance on loopback: persistence off, \`max_queued_messages 1000000\`, \`max_inflight_messages 1000\`, \`set_tcp_nodelay true\` |`,
  );
  L.push(
    `| Redis | ${cond.redis}, private instance per run, no RDB, no AOF, \`maxmemory-policy noeviction\` |`,
  );
  const nrInstall =
    nodeRed.installSeconds == null
      ? ''
      : nodeRed.cached
        ? `, already in \`.bench/node-red\`${nodeRed.installSeconds > 0 ? ` (its install from npm took ${fmt(nodeRed.installSeconds, 0)} s)` : ''}`
        : `, installed from npm by this run in ${fmt(nodeRed.installSeconds, 0)} s`;
  L.push(
    `| Node-RED | ${nodeRed.version ?? 'not installed'} (last release line for Node 20; 5.x needs Node ≥ 22.9)${nrInstall} |`,
  );
  L.push(
    `| payload | ${payloadBytes}-byte JSON object; the relay adds \`"relayed": true\` (passerelle: \`${expression}\`) |`,
  );
  L.push(
    `| throughput run | ${fmt(cfg.messages)} messages after ${fmt(cfg.warmup)} of warm-up; at most ${fmt(cfg.window)} sent and not yet received, ${fmt(cfg.inflight)} publishes awaiting their callback |`,
  );
  L.push(
    `| latency run | ${fmt(cfg.rate)} msg/s offered for ${fmt(cfg.latencySeconds)} s (${fmt(Math.round(cfg.rate * cfg.latencySeconds))} messages) |`,
  );
  L.push(
    `| runs | ${cfg.repeat} per relay${cfg.repeat > 1 ? ' (medians shown; counts summed)' : ' (`BENCH_REPEAT` for more)'}; bench took ${fmt(durationSeconds / 60, 1)} min |`,
  );
  L.push(
    `| machine load | load average ${cond.loadavg.map((x) => fmt(x, 2)).join(' / ')} (1 / 5 / 15 min) when the bench started; see "other CPU" below |`,
  );
  L.push('');

  L.push('### Figures', '');
  L.push(
    '| relay | QoS | outbox | throughput (msg/s) | received / sent | relay CPU (s per 100k) | broker CPU (s per 100k) | p50 (ms) | p99 (ms) | max (ms) | received / sent at rate | relay CPU at rate | peak RSS (MB) | other CPU (cores) |',
  );
  L.push('| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |');
  for (const relay of relays) {
    const r = results.get(relay.name);
    const failed = failures.find((f) => f.relay === relay);
    const name = `${relay.label}${relay.context ? ' *(context)*' : ''}`;
    if (!r) {
      L.push(
        `| ${name} | ${relay.qos} | ${relay.outbox} | **not measured** (${failed ? failed.reason.split(':')[0] : 'skipped'}) | | | | | | | | | | |`,
      );
      continue;
    }
    const extra = [];
    if (r.tpDups) extra.push(`${fmt(r.tpDups)} duplicates`);
    if (relay.kind !== 'direct' && (r.tpUnchanged || r.latUnchanged))
      extra.push(`${fmt(r.tpUnchanged + r.latUnchanged)} not changed by the relay`);
    if (r.tpTimedOut) extra.push('timed out');
    L.push(
      `| ${name} | ${relay.qos} | ${relay.outbox} | ${fmt(r.throughput)} | ${ratio(r.tpReceived, r.tpSent)}${extra.length ? ` (${extra.join(', ')})` : ''} | ${fmt(r.cpuPer100k, 2)} | ${fmt(r.brokerCpuPer100k, 2)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.max, 1)} | ${r.latSent ? ratio(r.latReceived, r.latSent) : '–'} | ${Number.isFinite(r.cpuPercentAtRate) ? `${fmt(r.cpuPercentAtRate, 0)} %` : '–'} | ${fmt(r.rssPeakMB, 0)} | ${fmt(r.foreignCores, 2)}${r.foreignCores > 0.2 ? ' ⚠' : ''} |`,
    );
  }
  L.push('');
  L.push(
    '*Other CPU*: cores used on average by processes outside the bench (other builds, tests) during the run, the larger of the throughput and latency runs; ⚠ above 0.2: that row is likely slowed down, run it again on a quiet machine (`BENCH_ONLY=<name>`).',
    '',
  );
  const withRedis = relays.map((x) => results.get(x.name)).find((r) => r?.redisCpuPer100k != null);
  if (withRedis)
    L.push(
      `Redis server CPU during the Redis-outbox throughput run: ${fmt(withRedis.redisCpuPer100k, 2)} s per 100k messages (not included in the relay's CPU).`,
      '',
    );

  L.push('### Targets', '');
  L.push('| passerelle | target | measured | threshold | result |', '| --- | --- | ---: | ---: | --- |');
  for (const t of targets) {
    const digits = t.unit === 's/100k' || t.unit === 'ms' ? 2 : 0;
    const result = t.result === 'PASS' ? 'PASS' : t.result === 'FAIL' ? '**FAIL**' : '**not measured**';
    L.push(
      `| ${t.relay} | ${t.what} | ${t.measured == null ? '–' : `${fmt(t.measured, digits)} ${t.unit}`} | ${t.threshold == null ? '–' : `${fmt(t.threshold, digits)} ${t.unit}`} | ${result} |`,
    );
  }
  L.push('');

  if (failures.length > 0) {
    L.push('### Not measured', '');
    for (const f of failures) {
      const [head, ...rest] = f.reason.split('\n');
      L.push(`- **${f.relay.name}**: ${head}`);
      const body = rest.filter((l) => l.trim()).slice(-10);
      if (body.length) L.push('', '  ```text', ...body.map((l) => `  ${l}`), '  ```');
    }
    L.push('');
  }
  if (notes.length > 0) {
    L.push('### Notes', '');
    for (const n of notes) L.push(`- ${n}`);
    L.push('');
  }
  return L.join('\n').trimEnd();
}

export function writeDocs(file, section) {
  let text = existsSync(file) ? readFileSync(file, 'utf8') : `${INTRO}\n${START}\n${END}\n`;
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a === -1 || b === -1 || b < a) text = `${text.trimEnd()}\n\n${START}\n${END}\n`;
  const s = text.indexOf(START);
  const e = text.indexOf(END);
  text = `${text.slice(0, s + START.length)}\n${section}\n${text.slice(e)}`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/** The commit a run measured: the short hash, marked when the code differs from it (results written by an earlier suite of the same run do not count). */
export function measuredCommit() {
  const git = (...args) => spawnSync('git', args, { encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD').stdout.trim() || 'unknown';
  const dirty =
    git('status', '--porcelain', '--untracked-files=no', '--', '.', ':!docs/benchmarks.md').stdout.trim() !==
    '';
  return dirty ? `${head} with uncommitted changes` : head;
}
