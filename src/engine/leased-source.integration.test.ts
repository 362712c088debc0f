import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { waitFor } from '../../test/conformance/context.js';
import { startRedis, type ServiceHandle } from '../../test/harness/services.js';
import { createMemoryBackend } from '../outbox/index.js';
import type { OutboxBackend } from '../outbox/types.js';
import {
  createMessage,
  defineSink,
  defineSource,
  silentLogger,
  type Delivery,
  type Message,
} from '../sdk/index.js';
import { sourceLeaseKey } from './leased-source.js';
import { EngineMetrics } from './metrics.js';
import { Pipeline } from './pipeline.js';
import type { PipelinePlan } from './plan.js';

/*
 * Single-reader sources under a Redis lease, with two or three Pipeline instances standing for
 * replicas. The fake external system broadcasts every message to every connected reader, as a
 * plain (non-shared) MQTT subscription does: without the lease each replica would read it.
 */

const TTL = 600;
const config = z.strictObject({ single: z.boolean() });

let redis: ServiceHandle;
let admin: Redis;
let pipelineCounter = 0;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.dispose();
});

/** The external system: pushes reach every source instance that is connected and not closed. */
class Broadcast {
  readers = new Set<{ replica: string; deliver(m: Message): void }>();
  connects: string[] = [];
  closes: string[] = [];
  /** The signals sources were read with. */
  readSignals = new Set<AbortSignal>();
  /** Sources' `onStalled` listeners (the external system stopped sending, e.g. an MQTT 3.1.1 broker). */
  stallListeners = new Set<() => void>();
  stall(): void {
    for (const listener of this.stallListeners) listener();
  }
  publish(id: string): void {
    for (const r of this.readers) r.deliver(createMessage({ id, payload: id }));
  }
}

function replica(
  name: string,
  replicaId: string,
  world: Broadcast,
  options: { single?: boolean; redisUrl?: string; leaseTtlMs?: number; maxWaitMs?: number } = {},
): { pipeline: Pipeline; written: string[]; metrics: EngineMetrics; backend: OutboxBackend } {
  const written: string[] = [];
  const source = defineSource({
    type: 'broadcast',
    title: 'broadcast',
    summary: 'test',
    config,
    delivery: () => 'at-least-once',
    singleReader: (c) => c.single,
    create: () => {
      const queue: Message[] = [];
      let wake: (() => void) | undefined;
      const reader = {
        replica: replicaId,
        deliver: (m: Message) => {
          queue.push(m);
          wake?.();
        },
      };
      return {
        async connect() {
          world.connects.push(replicaId);
          world.readers.add(reader);
        },
        onStalled(listener: () => void) {
          world.stallListeners.add(listener);
          return () => world.stallListeners.delete(listener);
        },
        async read(signal: AbortSignal): Promise<Delivery | null> {
          world.readSignals.add(signal);
          while (queue.length === 0) {
            if (signal.aborted) return null;
            await new Promise<void>((resolve) => {
              wake = resolve;
              signal.addEventListener('abort', () => resolve(), { once: true });
            });
          }
          return { messages: queue.splice(0), ack: () => {} };
        },
        async close() {
          world.closes.push(replicaId);
          world.readers.delete(reader);
        },
      };
    },
  });
  const sink = defineSink({
    type: 'recorder',
    title: 'recorder',
    summary: 'test',
    config: z.strictObject({}),
    delivery: () => 'at-least-once',
    create: () => ({
      connect: async () => {},
      write: async (batch: Message[]) => void written.push(...batch.map((m) => m.id)),
      close: async () => {},
    }),
  });
  const plan: PipelinePlan = {
    name,
    source: { type: 'broadcast', definition: source, config: { single: options.single ?? true } },
    transforms: [],
    sinks: [
      {
        name: 'out',
        type: 'recorder',
        definition: sink,
        config: {},
        batch: { count: 100, bytes: 1_000_000, maxWaitMs: options.maxWaitMs ?? 5 },
        retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20 },
        maxQueued: 1000,
        concurrency: 1,
      },
    ],
    maxUnsettled: 1000,
    shutdownTimeoutMs: 5000,
    deadLetters: { maxAgeMs: 3_600_000, maxCount: 1000 },
  };
  const backend = createMemoryBackend({ maxAgeMs: 3_600_000, maxCount: 1000 });
  const metrics = new EngineMetrics();
  const redisUrl = 'redisUrl' in options ? options.redisUrl : redis.url;
  const pipeline = new Pipeline(plan, {
    backend,
    metrics,
    logger: silentLogger,
    leaseTtlMs: options.leaseTtlMs ?? TTL,
    // Each stands for a replica: its own identity, as its own pod name would give it.
    identity: `replica-${replicaId}`,
    ...(redisUrl ? { redisUrl } : {}),
  });
  running.push({ pipeline, backend });
  pipeline.start();
  return { pipeline, written, metrics, backend };
}

