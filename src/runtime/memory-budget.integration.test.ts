import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/conformance/context.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import { TcpProxy } from '../../test/harness/tcp-proxy.js';
import { loadPipelineTexts } from '../config/index.js';
import { createMemoryBackend } from '../outbox/index.js';
import { builtinRegistry } from '../registry/index.js';
import { MemoryBudget, silentLogger } from '../sdk/index.js';
import { toPlan } from './plan.js';
import { Service } from './service.js';

/*
 * The process's memory budget under a flood four times its size, MQTT -> memory outbox -> MQTT on
 * real brokers. The sink's broker holds its acknowledgements until the budget is spent, so the
 * outbox fills; the source must then pause (PUBACKs held, the broker keeps the rest), and deliver
 * everything once the sink moves again. Bounded memory is shown by the budget's own counters.
 */

let source: ServiceHandle;
let target: ServiceHandle;
let proxy: TcpProxy;

beforeAll(async () => {
  [source, target] = await Promise.all([startMosquitto(), startMosquitto()]);
  proxy = new TcpProxy(Number(new URL(target.url).port));
  await proxy.start();
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([source, target].map((h) => h?.dispose()));
});

const N = 4000;
const PAD = 'x'.repeat(1000);
const LIMIT = 1024 * 1024;
const BATCH = 50;

describe('memory budget', { timeout: 120_000 }, () => {
  it('a flood four times the budget is delivered completely while the messages held stay within it', async () => {
    const yaml = [
      'name: flood',
      'source:',
      `  { type: mqtt, url: ${source.url}, topics: [flood/in], qos: 1, cleanSession: false, clientId: flood-relay, batchSize: ${BATCH} }`,
      'sinks:',
      `  - { type: mqtt, url: mqtt://127.0.0.1:${proxy.port}, topic: flood/out, qos: 1, writeTimeout: 60s, batch: { count: ${BATCH} }, retry: { initialDelay: 50ms, maxDelay: 500ms } }`,
      '',
    ].join('\n');
    const budget = new MemoryBudget(LIMIT);
    const service = await serviceOf(yaml, budget);

    const { collector, seen } = await collect('flood/out');

    await service.start();
    try {
      await waitFor(() => service.pipelines[0]?.ready(), 'pipeline ready', 20_000);
      // The sink's broker stops acknowledging: its first batch waits, the outbox fills.
      proxy.pause();
      const publisher = await mqtt.connectAsync(source.url, { clientId: `flood-pub-${process.pid}` });
      const published = publish(publisher, 'flood/in', N);
      // The budget is spent and the source waits for room: nothing more is taken from the broker.
      await waitFor(
        () => budget.waits > 0 && budget.exhausted,
        'the source paused on the spent budget',
        60_000,
      );
      const taken = (await counter(service, 'passerelle_messages_received_total')) ?? 0;
      expect(taken).toBeLessThan(N);
      proxy.resume();
      await published;
      await waitFor(() => seen.size === N, `all ${N} messages downstream (have ${seen.size})`, 90_000);
      await publisher.endAsync();
      expect(await counter(service, 'passerelle_messages_received_total')).toBe(N);
      expect(await counter(service, 'passerelle_messages_dropped_total')).toBe(0);
      // Held bytes never went past the budget by more than one batch: a batch the outbox stores is
      // counted there before the source's delivery (counted by its inbox) is acknowledged.
      const message = JSON.stringify({ seq: N, pad: PAD }).length + 64;
      expect(budget.peak).toBeGreaterThanOrEqual(LIMIT);
      expect(budget.peak).toBeLessThanOrEqual(LIMIT + 2 * BATCH * message);
      await waitFor(() => budget.used === 0, 'every byte given back once delivered');
    } finally {
      await service.stop();
      await collector.endAsync();
    }
    expect(budget.used).toBe(0);
  });
});

