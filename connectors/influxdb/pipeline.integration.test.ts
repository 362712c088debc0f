import mqtt, { type MqttClient } from 'mqtt';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPipelineTexts, formatIssue } from '../../src/config/index.js';
import { EngineMetrics } from '../../src/engine/metrics.js';
import { Pipeline } from '../../src/engine/pipeline.js';
import { createMemoryBackend, type OutboxBackend } from '../../src/outbox/index.js';
import { builtinRegistry } from '../../src/registry/index.js';
import { toPlan } from '../../src/runtime/plan.js';
import { silentLogger } from '../../src/sdk/index.js';
import { waitFor } from '../../test/conformance/context.js';
import { startInfluxDB, type InfluxDBHandle } from '../../test/harness/influxdb.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';

/*
 * The sink inside a real pipeline: MQTT source (QoS 1, persistent session) -> engine with the
 * memory outbox -> InfluxDB, with the InfluxDB process stopped and started under it.
 */

let broker: ServiceHandle;
let influx: InfluxDBHandle;
let secured: InfluxDBHandle;
let publisher: MqttClient;
const running: { pipeline: Pipeline; backend: OutboxBackend }[] = [];
const ADMIN = { username: 'admin', password: 'admin-password-for-tests' };

beforeAll(async () => {
  [broker, influx, secured] = await Promise.all([
    startMosquitto(),
    startInfluxDB(),
    startInfluxDB({ admin: ADMIN }),
  ]);
  await influx.query('CREATE DATABASE plant');
  await secured.query('CREATE DATABASE plant');
  publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
});

afterAll(async () => {
  for (const r of running) {
    await r.pipeline.stop();
    await r.backend.close();
  }
  await publisher?.endAsync();
  await Promise.all([broker?.dispose(), influx?.dispose(), secured?.dispose()]);
});

async function start(yaml: string): Promise<{ pipeline: Pipeline; backend: OutboxBackend }> {
  const result = loadPipelineTexts([{ file: 'test.yaml', text: yaml }], builtinRegistry, {
    env: { INFLUX_PASSWORD: 'wrong-password' },
  });
  expect(result.issues.map(formatIssue)).toEqual([]);
  const backend = createMemoryBackend({ maxAgeMs: 3_600_000, maxCount: 10_000 });
  const pipeline = new Pipeline(await toPlan(result.pipelines[0]!, builtinRegistry), {
    backend,
    metrics: new EngineMetrics(new Registry()),
    logger: silentLogger,
  });
  pipeline.start();
  running.push({ pipeline, backend });
  return { pipeline, backend };
}

const sinkState = async (p: Pipeline): Promise<string | undefined> =>
  (await p.status()).components.find((c) => c.component === 'influxdb')?.state;

