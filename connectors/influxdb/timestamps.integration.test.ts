import mqtt, { type MqttClient } from 'mqtt';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatIssue, loadPipelineTexts } from '../../src/config/index.js';
import { EngineMetrics } from '../../src/engine/metrics.js';
import { Pipeline } from '../../src/engine/pipeline.js';
import { createMemoryBackend, createRedisBackend, type OutboxBackend } from '../../src/outbox/index.js';
import { builtinRegistry } from '../../src/registry/index.js';
import { toPlan } from '../../src/runtime/plan.js';
import { silentLogger } from '../../src/sdk/index.js';
import { waitFor } from '../../test/conformance/context.js';
import { startInfluxDB, type InfluxDBHandle } from '../../test/harness/influxdb.js';
import { startMosquitto, startRedis, type ServiceHandle } from '../../test/harness/services.js';
import { TcpProxy } from '../../test/harness/tcp-proxy.js';

/*
 * The default point time is the message's reception time: messages of one series that arrive in
 * the same millisecond must still be distinct points, and a batch written again after a failure
 * must land on the same timestamps (replacing, not adding). Real Mosquitto, real influxd.
 */

let broker: ServiceHandle;
let influx: InfluxDBHandle;
let redis: ServiceHandle;
let publisher: MqttClient;
let proxy: TcpProxy | undefined;
const running: { pipeline: Pipeline; backend: OutboxBackend }[] = [];

beforeAll(async () => {
  [broker, influx, redis] = await Promise.all([startMosquitto(), startInfluxDB(), startRedis()]);
  await influx.query('CREATE DATABASE plant');
  publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
});

afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.pipeline.stop();
    await r.backend.close();
  }
  await proxy?.stop();
  proxy = undefined;
});

afterAll(async () => {
  await publisher?.endAsync();
  await Promise.all([broker?.dispose(), influx?.dispose(), redis?.dispose()]);
});

async function start(yaml: string, backend?: OutboxBackend): Promise<Pipeline> {
  const result = loadPipelineTexts([{ file: 'test.yaml', text: yaml }], builtinRegistry, { env: {} });
  expect(result.issues.map(formatIssue)).toEqual([]);
  const outboxes = backend ?? createMemoryBackend({ maxAgeMs: 3_600_000, maxCount: 10_000 });
  const pipeline = new Pipeline(await toPlan(result.pipelines[0]!, builtinRegistry), {
    backend: outboxes,
    metrics: new EngineMetrics(new Registry()),
    logger: silentLogger,
  });
  pipeline.start();
  running.push({ pipeline, backend: outboxes });
  await waitFor(() => pipeline.ready(), 'the pipeline to be ready', 20_000);
  return pipeline;
}

/** The smallest pipeline a new user writes: no tags, no fields, no timestamp. */
const minimal = (name: string, url: string, extra = ''): string => `
name: ${name}
source:
  type: mqtt
  url: ${broker.url}
  topics: [${name}/#]
  qos: 1
sinks:
  - type: influxdb
    url: ${url}
    database: plant
    measurement: ${name}
${extra}`;

/** Publishes `values` at QoS 1 without waiting for one PUBACK before the next PUBLISH. */
async function burst(topic: string, values: number[]): Promise<void> {
  await Promise.all(values.map((v) => publisher.publishAsync(topic, JSON.stringify({ v }), { qos: 1 })));
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

/** Points in the measurement and the sum of their `v` (each message carries its own number). */
async function stored(measurement: string): Promise<{ points: number; sum: number }> {
  const res = await influx.query(`SELECT count(v), sum(v) FROM "${measurement}"`, 'plant');
  const row = res.results[0]?.series?.[0]?.values[0];
  return { points: Number(row?.[1] ?? 0), sum: Number(row?.[2] ?? 0) };
}

/**
 * Waits for `expected` points (or the timeout: fewer were stored), then for the outbox to be empty
 * (a batch written again with other timestamps would add points), and returns what InfluxDB holds.
 */
async function storedWhenDrained(
  pipeline: Pipeline,
  measurement: string,
  expected: number,
  timeoutMs: number,
): Promise<{ points: number; sum: number }> {
  const deadline = Date.now() + timeoutMs;
  while ((await stored(measurement)).points < expected && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 200));
  await waitFor(
    async () => {
      const outbox = (await pipeline.status()).outboxes.influxdb;
      return outbox?.depth === 0 && outbox.activeJobs === 0;
    },
    'the outbox to be empty',
    Math.max(1000, deadline - Date.now()),
    100,
  );
  return stored(measurement);
}

