import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type ServiceHandle } from '../../test/harness/services.js';
import {
  defaultRetention,
  makeMessages,
  outboxConformance,
  recorder,
  sleep,
  waitFor,
} from '../../test/conformance/outbox.js';
import { NotConnectedError } from '../sdk/index.js';
import { createRedisBackend, queueName } from './bullmq.js';
import type { OutboxBackend, OutboxOptions } from './types.js';

let redis: ServiceHandle;
let prefixes = 0;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.dispose();
});

const prefixOf = new WeakMap<OutboxBackend, string>();
// Lock 2 s, stall check every 2 s: a job whose completion was lost comes back within 4 s.
outboxConformance(
  'bullmq',
  async (retention) => {
    const prefix = `t${++prefixes}`;
    const backend = await createRedisBackend({ url: redis.url, retention, lockDurationMs: 2000, prefix });
    prefixOf.set(backend, prefix);
    return backend;
  },
  {
    jobsLeft: async (backend, { pipeline, sink }) => {
      const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      const queue = new Queue(queueName(pipeline, sink), { connection, prefix: prefixOf.get(backend)! });
      try {
        const counts = await queue.getJobCounts(
          'active',
          'wait',
          'delayed',
          'prioritized',
          'waiting-children',
        );
        return Object.values(counts).reduce((a, b) => a + b, 0);
      } finally {
        await queue.close();
        connection.disconnect();
      }
    },
  },
);

function options(pipeline: string, overrides: Partial<OutboxOptions> = {}): OutboxOptions {
  return {
    pipeline,
    sink: 'out',
    batch: { count: 10, bytes: 1_000_000, maxWaitMs: 20 },
    retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 50 },
    capacity: 100_000,
    concurrency: 2,
    ...overrides,
  };
}

