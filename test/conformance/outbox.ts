/**
 * Conformance suite for outbox backends (src/outbox): the same behaviour from the memory and the
 * BullMQ implementation. `makeBackend` gives a fresh, isolated backend for each test.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type {
  DeadLetterRetention,
  Outbox,
  OutboxBackend,
  OutboxEvents,
  OutboxOptions,
} from '../../src/outbox/types.js';
import {
  BatchError,
  FatalError,
  NotConnectedError,
  RetryableError,
  SinkStoppedError,
  messageSize,
  type Message,
} from '../../src/sdk/index.js';

export type MakeBackend = (retention: DeadLetterRetention) => Promise<OutboxBackend>;

export const defaultRetention: DeadLetterRetention = { maxAgeMs: 86_400_000, maxCount: 10_000 };

export function makeMessages(n: number, tag = 'm', payload?: (i: number) => unknown): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      id: `${tag}-${i}`,
      payload: payload ? payload(i) : { i, v: i * 1.5 },
      meta: { 'test.tag': tag },
      time: 1_700_000_000_000 + i,
    });
  }
  return out;
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Lets the outbox do what it would do next, by order of events rather than by a quiet window: `n`
 * stats() calls in a row (round trips to the store, on the connection that stores jobs, for a
 * backend with one), each followed by a zero-delay timer (which runs after any zero-delay timer set
 * before it). A worker taking a job it was just handed, or one put back without delay, does so
 * within these.
 */
export async function roundTrips(outbox: Outbox, n = 5): Promise<void> {
  for (let i = 0; i < n; i++) {
    await outbox.stats();
    await new Promise((r) => setTimeout(r, 0));
  }
}

/** A flag that turns true once `p` settles, to compare its settling with other events. */
export function settledFlag(p: Promise<unknown>): { readonly settled: boolean } {
  const flag = { settled: false };
  p.then(
    () => (flag.settled = true),
    () => (flag.settled = true),
  );
  return flag;
}

export interface Recorder {
  events: OutboxEvents;
  delivered: number;
  dead: { count: number; reason: string }[];
  retries: { attempt: number; delayMs: number; error: string }[];
  stopped: Error[];
}

export function recorder(): Recorder {
  const r: Recorder = {
    delivered: 0,
    dead: [],
    retries: [],
    stopped: [],
    events: {
      delivered: (n) => (r.delivered += n),
      deadLettered: (count, reason) => r.dead.push({ count, reason }),
      retrying: (error, attempt, delayMs) => r.retries.push({ attempt, delayMs, error: error.message }),
      stopped: (error) => r.stopped.push(error),
    },
  };
  return r;
}

let seq = 0;

export interface OutboxConformanceOptions {
  /**
   * Jobs of the outbox with these options that its store still holds in a state a worker could be
   * handed them from (waiting, delayed, active: a job whose completion was lost stays active until
   * its lock expires, then comes back). None left means nothing can be delivered again. Absent for a
   * backend whose settled jobs are gone at once (memory).
   */
  jobsLeft?(backend: OutboxBackend, options: OutboxOptions): Promise<number>;
}

