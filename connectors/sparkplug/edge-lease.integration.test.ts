import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotConnectedError, createMessage } from '../../src/sdk/index.js';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { startMosquitto, startRedis, type ServiceHandle } from '../../test/harness/services.js';
import { TahuHost } from '../../test/harness/tahu-host.js';
import { sparkplugSink } from './edge-index.js';
import type { SparkplugSink } from './edge-sink.js';
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
});
