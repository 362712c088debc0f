import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotConnectedError, createMessage } from '../../src/sdk/index.js';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { startMosquitto, startRedis, type ServiceHandle } from '../../test/harness/services.js';
import { TahuHost } from '../../test/harness/tahu-host.js';
import { sparkplugSink } from './edge-index.js';
import { SparkplugSink } from './edge-sink.js';
import { sparkplugSinkConfig } from './edge-spec.js';

/** Two replicas with one edge node id and a real Redis: one is the edge node, the other stands by. */
let broker: ServiceHandle;
let redis: ServiceHandle;
beforeAll(async () => {
  [broker, redis] = await Promise.all([startMosquitto(), startRedis()]);
});
afterAll(async () => {
  await Promise.all([broker, redis].map((s) => s?.dispose()));
});

describe('sparkplug sink with Redis: one edge node per id', { timeout: 60_000 }, () => {
  it('the second replica stands by (no MQTT session), and takes over with a full birth when the first stops', async () => {
    const group = `lease-${process.pid}`;
    const host = await TahuHost.start(broker.url, group);
    const config = sparkplugSinkConfig.parse({
      url: broker.url,
      groupId: group,
      edgeNodeId: 'e1',
      device: 'd1',
    });
    const ctxA = createFakeContext({ redisUrl: redis.url });
    const ctxB = createFakeContext({ redisUrl: redis.url });
    const a = sparkplugSink.create(config, ctxA) as SparkplugSink;
    const b = sparkplugSink.create(config, ctxB) as SparkplugSink;
    const msg = (v: number) => createMessage({ id: String(v), payload: { node: 'T', value: v } });
    try {
      await a.connect(AbortSignal.timeout(10_000));
      const bConnected = b.connect(AbortSignal.timeout(30_000));
      await ctxB.waitForState('standby');
      await a.write([msg(1)], AbortSignal.timeout(10_000));
      await expect(b.write([msg(2)], AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(NotConnectedError);
      // Only one session: one NBIRTH, no edge node thrown off by the other (what the broker routed
      // so far has reached the host by its marker).
      await host.sync();
      expect(host.of('NBIRTH')).toHaveLength(1);
      expect(host.of('NDEATH')).toHaveLength(0);

      await a.close();
      await bConnected;
      await waitFor(() => host.of('NBIRTH').length === 2, 'the NBIRTH of the second replica');
      await b.write([msg(3)], AbortSignal.timeout(10_000));
      await waitFor(() => host.values('e1', 'd1', 'T').includes(3), 'data from the second replica');
      expect(host.seen.map((s) => s.type)).toEqual(['NBIRTH', 'DBIRTH', 'NDEATH', 'NBIRTH', 'DBIRTH']);
      expect(host.problems).toEqual([]);
    } finally {
      await a.close();
      await b.close();
      await host.close();
    }
  });
  it('a replica whose lease is taken stands by at once (NDEATH, no session, writes refused), then takes the edge node back with a new bdSeq', async () => {
    const group = `lease-lost-${process.pid}`;
    const host = await TahuHost.start(broker.url, group);
    const admin = new Redis(redis.url);
    const config = sparkplugSinkConfig.parse({
      url: broker.url,
      groupId: group,
      edgeNodeId: 'e1',
      device: 'd1',
    });
    const ctx = createFakeContext({ redisUrl: redis.url });
    const ttl = 1_500;
    const sink = new SparkplugSink(config, ctx, { leaseTtlMs: ttl });
    const msg = (v: number) => createMessage({ id: String(v), payload: { node: 'T', value: v } });
    const key = `passerelle:lease:sparkplug-edge:${group}/e1`;
    try {
      await sink.connect(AbortSignal.timeout(10_000));
      await sink.write([msg(1)], AbortSignal.timeout(10_000));
      await waitFor(() => host.values('e1', 'd1', 'T').includes(1), 'data of the first session');
      const firstBdSeq = host.bdSeqOf(host.of('NBIRTH')[0]!);

      // Another replica (or an operator) holds the lease now, for two lease periods.
      await admin.set(key, 'intruder/1#999999', 'PX', 2 * ttl);
      await ctx.waitForState('standby', 20_000);
      await expect(sink.write([msg(2)], AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(
        NotConnectedError,
      );
      // The session ended: the broker published the Will, the NDEATH of that session's bdSeq.
      await waitFor(() => host.of('NDEATH').length === 1, 'the NDEATH of the lost session');
      expect(host.bdSeqOf(host.of('NDEATH')[0]!)).toBe(firstBdSeq);

      // The intruder's lease expires: the replica takes the edge node back, with a new session.
      await waitFor(() => host.of('NBIRTH').length === 2, 'the NBIRTH of the session taken back', 30_000);
      await ctx.waitForState('connected', 10_000);
      expect(host.bdSeqOf(host.of('NBIRTH')[1]!)).toBe(((firstBdSeq ?? 0) + 1) % 256);
      expect(await admin.get(key)).toMatch(/^(?!intruder\/).+#\d+$/);
      await sink.write([msg(3)], AbortSignal.timeout(10_000));
      await waitFor(() => host.values('e1', 'd1', 'T').includes(3), 'data after the take-back');
      expect(host.values('e1', 'd1', 'T')).not.toContain(2);
      // The first value came with the DBIRTH of its new metric; the births taken back carry it too.
      expect(host.seen.map((x) => x.type)).toEqual([
        'NBIRTH',
        'DBIRTH',
        'NDEATH',
        'NBIRTH',
        'DBIRTH',
        'DDATA',
      ]);
      expect(host.problems).toEqual([]);

      // Closed: the lease is released for the next replica.
      await sink.close();
      expect(await admin.get(key)).toBeNull();
    } finally {
      await sink.close();
      admin.disconnect();
      await host.close();
    }
  });
  it('takes the edge node back once the broker is back when the broker was down at the take-back', async () => {
    // A broker of its own: this test stops it.
    const own = await startMosquitto();
    const admin = new Redis(redis.url);
    const group = `lease-broker-down-${process.pid}`;
    const config = sparkplugSinkConfig.parse({
      url: own.url,
      groupId: group,
      edgeNodeId: 'e1',
      device: 'd1',
      reconnectDelay: '200ms',
      reconnectMaxDelay: '1s',
    });
    const ctx = createFakeContext({ redisUrl: redis.url });
    const ttl = 1_500;
    const sink = new SparkplugSink(config, ctx, { leaseTtlMs: ttl });
    const msg = (v: number) => createMessage({ id: String(v), payload: { node: 'T', value: v } });
    const key = `passerelle:lease:sparkplug-edge:${group}/e1`;
    try {
      await sink.connect(AbortSignal.timeout(10_000));
      await sink.write([msg(1)], AbortSignal.timeout(10_000));
      await admin.set(key, 'intruder/1#999999', 'PX', 2 * ttl);
      await ctx.waitForState('standby', 20_000);
      await own.stop();
      // The intruder's lease expires while the broker is down: the take-back can not connect.
      const failedAt = ctx.states.length;
      await waitFor(
        () => ctx.states.slice(failedAt).some((st) => st.state === 'reconnecting'),
        'a take-back that found no broker',
        30_000,
      );
      await own.restart();
      await ctx.waitForState('connected', 30_000);
      await sink.write([msg(2)], AbortSignal.timeout(10_000));
    } finally {
      await sink.close();
      admin.disconnect();
      await own.dispose();
    }
  });
});