async function count(handle: InfluxDBHandle, q: string): Promise<number> {
  const res = await handle.query(q, 'plant');
  return Number(res.results[0]?.series?.[0]?.values[0]?.[1] ?? 0);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('influxdb sink in a pipeline', () => {
  it('keeps every point through a 20 s InfluxDB outage, none duplicated', async () => {
    const { pipeline } = await start(`
name: influx-outage
source:
  type: mqtt
  url: ${broker.url}
  topics: [outage/#]
  qos: 1
  cleanSession: false
  clientId: influx-outage-test
sinks:
  - type: influxdb
    url: ${influx.url}
    database: plant
    measurement: outage
    # One series per message: a batch written twice with new timestamps would show as two points.
    tags: { seq: payload.seq }
    fields: { v: { from: payload.seq, type: integer } }
    healthCheckInterval: 500ms
    batch: { count: 5000, maxWait: 200ms }
    retry: { initialDelay: 200ms, maxDelay: 2s }
`);
    await waitFor(() => pipeline.ready(), 'the pipeline to be ready', 20_000);
    let seq = 0;
    const publishFor = async (ms: number): Promise<void> => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        await publisher.publishAsync('outage/line1', JSON.stringify({ seq: seq++ }), { qos: 1 });
        await sleep(20);
      }
    };
    await publishFor(2000);
    await waitFor(async () => (await count(influx, 'SELECT count(v) FROM outage')) > 0, 'the first points');
    await influx.stop();
    const states = new Set<string>();
    const watch = setInterval(() => void sinkState(pipeline).then((s) => s && states.add(s)), 200);
    try {
      await publishFor(20_000);
      expect(pipeline.ready()).toBe(false);
      await influx.restart();
      await publishFor(2000);
      const sent = seq;
      await waitFor(
        async () => (await count(influx, 'SELECT count(v) FROM outage')) >= sent,
        `${sent} points after the restart`,
        60_000,
        250,
      );
      expect(states.has('reconnecting')).toBe(true);
      await waitFor(
        async () => (await sinkState(pipeline)) === 'connected',
        'the sink to be connected again',
      );
    } finally {
      clearInterval(watch);
    }
    const sent = seq;
    // Every message once: `sent` points in `sent` series, each with one point holding its own number.
    expect(await count(influx, 'SELECT count(v) FROM outage')).toBe(sent);
    const perSeries = await influx.query('SELECT count(v), sum(v) FROM outage GROUP BY seq', 'plant');
    const series = perSeries.results[0]?.series ?? [];
    expect(series.length).toBe(sent);
    expect(series.every((s) => s.values[0]?.[1] === 1 && String(s.values[0]?.[2]) === s.tags?.seq)).toBe(
      true,
    );
  }, 120_000);

  it('dead-letters the one type-conflicting point of a batch with InfluxDB reason; the others are written', async () => {
    // Another writer created `v` as an integer in measurement "legacy".
    await fetch(`${influx.url}/write?db=plant&precision=ms`, {
      method: 'POST',
      body: `legacy v=1i ${Date.now() - 10_000}`,
    });
    const { pipeline, backend } = await start(`
name: influx-conflict
source:
  type: mqtt
  url: ${broker.url}
  topics: [conflict/#]
  qos: 1
sinks:
  - type: influxdb
    url: ${influx.url}
    database: plant
    measurement: '{{ topic[1] }}'
    fields: { v: float }
    # Messages arrive within the same millisecond: the device time keeps them apart.
    timestamp: payload.t
    batch: { count: 5000, maxWait: 500ms }
`);
    await waitFor(() => pipeline.ready(), 'the pipeline to be ready', 20_000);
    const t = Date.now() - 5000;
    for (let i = 0; i < 10; i++) {
      const topic = i === 4 ? 'conflict/legacy' : 'conflict/fresh';
      await publisher.publishAsync(topic, JSON.stringify({ v: i + 0.5, t: t + i }), { qos: 1 });
    }
    await waitFor(async () => (await count(influx, 'SELECT count(v) FROM fresh')) === 9, 'the 9 good points');
    const deadLetters = () => backend.deadLetters.list({ pipeline: 'influx-conflict' });
    await waitFor(async () => (await deadLetters()).length > 0, 'the dead letter');
    const dead = await deadLetters();
    expect(dead.length).toBe(1);
    expect(dead[0]?.message.payload).toEqual({ v: 4.5, t: t + 4 });
    expect(dead[0]?.stage).toBe('influxdb');
    expect(dead[0]?.reason).toMatch(
      /InfluxDB refused the point: partial write: field type conflict: input field "v" on measurement "legacy" is type float, already exists as type integer/,
    );
    expect(await count(influx, 'SELECT count(v) FROM legacy')).toBe(1);
  }, 60_000);

  it('stops on wrong credentials with a readable error and does not retry against InfluxDB', async () => {
    const before = await authFailures(secured);
    const { pipeline } = await start(`
name: influx-auth
source:
  type: mqtt
  url: ${broker.url}
  topics: [auth/#]
  qos: 1
sinks:
  - type: influxdb
    url: ${secured.url}
    database: plant
    measurement: m
    username: admin
    password: \${env:INFLUX_PASSWORD}
    healthCheckInterval: 100ms
    batch: { maxWait: 20ms }
    retry: { initialDelay: 10ms, maxDelay: 50ms }
`);
    await waitFor(async () => (await sinkState(pipeline)) === 'stopped', 'the sink to stop', 20_000);
    for (let i = 0; i < 50; i++) await publisher.publishAsync('auth/x', JSON.stringify({ v: i }), { qos: 1 });
    // All 50 taken in and kept: once stored, any attempt the engine makes meets the stopped sink,
    // which refuses without a request (and schedules no health check: the sink's own test).
    await waitFor(
      async () => (await pipeline.status()).outboxes.influxdb?.depth === 50,
      'the 50 messages in the outbox',
      20_000,
    );
    const status = await pipeline.status();
    const sink = status.components.find((c) => c.component === 'influxdb');
    expect(sink?.lastError?.message).toMatch(
      /refused the credentials \(401: authorization failed\) for user "admin"/,
    );
    expect(sink?.lastError?.message).not.toContain('wrong-password');
    expect(pipeline.ready()).toBe(false);
    // One refused request (the check at connect); nothing since, whatever the retry settings.
    expect((await authFailures(secured)) - before).toBe(1);
    expect(status.outboxes.influxdb?.depth).toBe(50);
  }, 60_000);
});

async function authFailures(handle: InfluxDBHandle): Promise<number> {
  const vars = (await (await fetch(`${handle.url}/debug/vars`)).json()) as Record<
    string,
    { name?: string; values?: Record<string, number> }
  >;
  return Object.values(vars).find((v) => v?.name === 'httpd')?.values?.authFail ?? 0;
}
