// The relay suite's targets and markdown section; the commit a run measured.
import { quietLine, renderResult, sectionHeading, throughputVerdict, verdict } from './honest.js';

export { measuredCommit } from './honest.js';

export const START = '<!-- bench:start -->';
export const END = '<!-- bench:end -->';

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
 * Issue 17's targets, judged on the tuned-broker scenario only, each as written (bench/lib/honest.js
 * `verdict`): PASS, FAIL, or not measured when the relay or its baseline did not run.
 */
export function evaluateTargets(results, cores) {
  const get = (name) => results.get(`tuned:${name}`);
  const mem = get('passerelle-memory-q0');
  const red = get('passerelle-redis-q1');
  const bare0 = get('bare-q0');
  const bare1 = get('bare-q1');
  const rows = [];
  const add = (relay, what, unit, v, measured, threshold, runs) =>
    rows.push({ relay, what, unit, measured, threshold, runs: runs ?? [], ...v });
  const limit = (relay, r, what, key, op, threshold, unit) =>
    add(
      relay,
      what,
      unit,
      verdict({ measured: r?.[key] ?? null, op, threshold, kind: unit }),
      r?.[key],
      threshold,
      r?.runValues?.[key],
    );

  limit('memory, QoS 0', mem, 'idle RSS ≤ 60 MB', 'idleRssMB', '<=', 60, 'MB');
  limit('Redis, QoS 1', red, 'idle RSS ≤ 75 MB', 'idleRssMB', '<=', 75, 'MB');
  limit('memory, QoS 0', mem, 'peak RSS during the flood ≤ 120 MB', 'rssPeakMB', '<=', 120, 'MB');
  limit('Redis, QoS 1', red, 'peak RSS during the flood ≤ 120 MB', 'rssPeakMB', '<=', 120, 'MB');
  for (const [relay, r, base, factor, baseName] of [
    ['memory, QoS 0', mem, bare0, 1.2, 'bare QoS 0'],
    ['Redis, QoS 1', red, bare1, 1.1, 'bare QoS 1'],
  ]) {
    const threshold = base?.cpuPer100k == null ? null : base.cpuPer100k * factor;
    add(
      relay,
      `CPU per message ≤ ${factor} × ${baseName}`,
      's/100k',
      verdict({ measured: r?.cpuPer100k ?? null, op: '<=', threshold, kind: 'cpu s' }),
      r?.cpuPer100k,
      threshold,
      r?.runValues?.cpuPer100k,
    );
  }
  for (const [relay, r, base, baseName] of [
    ['memory, QoS 0', mem, bare0, 'bare QoS 0'],
    ['Redis, QoS 1', red, bare1, 'bare QoS 1'],
  ]) {
    add(
      relay,
      `throughput ≥ 0.95 × ${baseName}`,
      'msg/s',
      throughputVerdict({
        measured: r?.throughput ?? null,
        baseline: base?.throughput ?? null,
        factor: 0.95,
        measuredBusy: r?.machineBusyCores,
        baselineBusy: base?.machineBusyCores,
        cores,
      }),
      r?.throughput,
      base?.throughput == null ? null : base.throughput * 0.95,
      r?.runValues?.throughput,
    );
  }
  return rows;
}

