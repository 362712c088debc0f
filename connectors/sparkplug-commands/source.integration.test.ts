import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMessage, type Delivery, type Message } from '../../src/sdk/index.js';
import { startRefusingBroker } from '../../test/harness/refusing-broker.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import { TahuHost } from '../../test/harness/tahu-host.js';
import { createFakeContext, waitFor, type FakeContext } from '../../test/conformance/context.js';
import { sparkplugSink } from '../sparkplug/edge-index.js';
import type { SparkplugSink } from '../sparkplug/edge-sink.js';
import { sparkplugSinkConfig } from '../sparkplug/edge-spec.js';
import { sparkplugCommandsSource } from './index.js';
import type { SparkplugCommandsSource } from './source.js';
import { sparkplugCommandsConfig } from './spec.js';

let broker: ServiceHandle;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
});
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
afterAll(async () => broker?.dispose());

let n = 0;
const unique = (name: string): string => `${name}-${process.pid}-${++n}`;

async function edge(group: string, extra: Record<string, unknown> = {}): Promise<SparkplugSink> {
  const s = sparkplugSink.create(
    sparkplugSinkConfig.parse({
      url: broker.url,
      groupId: group,
      edgeNodeId: 'e1',
      device: 'line1',
      ...extra,
    }),
    createFakeContext(),
  ) as SparkplugSink;
  await s.connect(AbortSignal.timeout(10_000));
  closers.push(() => s.close());
  return s;
}

/** Connects the source; resolves once its rebirth request (sent after its SUBACK) reached the host. */
async function commands(
  h: TahuHost,
  ctx: FakeContext,
  writable: unknown[],
): Promise<SparkplugCommandsSource> {
  const source = sparkplugCommandsSource.create(
    sparkplugCommandsConfig.parse({ url: broker.url, groupId: h.groupId, edgeNodeId: 'e1', writable }),
    ctx,
  ) as SparkplugCommandsSource;
  const before = h.of('NCMD').length;
  await source.connect(AbortSignal.timeout(10_000));
  closers.push(() => source.close());
  await waitFor(() => h.of('NCMD').length > before, 'the rebirth request of the commands source');
  return source;
}

async function host(group: string): Promise<TahuHost> {
  const h = await TahuHost.start(broker.url, group);
  closers.push(() => h.close());
  return h;
}

/** Reads deliveries until `count` messages came, acknowledging each. */
async function take(source: SparkplugCommandsSource, count: number): Promise<Message[]> {
  const out: Message[] = [];
  while (out.length < count) {
    const d: Delivery | null = await source.read(AbortSignal.timeout(10_000));
    if (!d) break;
    out.push(...d.messages);
    d.ack();
  }
  return out;
}

const setpoint = (node: string, value: unknown, dataType = 'Double'): Message =>
  createMessage({ id: `${node}-${Math.random()}`, payload: { node, value, dataType, quality: 'good' } });