export function outboxConformance(
  name: string,
  makeBackend: MakeBackend,
  conformance: OutboxConformanceOptions = {},
): void {
  describe(`outbox conformance: ${name}`, () => {
    const open: OutboxBackend[] = [];
    const outboxes: Outbox[] = [];

    afterEach(async () => {
      for (const o of outboxes.splice(0)) await o.close(200);
      for (const b of open.splice(0)) await b.close();
    });

    async function backendWith(retention = defaultRetention): Promise<OutboxBackend> {
      const b = await makeBackend(retention);
      open.push(b);
      return b;
    }

    async function setup(overrides: Partial<OutboxOptions> = {}, rec = recorder()) {
      const backend = await backendWith();
      const options: OutboxOptions = {
        pipeline: `p${++seq}`,
        sink: 'out',
        batch: { count: 10, bytes: 1_000_000, maxWaitMs: 30 },
        retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 40 },
        capacity: 100_000,
        concurrency: 1,
        events: rec.events,
        ...overrides,
      };
      const outbox = backend.createOutbox(options);
      outboxes.push(outbox);
      return { backend, outbox, rec, options };
    }

    it('stores one job per full batch (count), and several enqueue calls share a job', async () => {
      const { outbox } = await setup({ batch: { count: 5, bytes: 1_000_000, maxWaitMs: 60_000 } });
      const batches: string[][] = [];
      outbox.start(async (ms) => void batches.push(ms.map((m) => m.id)));
      await outbox.enqueue(makeMessages(10, 'a'));
      const singles = makeMessages(5, 'b').map((m) => outbox.enqueue([m]));
      await Promise.all(singles);
      await waitFor(() => batches.flat().length === 15, 10_000, 'deliveries');
      expect(batches.map((b) => b.length)).toEqual([5, 5, 5]);
      expect(batches[2]).toEqual(['b-0', 'b-1', 'b-2', 'b-3', 'b-4']);
    });

    it('cuts batches by bytes', async () => {
      const payload = 'x'.repeat(1000);
      const size = messageSize({ id: 'x', payload, meta: {}, time: 0 });
      const { outbox } = await setup({ batch: { count: 1000, bytes: size * 3, maxWaitMs: 5_000 } });
      const sizes: number[] = [];
      outbox.start(async (ms) => void sizes.push(ms.length));
      await outbox.enqueue(makeMessages(9, 'b', () => payload));
      await waitFor(() => sizes.length === 3, 10_000, 'three jobs');
      expect(sizes).toEqual([3, 3, 3]);
    });

    it('stores a partial batch after maxWaitMs, not before', async () => {
      const { outbox } = await setup({ batch: { count: 100, bytes: 1_000_000, maxWaitMs: 300 } });
      const sizes: number[] = [];
      outbox.start(async (ms) => void sizes.push(ms.length));
      const t0 = Date.now();
      // Not before: the time it settled, not a look at it after a pause.
      await outbox.enqueue(makeMessages(3, 'w'));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
      await waitFor(() => sizes.length === 1);
      expect(sizes).toEqual([3]);
    });

    it('resolves enqueue only once the job is stored (depth counts it), and close stores the pending batch', async () => {
      const { outbox, backend, options } = await setup({
        batch: { count: 4, bytes: 1_000_000, maxWaitMs: 60_000 },
      });
      await outbox.enqueue(makeMessages(4, 's'));
      expect((await outbox.stats()).depth).toBe(4);
      const pending = outbox.enqueue(makeMessages(2, 't'));
      const enqueued = settledFlag(pending);
      // A job stored in the meantime would be done within these round trips.
      await roundTrips(outbox);
      expect(enqueued.settled).toBe(false);
      expect((await outbox.stats()).depth).toBe(4);
      await outbox.close(100);
      await pending;
      if (backend.kind === 'redis') {
        // Stored, so a new outbox on the same queue delivers all six.
        const again = backend.createOutbox(options);
        outboxes.push(again);
        const ids: string[] = [];
        again.start(async (ms) => void ids.push(...ms.map((m) => m.id)));
        await waitFor(() => ids.length === 6, 10_000, 'six deliveries');
        expect(ids.sort()).toEqual(['s-0', 's-1', 's-2', 's-3', 't-0', 't-1']);
      }
    });

    it('delivers every message once when all goes well (concurrency 4)', async () => {
      const rec = recorder();
      const { outbox, backend, options } = await setup(
        { concurrency: 4, batch: { count: 25, bytes: 1_000_000, maxWaitMs: 20 } },
        rec,
      );
      const seen = new Map<string, number>();
      outbox.start(async (ms) => {
        await sleep(5);
        for (const m of ms) seen.set(m.id, (seen.get(m.id) ?? 0) + 1);
      });
      await Promise.all([outbox.enqueue(makeMessages(300, 'x')), outbox.enqueue(makeMessages(200, 'y'))]);
      await waitFor(() => rec.delivered === 500, 20_000, '500 deliveries');
      await waitFor(
        async () => {
          const stats = await outbox.stats();
          return stats.depth === 0 && stats.activeJobs === 0;
        },
        5_000,
        'depth 0 and no active job',
      );
      // A job whose completion was lost stays in the store until its lock expires and it comes back:
      // wait until none is left, so a redelivery has happened by then.
      if (conformance.jobsLeft)
        await waitFor(
          async () => (await conformance.jobsLeft!(backend, options)) === 0,
          20_000,
          'no job left in the store',
        );
      expect(seen.size).toBe(500);
      expect([...seen.entries()].filter(([, n]) => n !== 1)).toEqual([]);
      expect(rec.delivered).toBe(500);
    });

    it('keeps bytes payloads as bytes and the rest intact', async () => {
      const { outbox } = await setup({ batch: { count: 2, bytes: 1_000_000, maxWaitMs: 20 } });
      const got: Message[] = [];
      outbox.start(async (ms) => void got.push(...ms));
      const bytes = new Uint8Array([0, 1, 2, 254, 255]);
      await outbox.enqueue([
        { id: 'b', payload: bytes, meta: { 'mqtt.topic': 'a/b', raw: new Uint8Array([9]) }, time: 5 },
        {
          id: 'o',
          payload: { nested: { $bytes: 'not bytes' }, list: [1, 'two', null, true] },
          meta: {},
          time: 6,
        },
      ]);
      await waitFor(() => got.length === 2);
      const [b, o] = got as [Message, Message];
      expect(b.payload).toBeInstanceOf(Uint8Array);
      expect([...(b.payload as Uint8Array)]).toEqual([0, 1, 2, 254, 255]);
      expect([...(b.meta.raw as Uint8Array)]).toEqual([9]);
      expect(b.meta['mqtt.topic']).toBe('a/b');
      expect(b.time).toBe(5);
      expect(o.payload).toEqual({ nested: { $bytes: 'not bytes' }, list: [1, 'two', null, true] });
    });

    it('retries a RetryableError with backoff, then succeeds', async () => {
      const rec = recorder();
      const { outbox } = await setup({}, rec);
      const attempts: number[] = [];
      outbox.start(async (_ms, ctx) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt < 3) throw new RetryableError(`busy ${ctx.attempt}`);
      });
      await outbox.enqueue(makeMessages(10, 'r'));
      await waitFor(() => rec.delivered === 10);
      expect(attempts).toEqual([1, 2, 3]);
      expect(rec.retries.map((r) => r.attempt)).toEqual([1, 2]);
      expect(rec.retries.every((r) => r.delayMs >= 0 && r.delayMs <= 40)).toBe(true);
      expect(rec.dead).toEqual([]);
    });

    it('hands a retried batch the same message times, to the microsecond', async () => {
      const rec = recorder();
      const { outbox } = await setup({}, rec);
      const messages = makeMessages(10, 't').map((m, i) => ({
        ...m,
        time: 1_700_000_000_123.456 + i / 1000,
      }));
      const seen: number[][] = [];
      outbox.start(async (batch, ctx) => {
        seen.push(batch.map((m) => m.time));
        if (ctx.attempt === 1) throw new RetryableError('lost answer');
      });
      await outbox.enqueue(messages);
      await waitFor(() => rec.delivered === 10);
      expect(seen).toEqual([messages.map((m) => m.time), messages.map((m) => m.time)]);
    });

    it('honours retryAfterMs', async () => {
      const rec = recorder();
      const { outbox } = await setup({}, rec);
      const times: number[] = [];
      outbox.start(async (_ms, ctx) => {
        times.push(Date.now());
        if (ctx.attempt === 1) throw new RetryableError('429', { retryAfterMs: 400 });
      });
      await outbox.enqueue(makeMessages(10, 'h'));
      await waitFor(() => rec.delivered === 10);
      expect(rec.retries[0]?.delayMs).toBeGreaterThanOrEqual(400);
      expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(380);
    });

    it('dead-letters a batch out of attempts with the last reason (unknown errors count as retryable)', async () => {
      const rec = recorder();
      const { outbox, backend, options } = await setup({}, rec);
      let calls = 0;
      outbox.start(async () => {
        calls++;
        throw new Error(`boom ${calls}`);
      });
      await outbox.enqueue(makeMessages(10, 'd'));
      await waitFor(() => rec.dead.length === 1);
      expect(calls).toBe(3);
      expect(rec.dead).toEqual([{ count: 10, reason: 'boom 3' }]);
      const dl = await backend.deadLetters.list({ pipeline: options.pipeline });
      expect(dl).toHaveLength(10);
      expect(dl[0]).toMatchObject({
        pipeline: options.pipeline,
        stage: 'out',
        sink: 'out',
        reason: 'boom 3',
        attempts: 3,
      });
      expect(dl.map((e) => e.message.id).sort()).toEqual(
        makeMessages(10, 'd')
          .map((m) => m.id)
          .sort(),
      );
      expect(dl[0]?.message.payload).toEqual({ i: expect.any(Number), v: expect.any(Number) });
      await waitFor(async () => (await outbox.stats()).depth === 0, 5_000, 'depth 0');
    });

    it('dead-letters at once on FatalError', async () => {
      const rec = recorder();
      const { outbox, backend, options } = await setup({}, rec);
      let calls = 0;
      outbox.start(async () => {
        calls++;
        throw new FatalError('400 bad field');
      });
      await outbox.enqueue(makeMessages(10, 'f'));
      await waitFor(() => rec.dead.length === 1);
      await roundTrips(outbox);
      if (conformance.jobsLeft) expect(await conformance.jobsLeft(backend, options)).toBe(0);
      expect(calls).toBe(1);
      expect(await backend.deadLetters.count({ pipeline: options.pipeline })).toBe(10);
      expect((await backend.deadLetters.list({ pipeline: options.pipeline, limit: 1 }))[0]?.attempts).toBe(1);
    });

    it('settles a BatchError: good ones delivered, fatal ones dead-lettered, the rest retried alone', async () => {
      const rec = recorder();
      const { outbox, backend, options } = await setup(
        { batch: { count: 4, bytes: 1_000_000, maxWaitMs: 20 } },
        rec,
      );
      const calls: { ids: string[]; attempt: number }[] = [];
      outbox.start(async (ms, ctx) => {
        calls.push({ ids: ms.map((m) => m.id), attempt: ctx.attempt });
        if (calls.length === 1) {
          throw new BatchError([
            { index: 1, error: new FatalError('bad row') },
            { index: 2, error: new RetryableError('timeout') },
          ]);
        }
      });
      await outbox.enqueue(makeMessages(4, 'p'));
      await waitFor(() => rec.delivered === 3);
      expect(calls).toEqual([
        { ids: ['p-0', 'p-1', 'p-2', 'p-3'], attempt: 1 },
        { ids: ['p-2'], attempt: 2 },
      ]);
      expect(rec.dead).toEqual([{ count: 1, reason: 'bad row' }]);
      const dl = await backend.deadLetters.list({ pipeline: options.pipeline });
      expect(dl.map((e) => e.message.id)).toEqual(['p-1']);
    });

    it('BatchError failures out of attempts are dead-lettered with their reason', async () => {
      const rec = recorder();
      const { outbox } = await setup(
        {
          batch: { count: 3, bytes: 1_000_000, maxWaitMs: 20 },
          retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 10 },
        },
        rec,
      );
      outbox.start(async (ms) => {
        const i = ms.findIndex((m) => m.id === 'q-0');
        if (i >= 0) throw new BatchError([{ index: i, error: new RetryableError('still down') }]);
      });
      await outbox.enqueue(makeMessages(3, 'q'));
      await waitFor(() => rec.dead.length === 1);
      expect(rec.delivered).toBe(2);
      expect(rec.dead).toEqual([{ count: 1, reason: 'still down' }]);
    });

    it('retries NotConnectedError beyond attempts, without using them up', async () => {
      const rec = recorder();
      const { outbox } = await setup({ retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 20 } }, rec);
      const attempts: number[] = [];
      outbox.start(async (_ms, ctx) => {
        attempts.push(ctx.attempt);
        if (attempts.length <= 5) throw new NotConnectedError('sink down');
      });
      await outbox.enqueue(makeMessages(10, 'n'));
      await waitFor(() => rec.delivered === 10);
      expect(attempts).toEqual([1, 1, 1, 1, 1, 1]);
      expect(rec.dead).toEqual([]);
    });

    // Backoff delays far longer than these tests: a blind timer would not retry in time.
    const slowRetry = { attempts: 1, initialDelayMs: 10_000, maxDelayMs: 60_000 };

    it('does not call a sink that is not connected, and writes at once when it connects, using no attempt', async () => {
      const rec = recorder();
      const { outbox } = await setup({ retry: slowRetry }, rec);
      const attempts: number[] = [];
      outbox.setConnected(false);
      outbox.start(async (_ms, ctx) => void attempts.push(ctx.attempt));
      await outbox.enqueue(makeMessages(10, 'c'));
      await roundTrips(outbox);
      expect(attempts).toEqual([]);
      outbox.setConnected(true);
      // At once: well before the backoff (10 s) a blind timer would take.
      await waitFor(() => rec.delivered === 10, 5_000);
      expect(attempts).toEqual([1]);
    });

    it('a job that meets NotConnectedError waits for the sink to connect, then runs at once', async () => {
      const rec = recorder();
      const { outbox } = await setup({ retry: slowRetry }, rec);
      const attempts: number[] = [];
      outbox.start(async (_ms, ctx) => {
        attempts.push(ctx.attempt);
        if (attempts.length === 1) {
          outbox.setConnected(false); // the sink reports the outage, as it fails the write
          throw new NotConnectedError('connection lost');
        }
      });
      await outbox.enqueue(makeMessages(10, 'w'));
      await waitFor(() => attempts.length === 1, 5_000);
      await roundTrips(outbox);
      expect(attempts).toHaveLength(1);
      outbox.setConnected(true);
      // At once: well before the backoff (10 s) a blind timer would take.
      await waitFor(() => rec.delivered === 10, 5_000);
      expect(attempts).toEqual([1, 1]);
      expect(rec.dead).toEqual([]);
    });

    it('a job in backoff after NotConnectedError (the sink still said connected) runs as soon as the sink reconnects', async () => {
      const rec = recorder();
      const { outbox } = await setup({ retry: slowRetry }, rec);
      const attempts: number[] = [];
      outbox.start(async (_ms, ctx) => {
        attempts.push(ctx.attempt);
        if (attempts.length === 1) throw new NotConnectedError('connection lost');
      });
      await outbox.enqueue(makeMessages(10, 'b'));
      await waitFor(() => attempts.length === 1, 5_000);
      // The failed attempt is settled (put back, in backoff) before the sink reports anything.
      await waitFor(async () => (await outbox.stats()).activeJobs === 0, 5_000, 'the attempt settled');
      await roundTrips(outbox);
      expect(attempts).toHaveLength(1);
      outbox.setConnected(false);
      await roundTrips(outbox);
      outbox.setConnected(true);
      // At once: well before the backoff (10 s) a blind timer would take.
      await waitFor(() => rec.delivered === 10, 5_000);
      expect(attempts).toEqual([1, 1]);
      expect(rec.dead).toEqual([]);
    });

    it('delivers everything, and never to a sink it knows is not connected, while the connection flaps', async () => {
      const rec = recorder();
      const { outbox } = await setup(
        { concurrency: 3, retry: { attempts: 1, initialDelayMs: 50, maxDelayMs: 200 } },
        rec,
      );
      let connected = true;
      let writesWhileDown = 0;
      const seen = new Set<string>();
      outbox.start(async (ms) => {
        await sleep(2);
        if (!connected) {
          writesWhileDown++;
          throw new NotConnectedError('down');
        }
        for (const m of ms) seen.add(m.id);
      });
      const flapping = (async () => {
        for (let i = 0; i < 40; i++) {
          connected = !connected;
          outbox.setConnected(connected);
          await sleep(Math.floor(Math.random() * 25));
        }
        connected = true;
        outbox.setConnected(true);
      })();
      for (let i = 0; i < 10; i++) await outbox.enqueue(makeMessages(50, `f${i}`));
      await flapping;
      await waitFor(() => seen.size === 500, 15_000, `all delivered (have ${seen.size})`);
      expect(rec.dead).toEqual([]);
      // Only attempts already running when the sink went down can meet it down.
      expect(writesWhileDown).toBeLessThanOrEqual(20 * 3);
    });

    it('pauses on SinkStoppedError, keeps the job, and resumes with nothing lost', async () => {
      const rec = recorder();
      const { outbox } = await setup(
        {
          concurrency: 2,
          batch: { count: 5, bytes: 1_000_000, maxWaitMs: 20 },
          // No delay: a job that were tried again would be within the round trips below.
          retry: { attempts: 3, initialDelayMs: 0, maxDelayMs: 0 },
        },
        rec,
      );
      let broken = true;
      let calls = 0;
      const seen = new Set<string>();
      outbox.start(async (ms) => {
        calls++;
        if (broken) throw new SinkStoppedError('bad credentials');
        for (const m of ms) seen.add(m.id);
      });
      await outbox.enqueue(makeMessages(20, 'z'));
      await waitFor(() => rec.stopped.length === 1);
      // Jobs already taken when it stopped (at most concurrency) settle; nothing is taken after.
      await waitFor(async () => (await outbox.stats()).activeJobs === 0, 5_000, 'taken jobs settled');
      const callsWhileStopped = calls;
      await roundTrips(outbox);
      expect(calls).toBe(callsWhileStopped);
      expect(calls).toBeLessThanOrEqual(2);
      expect(rec.delivered).toBe(0);
      expect((await outbox.stats()).depth).toBe(20);
      broken = false;
      outbox.resume();
      await waitFor(() => rec.delivered === 20);
      expect(seen.size).toBe(20);
      expect(rec.stopped).toHaveLength(1);
      expect(rec.stopped[0]?.message).toBe('bad credentials');
    });

    it('makes enqueue wait while the outbox is at capacity', async () => {
      const rec = recorder();
      const { outbox } = await setup(
        { capacity: 10, batch: { count: 10, bytes: 1_000_000, maxWaitMs: 20 } },
        rec,
      );
      await outbox.enqueue(makeMessages(10, 'c1'));
      const blocked = outbox.enqueue(makeMessages(5, 'c2'));
      const enqueued = settledFlag(blocked);
      // A job stored in the meantime would be done within these round trips.
      await roundTrips(outbox);
      expect(enqueued.settled).toBe(false);
      expect((await outbox.stats()).depth).toBe(10);
      outbox.start(async () => undefined);
      await blocked;
      await waitFor(() => rec.delivered === 15);
    });

    it('flushOpen() stores the batch being filled at once, without waiting for count or maxWait', async () => {
      const { outbox } = await setup({ batch: { count: 100, bytes: 1_000_000, maxWaitMs: 3_600_000 } });
      const sizes: number[] = [];
      outbox.start(async (ms) => void sizes.push(ms.length));
      const pending = outbox.enqueue(makeMessages(3, 'f'));
      const enqueued = settledFlag(pending);
      await roundTrips(outbox);
      expect(enqueued.settled).toBe(false);
      outbox.flushOpen();
      await pending;
      await waitFor(() => sizes.length === 1, 10_000, 'the flushed job');
      expect(sizes).toEqual([3]);
      outbox.flushOpen(); // nothing open: no empty job
      await roundTrips(outbox);
      expect(sizes).toEqual([3]);
    });

    it('flushOpen(withinMs) stores the open batch only when its maxWait ends within that time', async () => {
      const { outbox } = await setup({ batch: { count: 100, bytes: 1_000_000, maxWaitMs: 3_600_000 } });
      const sizes: number[] = [];
      outbox.start(async (ms) => void sizes.push(ms.length));
      const pending = outbox.enqueue(makeMessages(3, 'q'));
      const enqueued = settledFlag(pending);
      // Quiet for a minute: more may still join the batch before its hour is up.
      outbox.flushOpen(60_000);
      await roundTrips(outbox);
      expect(enqueued.settled).toBe(false);
      // Quiet for two hours: nothing can join it before it would be stored anyway.
      outbox.flushOpen(7_200_000);
      await pending;
      await waitFor(() => sizes.length === 1, 10_000, 'the flushed job');
      expect(sizes).toEqual([3]);
    });

    it('stores messages that waited for room as soon as they are let in (no maxWait on top)', async () => {
      const rec = recorder();
      const { outbox } = await setup(
        { capacity: 10, batch: { count: 10, bytes: 1_000_000, maxWaitMs: 3_600_000 } },
        rec,
      );
      await outbox.enqueue(makeMessages(10, 'r1'));
      const blocked = outbox.enqueue(makeMessages(5, 'r2'));
      await roundTrips(outbox);
      outbox.start(async () => undefined);
      // Resolves only once stored: with the hour-long maxWait, only the seal on admission does it.
      await blocked;
      await waitFor(() => rec.delivered === 15, 10_000, 'all delivered');
    });

    it('dead letters: list, filter, get, remove, count', async () => {
      const backend = await backendWith();
      const dlq = backend.deadLetters;
      const p1 = `dl${++seq}`;
      const p2 = `dl${++seq}`;
      const now = Date.now();
      const [m0, m1, m2, m3] = makeMessages(4, 'e');
      await dlq.add([
        {
          pipeline: p1,
          stage: 'influx',
          sink: 'influx',
          reason: 'HTTP 400 bad field',
          message: m0 as Message,
          time: now - 30,
          attempts: 1,
        },
        {
          pipeline: p1,
          stage: 'transforms[1]',
          reason: 'bad checksum',
          message: m1 as Message,
          time: now - 20,
          attempts: 1,
        },
        {
          pipeline: p1,
          stage: 'influx',
          sink: 'influx',
          reason: 'timeout',
          message: m2 as Message,
          time: now - 10,
          attempts: 5,
        },
        {
          pipeline: p2,
          stage: 'sheets',
          sink: 'sheets',
          reason: 'quota',
          message: { ...(m3 as Message), payload: new Uint8Array([7, 8]) },
          time: now,
          attempts: 2,
        },
      ]);
      const all1 = await dlq.list({ pipeline: p1 });
      expect(all1.map((e) => e.message.id)).toEqual(['e-0', 'e-1', 'e-2']);
      expect(await dlq.count({ pipeline: p1 })).toBe(3);
      expect((await dlq.list({ pipeline: p1, stage: 'influx' })).map((e) => e.reason)).toEqual([
        'HTTP 400 bad field',
        'timeout',
      ]);
      expect((await dlq.list({ pipeline: p1, reason: 'BAD' })).map((e) => e.message.id)).toEqual([
        'e-0',
        'e-1',
      ]);
      expect(await dlq.count({ pipeline: p1, reason: 'bad' })).toBe(2);
      expect((await dlq.list({ pipeline: p1, offset: 1, limit: 1 })).map((e) => e.message.id)).toEqual([
        'e-1',
      ]);
      expect((await dlq.list({ pipeline: p1, stage: 'influx', offset: 1 })).map((e) => e.message.id)).toEqual(
        ['e-2'],
      );
      const both = await dlq.list({ reason: 'quota' });
      expect(both.map((e) => e.pipeline)).toEqual([p2]);
      const e3 = await dlq.get(both[0]?.id as string);
      expect(e3).toMatchObject({
        pipeline: p2,
        stage: 'sheets',
        sink: 'sheets',
        reason: 'quota',
        attempts: 2,
        time: now,
      });
      expect([...(e3?.message.payload as Uint8Array)]).toEqual([7, 8]);
      expect(await dlq.get('nope')).toBeUndefined();
      const first = all1[0]?.id as string;
      expect(await dlq.remove([first, 'nope'])).toBe(1);
      expect(await dlq.get(first)).toBeUndefined();
      expect(await dlq.count({ pipeline: p1 })).toBe(2);
      expect(await dlq.remove([first])).toBe(0);
    });

    it('dead letters: replay request, claim, done', async () => {
      const backend = await backendWith();
      const dlq = backend.deadLetters;
      const p = `rp${++seq}`;
      const other = `rp${++seq}`;
      await dlq.add(
        makeMessages(5, 'r').map((message, i) => ({
          pipeline: i < 4 ? p : other,
          stage: 'out',
          sink: 'out',
          reason: 'x',
          message,
          time: Date.now() + i,
          attempts: 1,
        })),
      );
      const entries = await dlq.list({ pipeline: p });
      const ids = entries.map((e) => e.id);
      expect(await dlq.claimReplays(p, 10)).toEqual([]);
      expect(await dlq.requestReplay([...ids.slice(0, 3), 'missing'])).toEqual({ marked: 3, refused: [] });
      // Asking twice does not replay twice.
      expect(await dlq.requestReplay([ids[0] as string])).toEqual({ marked: 1, refused: [] });
      expect(await dlq.claimReplays(other, 10)).toEqual([]);
      const c1 = await dlq.claimReplays(p, 2);
      expect(c1.map((e) => e.message.id)).toEqual(['r-0', 'r-1']);
      const c2 = await dlq.claimReplays(p, 10);
      expect(c2.map((e) => e.message.id)).toEqual(['r-2']);
      expect(await dlq.claimReplays(p, 10)).toEqual([]);
      await dlq.replayDone(
        p,
        c1.map((e) => e.id),
      );
      expect(await dlq.get(c1[0]?.id as string)).toBeUndefined();
      expect((await dlq.list({ pipeline: p })).map((e) => e.message.id)).toEqual(['r-2', 'r-3']);
      // A removed entry that was marked is not claimed.
      await dlq.requestReplay([ids[3] as string]);
      await dlq.remove([ids[3] as string]);
      expect(await dlq.claimReplays(p, 10)).toEqual([]);
    });

    it('dead letters: a payload over maxMessageBytes keeps its first bytes, size and SHA-256, and is not replayed', async () => {
      const backend = await backendWith({ ...defaultRetention, maxMessageBytes: 1000 });
      const dlq = backend.deadLetters;
      const p = `bg${++seq}`;
      const big = Buffer.alloc(10 * 1024 * 1024, 0x61); // the 10 MB publish that became a 13 MB field
      big[0] = 0x7b;
      const text = `${'x'.repeat(999)}é and more`; // é (2 bytes) straddles byte 1000
      const object = { rows: Array.from({ length: 200 }, (_, i) => ({ i, name: `row ${i}` })) };
      const deep = JSON.parse('{"a":'.repeat(150) + '1' + '}'.repeat(150)) as unknown;
      const small = { ok: 1, raw: new Uint8Array([1, 2]) };
      const base = makeMessages(1, 'b')[0] as Message;
      const payloads = [big, text, object, deep, small];
      await dlq.add(
        payloads.map((payload, i) => ({
          pipeline: p,
          stage: 'source',
          reason: `r${i}`,
          message: { ...base, id: `b-${i}`, payload },
          time: Date.now() + i,
          attempts: 1,
        })),
      );
      const [eBig, eText, eObject, eDeep, eSmall] = await dlq.list({ pipeline: p });
      const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

      expect(eBig!.stored).toEqual({
        form: 'bytes',
        size: big.length,
        sha256: sha(big),
        kept: 1000,
        truncated: true,
      });
      expect(Buffer.from(eBig!.message.payload as Uint8Array).equals(big.subarray(0, 1000))).toBe(true);

      expect(eText!.stored).toMatchObject({
        form: 'text',
        size: Buffer.byteLength(text),
        kept: 999,
        truncated: true,
      });
      expect(eText!.stored!.sha256).toBe(sha(Buffer.from(text)));
      expect(eText!.message.payload).toBe('x'.repeat(999));

      const objectJson = JSON.stringify(object);
      expect(eObject!.stored).toMatchObject({
        form: 'json',
        size: objectJson.length,
        kept: 1000,
        truncated: true,
      });
      expect(eObject!.stored!.sha256).toBe(sha(objectJson));
      expect(eObject!.message.payload).toBe(objectJson.slice(0, 1000));

      // Small but nested too deep to store as a value: kept whole, as JSON text.
      expect(eDeep!.stored).toMatchObject({ form: 'json', truncated: false, size: 150 * 6 + 1 });
      expect((eDeep!.message.payload as string).startsWith('{"a":{"a":')).toBe(true);

      expect(eSmall!.stored).toBeUndefined();
      const smallPayload = eSmall!.message.payload as { ok: number; raw: Uint8Array };
      expect(smallPayload.ok).toBe(1);
      expect([...smallPayload.raw]).toEqual([1, 2]);

      const ids = [eBig, eText, eObject, eDeep, eSmall].map((e) => e!.id);
      const answer = await dlq.requestReplay(ids);
      expect(answer.marked).toBe(1);
      expect(answer.refused.map((r) => r.id)).toEqual(ids.slice(0, 4));
      expect(answer.refused[0]!.reason).toMatch(
        new RegExp(
          `only the first 1000 of ${big.length} bytes .*SHA-256 ${sha(big)}.*not the original message`,
        ),
      );
      expect(answer.refused[3]!.reason).toMatch(/nested deeper than 100 levels/);
      expect((await dlq.claimReplays(p, 10)).map((e) => e.id)).toEqual([eSmall!.id]);
      // Purging them works as for any other entry.
      expect(await dlq.remove(ids.slice(0, 4))).toBe(4);
    });

    it('dead letters: past maxBytes per pipeline the oldest are removed, counted as maxBytes', async () => {
      const trims: { pipeline: string; count: number; cause: string }[] = [];
      const backend = await backendWith({
        ...defaultRetention,
        maxMessageBytes: 2000,
        maxBytes: 20_000,
        onTrimmed: (pipeline, count, cause) => trims.push({ pipeline, count, cause }),
      });
      const dlq = backend.deadLetters;
      const p = `by${++seq}`;
      const other = `by${++seq}`;
      const entry = (pipeline: string, i: number) => ({
        pipeline,
        stage: 'out',
        sink: 'out',
        reason: 'refused',
        message: { ...(makeMessages(1, 'y')[0] as Message), id: `y-${i}`, payload: 'z'.repeat(5000) },
        time: Date.now() + i,
        attempts: 1,
      });
      for (let i = 0; i < 30; i++) await dlq.add([entry(p, i)]);
      await dlq.add([entry(other, 0)]);
      const kept = await dlq.list({ pipeline: p });
      // Each entry holds about 2 KB (its payload cut to 2000 bytes): 20 KB keep fewer than 10.
      expect(kept.length).toBeGreaterThanOrEqual(7);
      expect(kept.length).toBeLessThan(10);
      expect(kept.at(-1)!.message.id).toBe('y-29');
      const evicted = trims.filter((t) => t.pipeline === p);
      expect(evicted.every((t) => t.cause === 'maxBytes')).toBe(true);
      expect(evicted.reduce((n, t) => n + t.count, 0)).toBe(30 - kept.length);
      expect(trims.some((t) => t.pipeline === other)).toBe(false);
      // Removed entries give their bytes back: as many fit again.
      await dlq.remove(kept.map((e) => e.id));
      trims.length = 0;
      for (let i = 0; i < kept.length; i++) await dlq.add([entry(p, 100 + i)]);
      expect(trims).toEqual([]);
      expect(await dlq.count({ pipeline: p })).toBe(kept.length);
    });

    it('retention removes the oldest past maxCount and maxAge, counted and reported', async () => {
      const trims: { pipeline: string; count: number; cause: string }[] = [];
      const backend = await backendWith({
        maxAgeMs: 60_000,
        maxCount: 3,
        onTrimmed: (pipeline, count, cause) => trims.push({ pipeline, count, cause }),
      });
      const dlq = backend.deadLetters;
      const p = `rt${++seq}`;
      const now = Date.now();
      const msgs = makeMessages(6, 't');
      await dlq.add(
        msgs.slice(0, 5).map((message, i) => ({
          pipeline: p,
          stage: 's',
          reason: 'x',
          message,
          time: now - 1000 + i,
          attempts: 1,
        })),
      );
      expect(trims).toEqual([{ pipeline: p, count: 2, cause: 'maxCount' }]);
      expect((await dlq.list({ pipeline: p })).map((e) => e.message.id)).toEqual(['t-2', 't-3', 't-4']);
      await dlq.add([
        {
          pipeline: p,
          stage: 's',
          reason: 'x',
          message: msgs[5] as Message,
          time: now - 120_000,
          attempts: 1,
        },
      ]);
      expect(trims[1]).toEqual({ pipeline: p, count: 1, cause: 'maxAge' });
      expect(await dlq.count({ pipeline: p })).toBe(3);
      expect(dlq.trim).toBeTypeOf('function');
      expect(await dlq.trim?.()).toBe(0);
    });
  });
}