function figuresTable(L, scenario, relays, results, failures, withLatency, withIdle) {
  const head = [
    'relay',
    'QoS',
    'outbox',
    'msg/s',
    'received / sent',
    'relay CPU (s per 100k)',
    'broker CPU (s per 100k)',
  ];
  if (withLatency) head.push('p50 (ms)', 'p99 (ms)', 'max (ms)', 'received / sent at rate');
  head.push('peak RSS in the flood (MB)');
  if (withIdle) head.push('idle RSS (MB)');
  head.push('machine busy (cores)', 'other processes (cores)');
  L.push(`| ${head.join(' | ')} |`);
  L.push(`| ${head.map((h, i) => (i < 3 || h.startsWith('received') ? '---' : '---:')).join(' | ')} |`);
  for (const relay of relays) {
    if (!scenario.relays.includes(relay.name)) continue;
    const r = results.get(`${scenario.name}:${relay.name}`);
    const failed = failures.find((f) => f.relay === relay && f.scenario === scenario.name);
    const name = `${relay.label}${relay.context ? ' *(context)*' : ''}`;
    if (!r) {
      const cells = [
        name,
        relay.qos,
        relay.outbox,
        `**not measured** (${failed ? failed.reason.split(':')[0] : 'skipped'})`,
      ];
      while (cells.length < head.length) cells.push('');
      L.push(`| ${cells.join(' | ')} |`);
      continue;
    }
    const extra = [];
    if (r.tpDups) extra.push(`${fmt(r.tpDups)} duplicates`);
    if (relay.kind !== 'direct' && (r.tpUnchanged || r.latUnchanged))
      extra.push(`${fmt(r.tpUnchanged + r.latUnchanged)} without the relay's work`);
    if (r.tpTimedOut) extra.push('timed out');
    const cells = [
      name,
      relay.qos,
      relay.outbox,
      fmt(r.throughput),
      `${ratio(r.tpReceived, r.tpSent)}${extra.length ? ` (${extra.join(', ')})` : ''}`,
      fmt(r.cpuPer100k, 2),
      fmt(r.brokerCpuPer100k, 2),
    ];
    if (withLatency)
      cells.push(
        fmt(r.p50, 2),
        fmt(r.p99, 2),
        fmt(r.max, 1),
        r.latSent ? ratio(r.latReceived, r.latSent) : '–',
      );
    cells.push(relay.kind === 'direct' ? '–' : fmt(r.rssPeakMB, 0));
    if (withIdle) cells.push(fmt(r.idleRssMB, 1));
    cells.push(fmt(r.machineBusyCores, 2), fmt(r.foreignCores, 2));
    L.push(`| ${cells.join(' | ')} |`);
  }
  L.push('');
}