/** What influxd counted itself: points it accepted (a point written twice counts twice). */
async function pointsWrittenByServer(): Promise<number> {
  const vars = (await (await fetch(`${influx.url}/debug/vars`)).json()) as Record<
    string,
    { name?: string; values?: Record<string, number> }
  >;
  return Object.values(vars).find((v) => v?.name === 'httpd')?.values?.pointsWrittenOK ?? 0;
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

describe('influxdb default timestamps', () => {
  it('stores 2,000 messages of one series published as fast as a client can as 2,000 points', async () => {
    const pipeline = await start(minimal('burst', influx.url));
    const values = range(1, 2000);
    await burst('burst/line1', values);
    expect(await storedWhenDrained(pipeline, 'burst', 2000, 30_000)).toEqual({
      points: 2000,
      sum: sum(values),
    });
  }, 60_000);

  it('stores the same 2,000 once each across a 15 s InfluxDB outage, cut mid-stream', async () => {
    proxy = new TcpProxy(influx.port);
    await proxy.start();
    const pipeline = await start(minimal('outage', `http://127.0.0.1:${proxy.port}`));
    const values = range(1, 2000);
    const bursts: number[][] = [];
    for (let i = 0; i < values.length; i += 100) bursts.push(values.slice(i, i + 100));
    let sent = 0;
    const send = async (b: number[]): Promise<void> => {
      await burst('outage/line1', b);
      sent += b.length;
    };
    for (const b of bursts.slice(0, 5)) {
      await send(b);
      await new Promise((r) => setTimeout(r, 250));
    }
    // Cut while the next burst is being written.
    const inFlight = send(bursts[5]!);
    await new Promise((r) => setTimeout(r, 5));
    await proxy.stop();
    await inFlight;
    const outageEnds = Date.now() + 15_000;
    for (const b of bursts.slice(6)) {
      await send(b);
      await new Promise((r) => setTimeout(r, Math.max(0, (outageEnds - Date.now()) / 16)));
    }
    await new Promise((r) => setTimeout(r, Math.max(0, outageEnds - Date.now())));
    await proxy.start();
    expect(sent).toBe(2000);
    expect(await storedWhenDrained(pipeline, 'outage', 2000, 90_000)).toEqual({
      points: 2000,
      sum: sum(values),
    });
  }, 150_000);

  it('rewrites a batch whose answer was lost with the same timestamps, through the Redis outbox', async () => {
    proxy = new TcpProxy(influx.port);
    await proxy.start();
    const backend = await createRedisBackend({
      url: redis.url,
      retention: { maxAgeMs: 3_600_000, maxCount: 10_000 },
      prefix: 'timestamps',
    });
    const pipeline = await start(
      minimal(
        'retried',
        `http://127.0.0.1:${proxy.port}`,
        [
          '    timeout: 1s',
          '    batch: { count: 5000, maxWait: 200ms }',
          '    retry: { initialDelay: 200ms, maxDelay: 1s }',
        ].join('\n'),
      ),
      backend,
    );
    const before = await pointsWrittenByServer();
    // InfluxDB stores the batch but its answer is held: the sink times out and writes it again.
    proxy.pause();
    const values = range(1, 500);
    await burst('retried/line1', values);
    await waitFor(async () => (await stored('retried')).points > 0, 'InfluxDB to store the first write');
    await new Promise((r) => setTimeout(r, 1500));
    proxy.resume();
    const result = await storedWhenDrained(pipeline, 'retried', 500, 30_000);
    expect((await pointsWrittenByServer()) - before).toBeGreaterThan(500);
    expect(result).toEqual({ points: 500, sum: sum(values) });
  }, 60_000);
});
