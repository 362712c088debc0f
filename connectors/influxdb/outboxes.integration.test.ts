import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBackend, createRedisBackend, type OutboxBackend } from '../../src/outbox/index.js';
import { createMessage } from '../../src/sdk/index.js';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { startInfluxDB, type InfluxDBHandle } from '../../test/harness/influxdb.js';
import { startRedis, type ServiceHandle } from '../../test/harness/services.js';
import { influxdbSink } from './index.js';
import type { InfluxdbSink } from './sink.js';
import { influxdbSinkConfig } from './spec.js';

/*
 * The same messages give the same points and the same dead letters behind the memory outbox and
 * the Redis outbox (which stores messages as JSON, where NaN and Infinity have no spelling).
 */

let influx: InfluxDBHandle;
let redis: ServiceHandle;
const backends: OutboxBackend[] = [];
const sinks: InfluxdbSink[] = [];
const retention = { maxAgeMs: 3_600_000, maxCount: 10_000 };

beforeAll(async () => {
  [influx, redis] = await Promise.all([startInfluxDB(), startRedis()]);
  await influx.query('CREATE DATABASE outboxes');
});

afterAll(async () => {
  for (const s of sinks) await s.close();
  for (const b of backends) await b.close();
  await Promise.all([influx?.dispose(), redis?.dispose()]);
});

describe.each([
  ['memory', () => Promise.resolve(createMemoryBackend(retention))],
  ['redis', () => createRedisBackend({ url: redis.url, retention, prefix: 'nan' })],
])('non-finite numbers behind the %s outbox', (kind, create) => {
  it('are dead-lettered with the reason, never dropped silently; the finite points are stored', async () => {
    const backend = await create();
    backends.push(backend);
    const measurement = `nan_${kind}`;
    const declared = `nan_declared_${kind}`;
    const sink = influxdbSink.create(
      influxdbSinkConfig.parse({ url: influx.url, database: 'outboxes', measurement: '{{ payload.m }}' }),
      createFakeContext(),
    ) as InfluxdbSink;
    const typed = influxdbSink.create(
      influxdbSinkConfig.parse({
        url: influx.url,
        database: 'outboxes',
        measurement: declared,
        fields: { v: 'float', w: 'float' },
      }),
      createFakeContext(),
    ) as InfluxdbSink;
    sinks.push(sink, typed);
    await Promise.all([
      sink.connect(AbortSignal.timeout(10_000)),
      typed.connect(AbortSignal.timeout(10_000)),
    ]);
    const options = {
      pipeline: `nan-${kind}`,
      batch: { count: 10, bytes: 1_000_000, maxWaitMs: 20 },
      retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 20 },
      capacity: 1000,
      concurrency: 1,
    };
    const outbox = backend.createOutbox({ ...options, sink: 'default' });
    const typedOutbox = backend.createOutbox({ ...options, sink: 'typed' });
    outbox.start((messages, ctx) => sink.write(messages, ctx.signal));
    typedOutbox.start((messages, ctx) => typed.write(messages, ctx.signal));
    const t = Date.now() - 10_000;
    const payloads = [
      { m: measurement, v: 1 },
      { m: measurement, v: NaN, w: 2 },
      { m: measurement, v: 3, nested: { w: Infinity } },
      { m: measurement, v: -Infinity },
      { m: measurement, v: 5 },
    ];
    const messages = (prefix: string) =>
      payloads.map((payload, i) => createMessage({ id: `${prefix}${i}`, payload, time: t + i }));
    await outbox.enqueue(messages('d'));
    await typedOutbox.enqueue(messages('t'));

    const count = async (m: string): Promise<number> => {
      const res = await influx.query(`SELECT count(v) FROM "${m}"`, 'outboxes');
      return Number(res.results[0]?.series?.[0]?.values[0]?.[1] ?? 0);
    };
    await waitFor(
      async () => (await backend.deadLetters.count({ pipeline: options.pipeline })) === 5,
      'five dead letters',
      15_000,
    );
    const letters = await backend.deadLetters.list({ pipeline: options.pipeline });
    const reasons = letters.map((l) => `${l.sink} ${l.message.id}: ${l.reason}`).sort();
    expect(reasons).toEqual([
      'default d1: not a valid point: field "v" is NaN: InfluxDB stores only finite numbers',
      'default d2: not a valid point: field "nested.w" is Infinity: InfluxDB stores only finite numbers',
      'default d3: not a valid point: field "v" is -Infinity: InfluxDB stores only finite numbers',
      'typed t1: not a valid point: field "v": expected a finite number, got NaN',
      // The declared fields do not read `nested.w`: t2 is stored with v = 3.
      'typed t3: not a valid point: field "v": expected a finite number, got -Infinity',
    ]);
    // The dead letter keeps the value itself, so a replay after a fix sees what was received.
    const nan = letters.find((l) => l.message.id === 'd1');
    expect((nan?.message.payload as { v: number }).v).toBeNaN();
    expect(await count(measurement)).toBe(2);
    expect(await count(declared)).toBe(3);
    await outbox.close(1000);
    await typedOutbox.close(1000);
  });
});