export function renderSection({
  cfg,
  cond,
  scenarios,
  relays,
  results,
  failures,
  targets,
  notes,
  guard,
  nodeRed,
  payloadBytes,
  transforms,
  durationSeconds,
}) {
  const L = [];
  L.push(sectionHeading('MQTT relay'), '');
  L.push(quietLine(guard), '');
  L.push('### Conditions', '');
  L.push('| | |', '| --- | --- |');
  L.push(
    `| machine | ${cond.cores} cores, ${cond.cpuModel}, ${fmt(cond.ramGiB, 1)} GiB RAM, Linux ${cond.kernel} |`,
  );
  L.push(`| Node.js | ${cond.node} (mqtt.js ${cond.mqtt} for the bare relay, generator and receiver) |`);
  L.push(
    `| Mosquitto | ${cond.mosquitto}, one private instance per scenario on loopback, persistence off; tuned: \`max_queued_messages 1000000\`, \`max_queued_bytes 0\`, \`max_inflight_messages 1000\`, \`set_tcp_nodelay true\`; defaults: none of these |`,
  );
  L.push(`| Redis | ${cond.redis}, private instance per run, no RDB, no AOF |`);
  const nrInstall =
    nodeRed.installSeconds == null
      ? ''
      : nodeRed.cached
        ? ', already in `.bench/node-red`'
        : `, installed from npm by this run in ${fmt(nodeRed.installSeconds, 0)} s`;
  L.push(
    `| Node-RED | ${nodeRed.version ?? 'not installed'} (last release line for Node 20), one function node${nrInstall} |`,
  );
  L.push(
    `| message | ${payloadBytes}-byte JSON object; every relay converts \`temperature\` from degC to degF (one decimal) and adds \`site\` and \`relayed\` (passerelle: ${transforms.map((t) => `\`${t}\``).join(', ')}) |`,
  );
  L.push(
    `| flood | ${fmt(cfg.messages)} messages after ${fmt(cfg.warmup)} of warm-up; at most ${fmt(cfg.window)} sent and not yet received, ${fmt(cfg.inflight)} publishes awaiting their callback |`,
  );
  L.push(
    `| latency run | tuned broker only: ${fmt(cfg.rate)} msg/s offered for ${fmt(cfg.latencySeconds)} s |`,
  );
  L.push(
    `| idle | \`passerelle run\` with the one mqtt -> mqtt pipeline and the two transforms above, RSS of its process tree ${fmt(cfg.idleSeconds)} s after its first message; the bare relay and Node-RED measured the same way, for comparison |`,
  );
  L.push(
    `| runs | ${cfg.repeat} per relay and scenario${cfg.judgedRuns > cfg.repeat ? `, ${cfg.judgedRuns} for the relays the targets judge (tuned broker)` : ''}${Math.max(cfg.repeat, cfg.judgedRuns) > 1 ? ' (medians shown, the worst run for idle and peak RSS; counts summed)' : ''}; the bench took ${fmt(durationSeconds / 60, 1)} min |`,
  );
  L.push('');

  for (const scenario of scenarios) {
    L.push(`### ${scenario.title}`, '');
    figuresTable(L, scenario, relays, results, failures, scenario.latency, scenario.idle);
  }
  L.push(
    '*Machine busy*: cores busy on the whole machine during the flood (every process: broker, generator, receiver, relay, and the two spinning processes in the busy scenario). *Other processes*: cores used meanwhile by processes the bench did not start; a run writes this section only when that stays at or under the limit in every window.',
    '',
  );
  L.push(
    "*Relay CPU* is CPU time: even on a quiet machine it moves with what the hardware does meanwhile (between two quiet runs the broker's own CPU per 100k messages doubled). To compare passerelle's CPU per message across commits or against the bare relay on a shared machine, count instructions instead: `node bench/instructions.js bare-q0 passerelle-memory-q0` (after `npm run build`) runs each relay under valgrind's callgrind on a private Mosquitto, relays a closed-loop flood (at most 500 messages unreceived, so the relay is never flooded past what it takes under valgrind), starts counting after the warm-up (`callgrind_control`) and divides the instructions of every thread of the relay (JavaScript, garbage collector, compiler, libuv) by the messages received. The count does not depend on the machine's load; it still moves with batching and with V8's compile and GC timing (whether a full collection falls inside the counted window moves it by up to 10 %; the script prints the GC and compiler shares), so only figures taken with the same settings compare, repeated.",
    '',
  );
  const withRedis = [...results.values()].find((r) => r?.redisCpuPer100k != null);
  if (withRedis)
    L.push(
      `Redis server CPU during the Redis-outbox flood: ${fmt(withRedis.redisCpuPer100k, 2)} s per 100k messages (not included in passerelle's CPU above).`,
      '',
    );

  L.push('### Targets (tuned broker)', '');
  L.push('| passerelle | target | measured | threshold | result |', '| --- | --- | ---: | ---: | --- |');
  for (const t of targets) {
    const digits = t.unit === 's/100k' ? 2 : t.unit === 'MB' ? 1 : 0;
    const runs = t.runs.length > 1 ? ` (runs: ${t.runs.map((v) => fmt(v, digits)).join(' / ')})` : '';
    L.push(
      `| ${t.relay} | ${t.what} | ${t.measured == null ? '–' : `${fmt(t.measured, digits)} ${t.unit}${runs}`} | ${t.threshold == null ? '–' : `${fmt(t.threshold, digits)} ${t.unit}`} | ${renderResult(t)} |`,
    );
  }
  L.push('');
  const judgedRuns = ['bare-q0', 'bare-q1']
    .map((name) => [name, results.get(`tuned:${name}`)])
    .filter(([, r]) => r?.runs > 1);
  if (cfg.judgedRuns > 1)
    L.push(
      `The relays these targets judge ran ${cfg.judgedRuns} times each, in rounds (bare, passerelle, bare, passerelle...), so that a pair shares its conditions. CPU per message and throughput are the medians of the runs, against the bare relay's median; idle and peak RSS are the worst run, since a ceiling must hold in every run.${judgedRuns.length > 0 ? ` Bare relay runs: ${judgedRuns.map(([name, r]) => `${name} ${(r.runValues.cpuPer100k ?? []).map((v) => fmt(v, 2)).join(' / ')} s/100k, ${(r.runValues.throughput ?? []).map((v) => fmt(v, 0)).join(' / ')} msg/s`).join('; ')}.` : ''}`,
      '',
    );
  // The idle targets are absolute: the peers' idle RSS in the same run says what Node and mqtt.js alone take.
  const peersIdle = relays
    .filter((r) => r.kind !== 'passerelle')
    .map((r) => [r, results.get(`tuned:${r.name}`)?.idleRssMB])
    .filter(([, mb]) => Number.isFinite(mb));
  if (peersIdle.length > 0)
    L.push(
      `Idle RSS of the peers in the same run, measured as passerelle's: ${peersIdle.map(([r, mb]) => `${r.label} QoS ${r.qos} ${fmt(mb, 1)} MB`).join(', ')}.`,
      '',
    );

  if (failures.length > 0) {
    L.push('### Not measured', '');
    for (const f of failures) {
      const [head, ...rest] = f.reason.split('\n');
      L.push(`- **${f.scenario}/${f.relay.name}**: ${head}`);
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
