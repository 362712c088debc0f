import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMessage } from '../../src/sdk/index.js';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { startSecureMosquitto, type SecureMosquitto } from '../../test/harness/services.js';
import { TahuHost } from '../../test/harness/tahu-host.js';
import { sparkplugSink } from './edge-index.js';
import type { SparkplugSink } from './edge-sink.js';
import { sparkplugSinkConfig } from './edge-spec.js';

/** The edge node on a broker with passwords and TLS (the mqtt connectors' connection code), and bad input on its NCMD and STATE topics. */
let broker: SecureMosquitto;
const PASSWORD = 'edge-s3cret-pass';

beforeAll(async () => {
  broker = await startSecureMosquitto({ edge: PASSWORD });
});
afterAll(async () => {
  await broker?.dispose();
});

async function host(group: string): Promise<TahuHost> {
  return TahuHost.start(broker.url.replace('mqtt://', `mqtt://edge:${PASSWORD}@`), group);
}

describe('sparkplug sink: authentication, TLS, bad input', { timeout: 60_000 }, () => {
  it('publishes over mqtts:// with a user name and password, and refuses a wrong password without printing it', async () => {
    const group = `tls-${process.pid}`;
    const h = await host(group);
    const ctx = createFakeContext();
    const s = sparkplugSink.create(
      sparkplugSinkConfig.parse({
        url: broker.tlsUrl,
        tls: { ca: broker.ca, servername: 'localhost' },
        username: 'edge',
        password: PASSWORD,
        groupId: group,
        edgeNodeId: 'e1',
        device: 'd1',
      }),
      ctx,
    ) as SparkplugSink;
    try {
      await s.connect(AbortSignal.timeout(10_000));
      await s.write(
        [createMessage({ id: '1', payload: { node: 'T', value: 1.5 } })],
        AbortSignal.timeout(10_000),
      );
      await waitFor(() => h.values('e1', 'd1', 'T').includes(1.5), 'the value over TLS');
    } finally {
      await s.close();
    }
    const wrong = sparkplugSink.create(
      sparkplugSinkConfig.parse({
        url: broker.url,
        username: 'edge',
        password: 'not-the-password',
        groupId: group,
        edgeNodeId: 'e2',
        reconnectDelay: '100ms',
      }),
      createFakeContext(),
    ) as SparkplugSink;
    const error = await wrong.connect(AbortSignal.timeout(10_000)).catch((e: unknown) => e as Error);
    await wrong.close();
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).not.toContain('not-the-password');
    await h.close();
  });

  it('counts and ignores an unreadable NCMD or STATE; the edge node goes on', async () => {
    const group = `bad-${process.pid}`;
    const h = await host(group);
    const ctx = createFakeContext();
    const s = sparkplugSink.create(
      sparkplugSinkConfig.parse({
        url: broker.url,
        username: 'edge',
        password: PASSWORD,
        groupId: group,
        edgeNodeId: 'e1',
        device: 'd1',
        primaryHostId: 'scada',
      }),
      ctx,
    ) as SparkplugSink;
    try {
      await s.connect(AbortSignal.timeout(10_000));
      const publish = (topic: string, payload: Buffer | string) =>
        h.client.publishAsync(topic, payload, { qos: 1 });
      await publish('spBv1.0/STATE/scada', 'ONLINE'); // Sparkplug 2.2's text form
      await publish('spBv1.0/STATE/scada', JSON.stringify({ online: true, timestamp: 5 }));
      await waitFor(() => h.of('NBIRTH').length === 1, 'NBIRTH after a readable STATE');
      // A length that runs past the payload (bounded decode), and random bytes.
      await publish(`spBv1.0/${group}/NCMD/e1`, Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]));
      await publish(`spBv1.0/${group}/NCMD/e1`, Buffer.from('definitely not protobuf'));
      await waitFor(
        async () =>
          /kind="ncmd"[^}]*\} 2$/m.test(
            await ctx.registry.getSingleMetricAsString('passerelle_sparkplug_edge_bad_input_total'),
          ),
        'two unreadable NCMD counted',
      );
      const counters = await ctx.registry.getSingleMetricAsString(
        'passerelle_sparkplug_edge_bad_input_total',
      );
      expect(counters).toMatch(/kind="state"[^}]*\} 1$/m);
      await s.write(
        [createMessage({ id: '2', payload: { node: 'T', value: 2 } })],
        AbortSignal.timeout(10_000),
      );
      await waitFor(() => h.values('e1', 'd1', 'T').includes(2), 'data after the bad input');
      expect(h.of('NBIRTH')).toHaveLength(1);
      expect(h.problems).toEqual([]);
    } finally {
      await s.close();
      await h.client.publishAsync('spBv1.0/STATE/scada', '', { qos: 1, retain: true });
      await h.close();
    }
  });
});
