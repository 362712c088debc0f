import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMessage, type Message } from '../../sdk/index.js';
import { createFakeContext, type FakeContext } from '../../../test/conformance/context.js';
import {
  createTestTransformContext,
  describeTransformConformance,
} from '../../../test/conformance/transform.js';
import { startRedis, type ServiceHandle } from '../../../test/harness/services.js';
import { DeadbandTransform, deadbandTransform, deadbandTransformConfig } from './index.js';

/*
 * The Redis state against a real Redis: the same decisions as the in-memory state (its Lua mirrors
 * decide.ts), kept across a restart of the transform, shared by replicas, and a fallback to memory
 * while Redis is down.
 */

const T0 = 1_700_000_000_000;
let redis: ServiceHandle;
let admin: Redis;
let pipelineCounter = 0;
const open: DeadbandTransform[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
afterAll(async () => {
  for (const t of open) await t.close();
  admin?.disconnect();
  await redis?.dispose();
});

function create(
  config: Record<string, unknown>,
  pipeline: string,
  redisUrl: string | null = redis.url,
): { t: DeadbandTransform; ctx: FakeContext } {
  const ctx = createFakeContext(redisUrl ? { redisUrl } : {});
  ctx.pipeline = pipeline;
  ctx.component = 'transforms[0]';
  const t = deadbandTransform.create(deadbandTransformConfig.parse(config), ctx) as DeadbandTransform;
  open.push(t);
  return { t, ctx };
}

const reading = (id: string, topic: string, payload: unknown, time = T0): Message =>
  createMessage({ id, payload, meta: { 'mqtt.topic': topic }, time });

async function passed(t: DeadbandTransform, batch: Message[]): Promise<string[]> {
  const ctx = createTestTransformContext();
  const out = await t.apply(batch, ctx);
  expect(ctx.rejected).toEqual([]);
  return out.map((m) => m.id);
}

// The shared suite on the Redis state: one key per topic, so a repeat within the band is dropped;
// the large batch (20 000 keys, one topic per copy) goes in pipelined chunks of one script call each.
describeTransformConformance('deadband with Redis', {
  create: () =>
    create({ key: 'topic', fields: ['payload.t'], absolute: 1 }, `conformance-${++pipelineCounter}`).t,
  good: [reading('a', 'x', { t: 1 }), reading('b', 'y', { t: 'text' })],
  bad: [reading('c', 'z', { u: 1 }), reading('d', 'w', { t: Number.NaN })],
  dropped: [reading('a-again', 'x', { t: 1.5 }), reading('b-again', 'y', { t: 'text' })],
  copy: (m, i) => ({
    ...m,
    id: `${m.id}#large${i}`,
    meta: { ...m.meta, 'mqtt.topic': `${String(m.meta['mqtt.topic'])}/${i}` },
  }),
});

describe('deadband with Redis', () => {
  it('decides exactly as the in-memory state (random streams, bands, heartbeats, statuses)', async () => {
    const value = fc.oneof(
      { weight: 6, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) },
      { weight: 2, arbitrary: fc.constantFrom(0, 1, 1.5, -0, 1e-9, 123456.789) },
      { weight: 1, arbitrary: fc.constantFrom('on', 'off', null, true) },
    );
    const step = fc.record({
      topic: fc.constantFrom('a', 'b', 'c'),
      v: value,
      rh: fc.option(value, { nil: undefined }),
      status: fc.constantFrom('good', 'good', 'good', 'bad'),
      dt: fc.integer({ min: 0, max: 3000 }),
      cut: fc.boolean(),
    });
    const band = fc.oneof(
      fc.record({ absolute: fc.double({ min: 0, max: 100, noNaN: true }) }),
      fc.record({ percent: fc.double({ min: 0, max: 50, noNaN: true }) }),
      fc.constant({}),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 60 }),
        band,
        fc.constantFrom(0, 2000, 10_000),
        async (steps, b, maxSilence) => {
          const config = { fields: ['payload.v', 'payload.rh'], ...b, maxSilence };
          const name = `equivalence-${++pipelineCounter}`;
          const memory = create(config, name, null).t;
          const shared = create(config, name).t;
          let time = T0;
          const batches: Message[][] = [[]];
          steps.forEach((s, i) => {
            time += s.dt;
            const payload = { v: s.v, status: s.status, ...(s.rh === undefined ? {} : { rh: s.rh }) };
            batches.at(-1)!.push(reading(`m${i}`, s.topic, payload, time));
            if (s.cut) batches.push([]);
          });
          const fromMemory: string[] = [];
          const fromRedis: string[] = [];
          for (const batch of batches) {
            fromMemory.push(...(await passed(memory, batch)));
            fromRedis.push(...(await passed(shared, batch)));
          }
          expect(fromRedis).toEqual(fromMemory);
          await memory.close();
          await shared.close();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('keeps its state across a restart of the transform, with a TTL on each key', async () => {
    const config = { fields: ['payload.t'], absolute: 1, stateTtl: '1h' };
    const first = create(config, 'restart').t;
    expect(await passed(first, [reading('1', 'x', { t: 20 }), reading('2', 'x', { t: 20.5 })])).toEqual([
      '1',
    ]);
    await first.close();
    const second = create(config, 'restart').t;
    expect(await passed(second, [reading('3', 'x', { t: 20.9 }), reading('4', 'x', { t: 21.1 })])).toEqual([
      '4',
    ]);
    const keys = await admin.keys('passerelle:deadband:{restart:transforms\\[0\\]}:*');
    expect(keys).toEqual(['passerelle:deadband:{restart:transforms[0]}:x']);
    const ttl = await admin.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(3_500_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
    // Another pipeline (or another deadband in the same pipeline) has its own state.
    expect(await passed(create(config, 'restart-other').t, [reading('5', 'x', { t: 20.9 })])).toEqual(['5']);
  });

  it('two replicas seeing the same key never both pass values within the band', async () => {
    const config = { fields: ['payload.t'], absolute: 0.5 };
    const replicas = [create(config, 'replicas').t, create(config, 'replicas').t];
    let n = 0;
    const results = await Promise.all(
      replicas.map(async (t) => {
        const ids: string[] = [];
        for (let b = 0; b < 30; b++) {
          const batch = Array.from({ length: 10 }, () =>
            reading(`r${++n}`, 'line/1', { t: 10 + (n % 5) / 10 }),
          );
          ids.push(...(await passed(t, batch)));
        }
        return ids;
      }),
    );
    // All 600 values are within 0.4 of each other: only the very first one, on either replica, passes.
    expect(results.flat()).toHaveLength(1);
  });

  it('decides from memory when Redis answers later than redisTimeout', async () => {
    const { t, ctx } = create({ fields: ['payload.t'], absolute: 1, redisTimeout: '200ms' }, 'slow');
    expect(await passed(t, [reading('1', 'k', { t: 1 })])).toEqual(['1']);
    // CLIENT PAUSE holds every client's commands (the admin's included) for 1.5 s.
    await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
    // Ordered, not timed: the decision comes while Redis still holds every command (this PING's
    // answer comes only when the pause ends), so it did not wait for Redis.
    let redisAnswered = false;
    const held = admin.ping().then(() => (redisAnswered = true));
    // The fallback memory starts empty: the value passes, decided by this replica alone.
    expect(await passed(t, [reading('2', 'k', { t: 1.2 })])).toEqual(['2']);
    expect(redisAnswered).toBe(false);
    expect(
      await ctx.registry.getSingleMetricAsString('passerelle_deadband_fallback_messages_total'),
    ).toContain('} 1');
    expect(ctx.logs.some((l) => String(l.msg).includes('Redis unreachable'))).toBe(true);
    // The held PING is answered when the pause ends (never left pending when the connection closes).
    await held;
  });

  it('decides from memory while Redis is down, counts it, and uses Redis again when it is back', async () => {
    const own = await startRedis();
    try {
      const { t, ctx } = create(
        { fields: ['payload.t'], absolute: 1, redisTimeout: '300ms' },
        'outage',
        own.url,
      );
      expect(await passed(t, [reading('1', 'k', { t: 1 })])).toEqual(['1']);
      await own.stop({ kill: true });
      // Memory starts empty: the first value passes; then the band applies within this replica.
      expect(await passed(t, [reading('2', 'k', { t: 1.1 }), reading('3', 'k', { t: 1.2 })])).toEqual(['2']);
      expect(
        await ctx.registry.getSingleMetricAsString('passerelle_deadband_fallback_messages_total'),
      ).toContain('} 2');
      expect(ctx.logs.some((l) => l.level === 'warn' && String(l.msg).includes('Redis unreachable'))).toBe(
        true,
      );
      await own.restart();
      // The data folder is kept but Redis ran without persistence: the key is new again.
      const back = async () => (await passed(t, [reading(`b${Date.now()}`, 'k', { t: 5 })])).length === 1;
      for (let i = 0; i < 100 && !ctx.logs.some((l) => String(l.msg).includes('state in Redis again')); i++) {
        await back();
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(ctx.logs.some((l) => String(l.msg).includes('state in Redis again'))).toBe(true);
      const probe = new Redis(own.url);
      expect(await probe.exists('passerelle:deadband:{outage:transforms[0]}:k')).toBe(1);
      probe.disconnect();
    } finally {
      await own.dispose();
    }
  });
});