describe('sparkplug-commands source', { timeout: 60_000 }, () => {
  it('DCMD by alias (as hosts send them) becomes one message per writable metric, with name, value and datatype', async () => {
    const group = unique('g');
    const h = await host(group);
    const ctx = createFakeContext();
    const source = await commands(h, ctx, [{ device: 'line1', metric: 'Setpoints/*' }]);
    const sink = await edge(group);
    await sink.write(
      [
        setpoint('Setpoints/Target', 20),
        setpoint('Setpoints/Count', 1, 'Int32'),
        setpoint('Temperature', 21),
      ],
      AbortSignal.timeout(10_000),
    );
    await waitFor(() => h.of('DBIRTH').length === 1, 'DBIRTH');
    const alias = (name: string): number => h.of('DBIRTH')[0]!.metrics.find((m) => m.name === name)!.alias!;
    await h.command('e1', 'line1', [
      { alias: alias('Setpoints/Target'), type: 'Double', value: 74.5 },
      { alias: alias('Setpoints/Count'), type: 'Int32', value: -3 },
    ]);
    const got = await take(source, 2);
    expect(got.map((m) => m.payload)).toEqual([
      expect.objectContaining({
        group,
        edgeNode: 'e1',
        device: 'line1',
        messageType: 'DCMD',
        metric: 'Setpoints/Target',
        value: 74.5,
        datatype: 'Double',
      }),
      expect.objectContaining({ metric: 'Setpoints/Count', value: -3, datatype: 'Int32' }),
    ]);
    expect(got[0]!.meta).toMatchObject({
      'sparkplug.messageType': 'DCMD',
      'sparkplug.device': 'line1',
      'sparkplug.metric': 'Setpoints/Target',
      'mqtt.topic': `spBv1.0/${group}/DCMD/e1/line1`,
    });
  });

  it('by name too; a metric outside writable is dead-lettered with the reason and counted, never passed on', async () => {
    const group = unique('g');
    const h = await host(group);
    const ctx = createFakeContext();
    const source = await commands(h, ctx, [{ device: 'line1', metric: 'Setpoints/Target' }]);
    const sink = await edge(group);
    await sink.write(
      [setpoint('Setpoints/Target', 20), setpoint('Temperature', 21)],
      AbortSignal.timeout(10_000),
    );
    await h.command('e1', 'line1', [
      { name: 'Temperature', type: 'Double', value: 99 },
      { name: 'Setpoints/Target', type: 'Double', value: 30 },
    ]);
    const got = await take(source, 1);
    expect(got.map((m) => (m.payload as { metric: string }).metric)).toEqual(['Setpoints/Target']);
    await waitFor(() => ctx.deadLetters.length === 1, 'the dead letter');
    expect(ctx.deadLetters[0]!.reason).toMatch(/"Temperature" of device line1, which is not in writable/);
    expect(await ctx.registry.getSingleMetricAsString('passerelle_sparkplug_commands_refused_total')).toMatch(
      /reason="not-writable".* 1$/m,
    );
  });

  it('asks for a rebirth on connect, so it learns the aliases of an edge node born before it', async () => {
    const group = unique('g');
    const h = await host(group);
    const sink = await edge(group);
    await sink.write([setpoint('Setpoints/Target', 20)], AbortSignal.timeout(10_000));
    await waitFor(() => h.of('DBIRTH').length === 1, 'DBIRTH');
    const source = await commands(h, createFakeContext(), [{ device: 'line1', metric: '*' }]);
    await waitFor(() => h.of('DBIRTH').length === 2, 'the rebirth the source asked for');
    const alias = h.of('DBIRTH')[1]!.metrics[0]!.alias!;
    await h.command('e1', 'line1', [{ alias, type: 'Double', value: 21 }]);
    const [got] = await take(source, 1);
    expect(got!.payload).toMatchObject({ metric: 'Setpoints/Target', value: 21 });
  });

  it('an unknown alias and an undecodable payload are dead-lettered; NCMD Rebirth is for the edge node only', async () => {
    const group = unique('g');
    const h = await host(group);
    const ctx = createFakeContext();
    const source = await commands(h, ctx, [{ metric: '*' }, { device: 'line1', metric: '*' }]);
    await edge(group);
    await waitFor(() => h.of('NBIRTH').length === 1, 'NBIRTH');
    await h.command('e1', 'line1', [{ alias: 4242, type: 'Double', value: 1 }]);
    await h.client.publishAsync(
      `spBv1.0/${group}/DCMD/e1/line1`,
      Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
      { qos: 1 },
    );
    await h.rebirth('e1');
    await waitFor(
      () => ctx.deadLetters.length === 2 && h.of('NBIRTH').length === 2,
      'dead letters and the rebirth',
    );
    expect(ctx.deadLetters.map((d) => d.reason)).toEqual([
      expect.stringMatching(/alias 4242 that no birth/),
      expect.stringMatching(/not a Sparkplug B payload/),
    ]);
    // Nothing reached the pipeline.
    const d = await source.read(AbortSignal.timeout(500));
    expect(d).toBeNull();
  });
});

describe('sparkplug-commands source and a refused subscription', () => {
  it('fails connect() naming the refused filters, instead of waiting for commands that never come', async () => {
    const refusing = await startRefusingBroker('spBv1.0/forbidden/');
    try {
      const config = { url: refusing.url, protocolVersion: 4, edgeNodeId: 'e1', writable: [{ metric: 'x' }] };
      const s = sparkplugCommandsSource.create(
        sparkplugCommandsConfig.parse({ ...config, groupId: 'forbidden' }),
        createFakeContext(),
      );
      await expect(s.connect(AbortSignal.timeout(10_000))).rejects.toThrow(
        /^the broker refused the subscription to spBv1\.0\/forbidden\/NCMD\/e1, .*: /,
      );
      await expect(s.read(AbortSignal.timeout(10_000))).resolves.toBeNull();
      const ok = sparkplugCommandsSource.create(
        sparkplugCommandsConfig.parse({ ...config, groupId: 'allowed' }),
        createFakeContext(),
      );
      await ok.connect(AbortSignal.timeout(10_000));
      await ok.close();
    } finally {
      await refusing.close();
    }
  });
});