describe('memory budget and sink batches', { timeout: 120_000 }, () => {
  // The budget holds ~240 of these messages, the source's window (receiveMaximum) 1,000 and the
  // sink's batch 5,000: once the budget is spent nothing more comes in, so waiting for the batch to
  // fill would wait its whole maxWait (an hour here).
  it('stores open batches as soon as the budget is spent instead of after their maxWait', async () => {
    const n = 1000;
    const yaml = [
      'name: patient',
      'source:',
      `  { type: mqtt, url: ${source.url}, topics: [patient/in], qos: 1, cleanSession: false, clientId: patient-relay }`,
      'sinks:',
      `  - { type: mqtt, url: ${target.url}, topic: patient/out, qos: 1, batch: { count: 5000, maxWait: 1h } }`,
      '',
    ].join('\n');
    const budget = new MemoryBudget(256 * 1024);
    const service = await serviceOf(yaml, budget);
    const { collector, seen } = await collect('patient/out');
    await service.start();
    try {
      await waitFor(() => service.pipelines[0]?.ready(), 'pipeline ready', 20_000);
      const publisher = await mqtt.connectAsync(source.url, { clientId: `patient-pub-${process.pid}` });
      await publish(publisher, 'patient/in', n);
      await publisher.endAsync();
      // Everything but the last open batch, which is less than the budget holds and now rightly
      // waits for more messages or its maxWait.
      const budgetHolds = Math.floor(budget.limit / (JSON.stringify({ seq: 0, pad: PAD }).length + 64));
      await waitFor(
        () => seen.size >= n - budgetHolds,
        `all but the last open batch downstream (have ${seen.size})`,
        60_000,
      );
      expect(budget.waits).toBeGreaterThan(0);
    } finally {
      // Stopping stores the open batch at once (it no longer waits out the shutdown timeout).
      await service.stop();
    }
    // What the source had not taken when it stopped stays with the broker (a persistent session,
    // acknowledgements held until stored): the next start delivers it.
    const next = await serviceOf(yaml, new MemoryBudget(256 * 1024));
    await next.start();
    try {
      // The rest: downstream, or read and in the open batch, which the stop stores.
      await waitFor(
        async () => seen.size + ((await next.pipelines[0]?.status())?.inFlight ?? 0) >= n,
        `all ${n} messages read (have ${seen.size} downstream)`,
        30_000,
      );
    } finally {
      await next.stop();
    }
    await waitFor(() => seen.size === n, `all ${n} messages downstream (have ${seen.size})`, 20_000);
    await collector.endAsync();
  });
});

async function serviceOf(yaml: string, budget: MemoryBudget): Promise<Service> {
  const loaded = loadPipelineTexts([{ file: 'pipeline.yaml', text: yaml }], builtinRegistry);
  expect(loaded.issues).toEqual([]);
  const plans = await Promise.all(loaded.pipelines.map((p) => toPlan(p, builtinRegistry)));
  const backend = createMemoryBackend(
    { maxAgeMs: 60_000, maxCount: 100 },
    { logger: silentLogger, memoryBudget: budget },
  );
  return new Service({ plans, backend, logger: silentLogger, memoryBudget: budget });
}

/** Subscribes to `topic` on the target broker; `seen` gathers the `seq` of each message received. */
async function collect(topic: string): Promise<{ collector: mqtt.MqttClient; seen: Set<number> }> {
  const seen = new Set<number>();
  const collector = await mqtt.connectAsync(target.url, {
    clientId: `collector-${topic.replace('/', '-')}-${process.pid}`,
  });
  collector.on('message', (_t, payload) => seen.add((JSON.parse(payload.toString()) as { seq: number }).seq));
  await collector.subscribeAsync(topic, { qos: 1 });
  return { collector, seen };
}

/** Publishes to `topic` `{ seq, pad }` for seq 0..n-1 at QoS 1, at most 200 unacknowledged. */
async function publish(publisher: mqtt.MqttClient, topic: string, n: number): Promise<void> {
  const inFlight = new Set<Promise<unknown>>();
  for (let seq = 0; seq < n; seq++) {
    const p = publisher.publishAsync(topic, JSON.stringify({ seq, pad: PAD }), { qos: 1 });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= 200) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

async function counter(service: Service, name: string): Promise<number | undefined> {
  const m = service.metrics.registry.getSingleMetric(name);
  const { values } = await m!.get();
  return values.reduce((n, v) => n + v.value, 0);
}
