// Load generator: its own process, one MQTT connection, driven by the bench over IPC.
// Two modes per phase:
//  - rate 0 (max throughput): closed loop. At most `window` messages are sent but not yet seen by
//    the receiver (the bench forwards the receiver's count), and at most `inflight` publishes are
//    waiting for their callback (QoS 1: PUBACK; QoS 0: written to the socket). If nothing arrives
//    for `stallMs` with the window full, the missing messages are written off as lost (QoS 0)
//    and the window reopens, so a lossy relay cannot stall the run.
//  - rate R: open loop, paced to R msg/s from the phase start, still bounded by `inflight`.
import * as mqtt from 'mqtt';
import { makePayload, nowMs, PAYLOAD_BYTES } from '../lib/payload.js';

const PAYLOAD_SIZE = Number(process.env.BENCH_PAYLOAD_BYTES ?? PAYLOAD_BYTES);

const url = process.env.BENCH_BROKER;
const topic = process.env.BENCH_TOPIC_IN ?? 'bench/in';
const client = mqtt.connect(url, {
  clientId: `bench-gen-${process.pid}`,
  clean: true,
  reconnectPeriod: 500,
  queueQoSZero: false,
});
client.on('error', (err) => process.send?.({ type: 'error', message: String(err) }));

let received = 0;
let stopRequested = false;
let wake = null;
function poke() {
  if (wake) {
    const w = wake;
    wake = null;
    w();
  }
}
function sleep(ms) {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      wake = null;
      resolve();
    }, ms);
    wake = () => {
      clearTimeout(t);
      resolve();
    };
  });
}

async function runPhase({ phase, count, rate, window, inflight, qos, stallMs }) {
  received = 0;
  stopRequested = false;
  let sent = 0;
  let pending = 0;
  let writtenOff = 0;
  let stalls = 0;
  let lastProgress = nowMs();
  let lastReceived = 0;
  let errors = 0;
  const t0 = nowMs();
  const onSent = (err) => {
    pending--;
    if (err) errors++;
    poke();
  };
  while (sent < count && !stopRequested) {
    const now = nowMs();
    if (received !== lastReceived) {
      lastReceived = received;
      lastProgress = now;
    }
    let budget;
    if (rate > 0) {
      budget = Math.min(count, Math.floor(((now - t0) * rate) / 1000) + 1) - sent;
    } else {
      const open = window - (sent - received - writtenOff);
      if (open <= 0 && now - lastProgress > stallMs) {
        writtenOff = sent - received;
        stalls++;
        lastProgress = now;
        continue;
      }
      budget = Math.min(count - sent, open);
    }
    budget = Math.min(budget, inflight - pending);
    for (let i = 0; i < budget; i++) {
      const id = sent++;
      pending++;
      client.publish(topic, makePayload(phase, id, nowMs(), PAYLOAD_SIZE), { qos }, onSent);
    }
    // Paced: wake every millisecond. Closed loop: yield (so the socket and callbacks run), or
    // wait for the receiver's count when the window is full.
    if (rate > 0) await sleep(1);
    else await sleep(budget > 0 ? 0 : 20);
  }
  const t1 = nowMs();
  const deadline = Date.now() + 10_000;
  while (pending > 0 && Date.now() < deadline) await sleep(20);
  return { sent, t0, t1, stalls, errors, unconfirmed: pending };
}

process.on('message', async (msg) => {
  if (msg.type === 'received') {
    received = msg.received;
    poke();
  } else if (msg.type === 'stop') {
    stopRequested = true;
    poke();
  } else if (msg.type === 'run') {
    const result = await runPhase(msg);
    process.send({ type: 'done', phase: msg.phase, ...result });
  } else if (msg.type === 'exit') {
    client.end(false, {}, () => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  }
});
process.on('disconnect', () => process.exit(0));
// No Nagle on the generator's socket: with QoS 0 the broker sends nothing back, so small writes
// would wait for delayed ACKs (tens of ms) and the bench would measure TCP, not the relay.
client.on('connect', () => client.stream?.setNoDelay?.(true));
client.once('connect', () => process.send({ type: 'ready' }));