const running: { pipeline: Pipeline; backend: OutboxBackend }[] = [];
afterEach(async () => {
  for (const { pipeline, backend } of running.splice(0)) {
    await pipeline.stop();
    await backend.close();
  }
});

async function metricValue(metrics: EngineMetrics, name: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.reduce((n, v) => n + v.value, 0);
}

async function sourceState(p: Pipeline): Promise<string | undefined> {
  return (await p.status()).components.find((c) => c.component === 'source')?.state;
}

describe('single-reader source under a lease (real Redis)', () => {
  it('is read by exactly one replica; the others stand by and are ready', async () => {
    const world = new Broadcast();
    const name = `single-${++pipelineCounter}`;
    const replicas = ['a', 'b', 'c'].map((id) => replica(name, id, world));
    await waitFor(() => world.readers.size === 1, 'one reader connected');
    await waitFor(async () => {
      const states = await Promise.all(replicas.map((r) => sourceState(r.pipeline)));
      return states.filter((s) => s === 'standby').length === 2 && states.includes('connected');
    }, 'one connected and two standby');
    for (const r of replicas) expect(r.pipeline.ready()).toBe(true);

    for (let i = 0; i < 20; i++) world.publish(`m${i}`);
    await waitFor(() => replicas.some((r) => r.written.length === 20), 'all written by the reader');
    const [reader] = [...world.readers];
    expect(replicas.map((r) => r.written.length).sort()).toEqual([0, 0, 20]);
    const holder = replicas[['a', 'b', 'c'].indexOf(reader!.replica)]!;
    expect(await metricValue(holder.metrics, 'passerelle_lease_held')).toBe(1);
    expect(await metricValue(holder.metrics, 'passerelle_lease_takeovers_total')).toBe(1);
    for (const r of replicas.filter((x) => x !== holder))
      expect(await metricValue(r.metrics, 'passerelle_lease_held')).toBe(0);
    expect(await admin.get(sourceLeaseKey(name))).toMatch(/#\d+$/);
  });

  it('reads under one lease with one signal, not a new combined signal per read', async () => {
    const world = new Broadcast();
    const a = replica(`single-${++pipelineCounter}`, 'a', world);
    await waitFor(() => world.readers.size === 1, 'a reads');
    for (let i = 0; i < 5; i++) {
      world.publish(`m${i}`);
      await waitFor(() => a.written.length === i + 1, `m${i} written`);
    }
    expect(world.readSignals.size).toBe(1);
    const [signal] = [...world.readSignals];
    expect(signal!.aborted).toBe(false);
  });

  it("passes the reading source's stalls on: the open batch is stored at once, not after its maxWait", async () => {
    const world = new Broadcast();
    const a = replica(`single-${++pipelineCounter}`, 'a', world, { maxWaitMs: 3_600_000 });
    await waitFor(() => world.readers.size === 1, 'a reads');
    for (let i = 0; i < 3; i++) world.publish(`m${i}`);
    await waitFor(async () => (await a.pipeline.status()).inFlight === 3, 'three messages read');
    expect(a.written).toEqual([]);
    // Reported again while it lasts, as StallWatch does: the last messages read may still be on
    // their way to the outbox when the first report comes.
    await waitFor(() => {
      world.stall();
      return a.written.length === 3;
    }, 'the open batch stored');
  });

  it('moves to a standby replica when the holder stops, and the new reader gets what follows', async () => {
    const world = new Broadcast();
    const name = `single-${++pipelineCounter}`;
    const a = replica(name, 'a', world);
    await waitFor(() => world.readers.size === 1, 'a reads');
    const b = replica(name, 'b', world);
    await waitFor(async () => (await sourceState(b.pipeline)) === 'standby', 'b stands by');
    world.publish('before');
    await waitFor(() => a.written.includes('before'), 'a wrote');

    await a.pipeline.stop(); // releases the lease after closing its source
    await waitFor(() => [...world.readers].some((r) => r.replica === 'b'), 'b takes over', 5_000);
    expect(world.readers.size).toBe(1);
    world.publish('after');
    await waitFor(() => b.written.includes('after'), 'b wrote');
    expect(a.written).toEqual(['before']);
    expect(b.written).toEqual(['after']);
    expect(await sourceState(b.pipeline)).toBe('connected');
    expect(await metricValue(b.metrics, 'passerelle_lease_takeovers_total')).toBe(1);
  });

  it('closes its source at once when the lease is lost, stands by, and reads again once it is free', async () => {
    const world = new Broadcast();
    const name = `single-${++pipelineCounter}`;
    const a = replica(name, 'a', world);
    await waitFor(() => world.readers.size === 1, 'a reads');
    // Another owner holds the key (split brain, operator): the next renewal finds out. No expiry
    // here, so a slow machine cannot let it lapse before a's renewal sees it.
    await admin.set(sourceLeaseKey(name), 'elsewhere#999');
    await waitFor(() => world.readers.size === 0, 'a closed its source', 5_000);
    expect(world.closes).toEqual(['a']);
    expect(await sourceState(a.pipeline)).toBe('standby');
    expect(a.pipeline.ready()).toBe(true);
    expect(await metricValue(a.metrics, 'passerelle_lease_lost_total')).toBe(1);
    expect(await metricValue(a.metrics, 'passerelle_lease_held')).toBe(0);
    // When the other owner's lease expires, a takes it again with a new source instance.
    await admin.pexpire(sourceLeaseKey(name), 200);
    await waitFor(() => world.readers.size === 1, 'a reads again', 5_000);
    expect(world.connects).toEqual(['a', 'a']);
    world.publish('again');
    await waitFor(() => a.written.includes('again'), 'a wrote again');
    expect(await metricValue(a.metrics, 'passerelle_lease_takeovers_total')).toBe(2);
  });

  it('a restarted replica takes its own lease back at once; another replica waits for the expiry', async () => {
    const world = new Broadcast();
    const name = `restart-${++pipelineCounter}`;
    const ttl = 20_000;
    // What a replica killed with SIGKILL leaves: its lease, still valid for the whole ttl.
    await admin.set(sourceLeaseKey(name), `replica-a/${name}/source/0f0f0f0f#41`, 'PX', ttl);
    await admin.set(`${sourceLeaseKey(name)}:fence`, 41);
    const other = replica(name, 'b', world, { leaseTtlMs: ttl });
    await waitFor(async () => (await sourceState(other.pipeline)) === 'standby', 'b stands by');
    const restartedAt = Date.now();
    const restarted = replica(name, 'a', world, { leaseTtlMs: ttl });
    await waitFor(() => world.readers.size === 1, 'the restarted replica reads', 5_000);
    expect(Date.now() - restartedAt).toBeLessThan(ttl / 4);
    expect([...world.readers][0]!.replica).toBe('a');
    expect(await admin.get(sourceLeaseKey(name))).toMatch(new RegExp(`^replica-a/${name}/source/[^/]+#42$`));
    world.publish('after restart');
    await waitFor(() => restarted.written.includes('after restart'), 'a wrote');
    expect(other.written).toEqual([]);
    expect(await sourceState(other.pipeline)).toBe('standby');
  });

  it('takes no lease for a source that is not single-reader, nor without Redis', async () => {
    const world = new Broadcast();
    const name = `shared-${++pipelineCounter}`;
    replica(name, 'a', world, { single: false });
    replica(name, 'b', world, { single: true, redisUrl: undefined });
    await waitFor(() => world.readers.size === 2, 'both read');
    expect(await admin.exists(sourceLeaseKey(name))).toBe(0);
  });
});
