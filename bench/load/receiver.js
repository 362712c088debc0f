// Receiver: its own process, subscribed to the relay's output. Counts unique messages of the
// current phase, duplicates, messages the relay did not change, and end-to-end latency (receive
// time minus the send timestamp in the payload, both on the machine's monotonic clock).
import * as mqtt from 'mqtt';
import { nowMs, readRelayed } from '../lib/payload.js';

const url = process.env.BENCH_BROKER;
const topic = process.env.BENCH_TOPIC_OUT ?? 'bench/out';
const qos = Number(process.env.BENCH_QOS ?? 0);

let phase = null;
let seen = new Uint8Array(0);
let lat = new Float64Array(0);
let unique = 0;
let dups = 0;
let unchanged = 0;
let foreign = 0;
let firstAt = 0;
let lastAt = 0;
let reported = -1;

const client = mqtt.connect(url, {
  clientId: `bench-recv-${process.pid}`,
  clean: true,
  reconnectPeriod: 500,
});
client.on('error', (err) => process.send?.({ type: 'error', message: String(err) }));
client.on('message', (_topic, buf) => {
  const t = nowMs();
  const m = readRelayed(buf);
  if (!m) {
    // Not the bench's message (or a relay that lost its fields): tell the bench once in a while.
    if (foreign++ % 1000 === 0)
      process.send({ type: 'foreign', count: foreign, sample: buf.toString().slice(0, 300) });
    return;
  }
  if (m.phase !== phase || !(m.id >= 0 && m.id < seen.length)) return; // a straggler from an earlier phase
  if (seen[m.id]) {
    dups++;
    return;
  }
  seen[m.id] = 1;
  lat[unique++] = t - m.ts;
  if (!m.relayed) unchanged++;
  if (firstAt === 0) firstAt = t;
  lastAt = t;
});
client.once('connect', () => {
  client.subscribe(topic, { qos }, (err) => {
    if (err) process.send({ type: 'error', message: `subscribe: ${err}` });
    else process.send({ type: 'ready' });
  });
});

setInterval(() => {
  if (phase !== null && unique !== reported) {
    reported = unique;
    process.send({ type: 'progress', phase, received: unique });
  }
}, 10);

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

process.on('message', (msg) => {
  if (msg.type === 'phase') {
    phase = msg.phase;
    seen = new Uint8Array(msg.expect);
    lat = new Float64Array(msg.expect);
    unique = dups = unchanged = foreign = 0;
    firstAt = lastAt = 0;
    reported = -1;
    process.send({ type: 'phase-ok', phase });
  } else if (msg.type === 'report') {
    const sorted = lat.slice(0, unique).sort();
    process.send({
      type: 'report',
      phase,
      received: unique,
      dups,
      unchanged,
      foreign,
      firstAt,
      lastAt,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1] : null,
    });
  } else if (msg.type === 'exit') {
    client.end(false, {}, () => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  }
});
process.on('disconnect', () => process.exit(0));