describe('bullmq outbox: durability', () => {
  it('keeps stored jobs when closed unfinished; a new instance delivers them', async () => {
    const prefix = `d${++prefixes}`;
    const a = await createRedisBackend({
      url: redis.url,
      retention: defaultRetention,
      lockDurationMs: 1000,
      prefix,
    });
    const oa = a.createOutbox(options('keep'));
    await oa.enqueue(makeMessages(50, 'k'));
    // One job taken and never finished, as if the sink hung: close gives up on it after the deadline.
    let taken = 0;
    oa.start(() => {
      taken++;
      return new Promise(() => undefined);
    });
    await waitFor(() => taken > 0);
    await oa.close(50);
    await a.close();

    const b = await createRedisBackend({
      url: redis.url,
      retention: defaultRetention,
      lockDurationMs: 1000,
      prefix,
    });
    const rec = recorder();
    const ob = b.createOutbox({ ...options('keep'), events: rec.events });
    const seen = new Set<string>();
    ob.start(async (ms) => void ms.forEach((m) => seen.add(m.id)));
    await waitFor(() => seen.size === 50, 15_000, 'all 50 delivered by the new instance');
    expect(taken).toBeGreaterThan(0);
    await ob.close(1000);
    await b.close();
  });

  it('rejects enqueue while Redis is down, and loses nothing across a restart (append-only)', async () => {
    const aof = await startRedis({ appendOnly: true });
    let backend: OutboxBackend | undefined;
    try {
      backend = await createRedisBackend({ url: aof.url, retention: defaultRetention, lockDurationMs: 2000 });
      const rec = recorder();
      const outbox = backend.createOutbox({
        ...options('restart', { concurrency: 4, batch: { count: 50, bytes: 1_000_000, maxWaitMs: 10 } }),
        events: rec.events,
      });
      const seen = new Set<string>();
      outbox.start(async (ms) => {
        await sleep(2);
        for (const m of ms) seen.add(m.id);
      });
      const total = 3000;
      const all = makeMessages(total, 'rs');
      let rejections = 0;
      const producer = (async () => {
        for (let i = 0; i < total; i += 100) {
          const chunk = all.slice(i, i + 100);
          // What the engine does: a rejected enqueue is not acknowledged and is tried again.
          for (;;) {
            try {
              await outbox.enqueue(chunk);
              break;
            } catch {
              rejections++;
              await sleep(50);
            }
          }
          await sleep(5);
        }
      })();
      await waitFor(() => seen.size > 300, 10_000, 'some deliveries before the restart');
      await aof.stop({ kill: true });
      await sleep(300);
      await aof.restart();
      await producer;
      await waitFor(() => seen.size === total, 30_000, `all ${total} delivered (have ${seen.size})`);
      expect(rejections).toBeGreaterThan(0);
      expect(seen.size).toBe(total);
      await outbox.close(1000);
    } finally {
      await backend?.close();
      await aof.dispose();
    }
  });

  it('gives the job of a worker killed with SIGKILL to another instance', async () => {
    const prefix = `k${++prefixes}`;
    const b = await createRedisBackend({
      url: redis.url,
      retention: defaultRetention,
      lockDurationMs: 1000,
      prefix,
    });
    const child = spawn(
      process.execPath,
      [
        '--import',
        fileURLToPath(new URL('./fixtures/register.mjs', import.meta.url)),
        fileURLToPath(new URL('./fixtures/killed-worker.mjs', import.meta.url)),
        redis.url,
        prefix,
        'killed',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const ob = b.createOutbox(options('killed', { concurrency: 1 }));
      await ob.enqueue(makeMessages(10, 'kl'));
      await waitFor(() => out.includes('took '), 20_000, `the child to take the job (stderr: ${err})`);
      const took = /took (\S+)/.exec(out)?.[1]?.split(',') ?? [];
      expect(took).toHaveLength(10);
      child.kill('SIGKILL');
      await exited;
      const got: string[] = [];
      ob.start(async (ms) => void got.push(...ms.map((m) => m.id)));
      await waitFor(() => got.length === 10, 15_000, "the killed worker's job picked up");
      expect(got.sort()).toEqual(took.sort());
      await ob.close(1000);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await b.close();
    }
  });

  it('a process restarted with the same owner takes back at once the job its killed predecessor held', async () => {
    const prefix = `o${++prefixes}`;
    const lockDurationMs = 30_000; // the production default: without the take-back, a 30 s wait
    const owner = 'node-1/restarted/out';
    const b = await createRedisBackend({
      url: redis.url,
      retention: defaultRetention,
      lockDurationMs,
      prefix,
    });
    const child = spawn(
      process.execPath,
      [
        '--import',
        fileURLToPath(new URL('./fixtures/register.mjs', import.meta.url)),
        fileURLToPath(new URL('./fixtures/killed-worker.mjs', import.meta.url)),
        redis.url,
        prefix,
        'restarted',
        owner,
        String(lockDurationMs),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const producer = b.createOutbox(options('restarted'));
      await producer.enqueue(makeMessages(10, 'rs'));
      await waitFor(() => out.includes('took '), 20_000, `the child to take the job (stderr: ${err})`);
      const took = /took (\S+)/.exec(out)?.[1]?.split(',') ?? [];
      child.kill('SIGKILL');
      await exited;
      await producer.close(500);
      const restartedAt = Date.now();
      const restarted = b.createOutbox(options('restarted', { concurrency: 1, owner }));
      const got: string[] = [];
      restarted.start(async (ms) => void got.push(...ms.map((m) => m.id)));
      await waitFor(() => got.length === 10, lockDurationMs / 3, "the predecessor's job taken back");
      expect(Date.now() - restartedAt).toBeLessThan(lockDurationMs / 3);
      expect(got.sort()).toEqual(took.sort());
      await restarted.close(1000);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await b.close();
    }
  });

  it('a replica whose sink is not connected leaves the jobs to a replica whose sink is', async () => {
    const prefix = `r${++prefixes}`;
    const make = () =>
      createRedisBackend({ url: redis.url, retention: defaultRetention, lockDurationMs: 2000, prefix });
    const [b1, b2] = [await make(), await make()];
    try {
      const down = b1.createOutbox(options('shared', { concurrency: 2 }));
      const up = b2.createOutbox(options('shared', { concurrency: 2 }));
      down.setConnected(false);
      let downCalls = 0;
      down.start(async () => {
        downCalls++;
        throw new NotConnectedError('not connected');
      });
      const got: string[] = [];
      up.start(async (ms) => void got.push(...ms.map((m) => m.id)));
      await down.enqueue(makeMessages(50, 'sh'));
      await waitFor(() => got.length === 50, 10_000, 'every job written by the connected replica');
      expect(downCalls).toBe(0);
      expect(new Set(got).size).toBe(50);
      await down.close(500);
      await up.close(500);
    } finally {
      await b1.close();
      await b2.close();
    }
  });

  it('returns replays claimed and never done at the next start', async () => {
    const prefix = `r${++prefixes}`;
    const a = await createRedisBackend({ url: redis.url, retention: defaultRetention, prefix });
    await a.deadLetters.add(
      makeMessages(3, 'rd').map((message) => ({
        pipeline: 'rp',
        stage: 'out',
        sink: 'out',
        reason: 'x',
        message,
        time: Date.now(),
        attempts: 1,
      })),
    );
    const ids = (await a.deadLetters.list({ pipeline: 'rp' })).map((e) => e.id);
    expect((await a.deadLetters.requestReplay(ids)).marked).toBe(3);
    expect(await a.deadLetters.claimReplays('rp', 2)).toHaveLength(2);
    await a.close();
    const b = await createRedisBackend({ url: redis.url, retention: defaultRetention, prefix });
    try {
      const again = await b.deadLetters.claimReplays('rp', 10);
      expect(again.map((e) => e.message.id).sort()).toEqual(['rd-0', 'rd-1', 'rd-2']);
      await b.deadLetters.replayDone(
        'rp',
        again.map((e) => e.id),
      );
      expect(await b.deadLetters.count({ pipeline: 'rp' })).toBe(0);
      expect(await b.deadLetters.claimReplays('rp', 10)).toEqual([]);
    } finally {
      await b.close();
    }
  });

  it('dead-letters a message JSON can not carry instead of failing every enqueue', async () => {
    const b = await createRedisBackend({
      url: redis.url,
      retention: defaultRetention,
      prefix: `u${++prefixes}`,
    });
    try {
      const rec = recorder();
      const o = b.createOutbox({ ...options('unstorable'), events: rec.events });
      const got: string[] = [];
      o.start(async (ms) => void got.push(...ms.map((m) => m.id)));
      const cyclic: Record<string, unknown> = { a: 1 };
      cyclic.self = cyclic;
      await o.enqueue([
        { id: 'ok', payload: 1, meta: {}, time: 1 },
        { id: 'big', payload: { n: 10n }, meta: {}, time: 2 },
        { id: 'cycle', payload: cyclic, meta: {}, time: 3 },
      ]);
      await waitFor(() => got.length === 1);
      expect(got).toEqual(['ok']);
      expect(rec.dead).toHaveLength(1);
      expect(rec.dead[0]?.count).toBe(2);
      const dl = await b.deadLetters.list({ pipeline: 'unstorable' });
      expect(dl.map((e) => e.message.id).sort()).toEqual(['big', 'cycle']);
      expect(dl.find((e) => e.message.id === 'big')?.message.payload).toContain('10n');
      expect(dl[0]?.reason).toMatch(/can not be stored as JSON/);
      await o.close(1000);
    } finally {
      await b.close();
    }
  });

  it('counts the bytes of dead letters stored before the byte budget existed', async () => {
    const prefix = `budget${++prefixes}`;
    const entry = (i: number) => ({
      pipeline: 'old',
      stage: 'out',
      reason: 'x',
      message: { id: `o-${i}`, payload: 'p'.repeat(3000), meta: {}, time: i },
      time: Date.now() + i,
      attempts: 1,
    });
    const early = await createRedisBackend({ url: redis.url, retention: defaultRetention, prefix });
    for (let i = 0; i < 6; i++) await early.deadLetters.add([entry(i)]);
    await early.close();
    // As an older version left them: entries, no byte counter.
    const client = new Redis(redis.url);
    await client.del(`${prefix}:dlq:bytes:old`);
    const ids = await client.zrange(`${prefix}:dlq:time:old`, '0', '-1');
    const b = await createRedisBackend({
      url: redis.url,
      retention: { ...defaultRetention, maxMessageBytes: 4096, maxBytes: 10_000 },
      prefix,
    });
    try {
      // A purge does not drive a missing counter negative.
      expect(await b.deadLetters.remove([ids[0]!])).toBe(1);
      expect(await client.exists(`${prefix}:dlq:bytes:old`)).toBe(0);
      await b.deadLetters.add([entry(6)]);
      // About 3.1 KB each: 10 KB keep three.
      expect((await b.deadLetters.list({ pipeline: 'old' })).map((e) => e.message.id)).toEqual([
        'o-4',
        'o-5',
        'o-6',
      ]);
      const kept = await client.hvals(`${prefix}:dlq:entries`);
      expect(Number(await client.get(`${prefix}:dlq:bytes:old`))).toBe(
        kept.reduce((n, json) => n + Buffer.byteLength(json), 0),
      );
    } finally {
      await client.quit();
      await b.close();
    }
  });
});

describe('bullmq outbox: Redis connections', () => {
  /** Clients connected to the test Redis, from CLIENT LIST, without the observer itself. */
  async function clients(observer: Redis): Promise<number> {
    const list = (await observer.client('LIST')) as string;
    return list.split('\n').filter((l) => l.trim().length > 0).length - 1;
  }

  it('shares one command connection between the workers: producer + 1 + one blocking per sink', async () => {
    const observer = new Redis(redis.url);
    const before = await clients(observer);
    const backend = await createRedisBackend({
      url: redis.url,
      retention: defaultRetention,
      lockDurationMs: 2000,
      prefix: `c${++prefixes}`,
    });
    const sinks = 4;
    const delivered = new Set<string>();
    const outboxes = Array.from({ length: sinks }, (_, i) =>
      backend.createOutbox({ ...options('conns'), sink: `s${i}` }),
    );
    for (const o of outboxes) o.start(async (ms) => void ms.forEach((m) => delivered.add(m.id)));
    await Promise.all(outboxes.map((o, i) => o.enqueue(makeMessages(20, `c${i}-`))));
    await waitFor(() => delivered.size === 20 * sinks, 15_000, 'every sink delivered');
    // The producer, the workers' shared command connection, and one blocking connection per worker.
    await waitFor(async () => (await clients(observer)) - before === 2 + sinks, 5000, 'connections settle');
    expect((await clients(observer)) - before).toBe(2 + sinks);
    for (const o of outboxes) await o.close(1000);
    await backend.close();
    await waitFor(async () => (await clients(observer)) === before, 5000, 'all connections closed');
    observer.disconnect();
  });
});
