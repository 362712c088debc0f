import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EngineMetrics } from '../../engine/metrics.js';
import { Pipeline } from '../../engine/pipeline.js';
import type { PipelinePlan } from '../../engine/plan.js';
import { createMemoryBackend } from '../../outbox/index.js';
import {
  createMessage,
  defineSink,
  defineSource,
  silentLogger,
  type Delivery,
  type Message,
} from '../../sdk/index.js';
import { waitFor } from '../../../test/conformance/context.js';
import { aggregateTransform, aggregateTransformConfig } from './index.js';

/*
 * aggregate inside the real engine: windows close on the engine's flush timer with no further
 * input, the counters reconcile (inputs filtered, windows generated), and a stop emits what is open.
 */

const none = z.strictObject({});
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

function run(window: string) {
  const queue: Delivery[] = [];
  const acks: (Error | undefined)[] = [];
  const written: Message[] = [];
  let wake: (() => void) | undefined;
  const source = defineSource({
    type: 'feed',
    title: 'feed',
    summary: 'test',
    config: none,
    delivery: () => 'at-least-once',
    create: () => ({
      connect: async () => {},
      async read(signal) {
        while (queue.length === 0 && !signal.aborted)
          await new Promise<void>((resolve) => {
            wake = resolve;
            signal.addEventListener('abort', () => resolve(), { once: true });
          });
        return queue.shift() ?? null;
      },
      close: async () => {},
    }),
  });
  const sink = defineSink({
    type: 'rec',
    title: 'rec',
    summary: 'test',
    config: none,
    delivery: () => 'at-least-once',
    create: () => ({
      connect: async () => {},
      write: async (batch) => void written.push(...batch),
      close: async () => {},
    }),
  });
  const plan: PipelinePlan = {
    name: 'agg',
    source: { type: 'feed', definition: source, config: {} },
    transforms: [
      {
        type: 'aggregate',
        definition: aggregateTransform,
        config: aggregateTransformConfig.parse({
          window,
          lateness: 0,
          fields: ['payload.t'],
          functions: ['count', 'mean'],
        }),
      },
    ],
    sinks: [
      {
        name: 'out',
        type: 'rec',
        definition: sink,
        config: {},
        batch: { count: 100, bytes: 1_000_000, maxWaitMs: 5 },
        retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20 },
        maxQueued: 1000,
        concurrency: 1,
      },
    ],
    maxUnsettled: 1000,
    shutdownTimeoutMs: 5000,
    deadLetters: { maxAgeMs: 60_000, maxCount: 1000 },
  };
  const backend = createMemoryBackend({ maxAgeMs: 60_000, maxCount: 1000 });
  const metrics = new EngineMetrics();
  const pipeline = new Pipeline(plan, { backend, metrics, logger: silentLogger });
  pipeline.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await pipeline.stop();
    await backend.close();
  };
  stops.push(stop);
  const push = (messages: Message[]) => {
    queue.push({ messages, ack: (error) => void acks.push(error) });
    wake?.();
  };
  const total = async (name: string) =>
    (await metrics.registry.getSingleMetric(name)!.get()).values.reduce((n, v) => n + v.value, 0);
  return { push, acks, written, stop, total };
}

const at = (id: string, t: number, time: number, topic = 'line/1') =>
  createMessage({ id, payload: { t }, meta: { 'mqtt.topic': topic }, time });

describe('aggregate in a pipeline', () => {
  it('emits a window when its time is over, without further input, and the counters reconcile', async () => {
    const p = run('200ms');
    const now = Date.now();
    const start = Math.floor(now / 200) * 200;
    p.push([at('a', 1, start), at('b', 3, start + 1), at('c', 10, start, 'line/2')]);
    await waitFor(() => p.acks.length === 1, 'the ack of the absorbed messages');
    expect(p.acks).toEqual([undefined]);
    await waitFor(() => p.written.length === 2, 'the two windows', 10_000);
    expect(p.written.map((m) => m.payload)).toEqual([
      expect.objectContaining({ key: 'line/1', count: 2, t: { count: 2, mean: 2 } }),
      expect.objectContaining({ key: 'line/2', count: 1, t: { count: 1, mean: 10 } }),
    ]);
    await waitFor(
      async () => (await p.total('passerelle_messages_delivered_total')) === 2,
      'the delivered count',
    );
    expect(await p.total('passerelle_messages_received_total')).toBe(3);
    expect(await p.total('passerelle_messages_filtered_total')).toBe(3);
    expect(await p.total('passerelle_messages_generated_total')).toBe(2);
  });

  it('emits the open windows, marked partial, when the pipeline stops', async () => {
    const p = run('1h');
    p.push([at('a', 5, Date.now())]);
    await waitFor(() => p.acks.length === 1, 'the ack');
    expect(p.written).toEqual([]);
    await p.stop();
    expect(p.written).toHaveLength(1);
    expect(p.written[0]!.meta['aggregate.partial']).toBe(true);
    expect(p.written[0]!.payload).toEqual(expect.objectContaining({ count: 1, t: { count: 1, mean: 5 } }));
  });
});
