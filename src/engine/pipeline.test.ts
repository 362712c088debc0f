import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Counter } from 'prom-client';
import {
  BatchError,
  FatalError,
  MemoryBudget,
  NotConnectedError,
  RetryableError,
  SinkStoppedError,
  clearSecretsForTests,
  createMessage,
  defineSink,
  defineSource,
  defineTransform,
  registerSecret,
  silentLogger,
  type ComponentContext,
  type Delivery,
  type DeliveryGuarantee,
  type Message,
  type TransformContext,
} from '../sdk/index.js';
import { createMemoryBackend } from '../outbox/index.js';
import type { BatchPolicy, Outbox, OutboxBackend, RetryPolicy } from '../outbox/types.js';
import { EngineMetrics } from './metrics.js';
import { Pipeline } from './pipeline.js';
import type { PipelinePlan, SinkPlan } from './plan.js';

/*
 * Unit tests of the engine with the memory outbox and small fake components: ack lineage,
 * reconciling counters, backpressure, stop, readiness/status and dead-letter replay.
 */

const noConfig = z.object({}).strict();
const P = 'p';

// ---------------------------------------------------------------- helpers

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Lets `n` turns of the event loop run (timers due now, I/O, then immediates): no wall-clock wait. */
const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(5);
  }
}

/** Sum of a counter's values whose labels match `where`. */
async function total(
  counter: Pick<Counter<string>, 'get'>,
  where: Record<string, string> = {},
): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(where).every(([k, want]) => v.labels[k] === want))
    .reduce((n, v) => n + v.value, 0);
}

let seq = 0;
function msg(kind: string, id = `m${++seq}`, payload: unknown = { kind }): Message {
  return createMessage({ id, payload, meta: { kind } });
}
const kindOf = (m: Message): string => String(m.meta.kind);

// ---------------------------------------------------------------- fake source

interface FeedSource {
  definition: ReturnType<typeof defineSource<typeof noConfig>>;
  ctx: ComponentContext | undefined;
  reads: number;
  closed: number;
  /** Every raw ack() call, by delivery number: catches double acks (no createDelivery guard). */
  acks: { delivery: number; error?: Error; at: number }[];
  /** The deliveries pushed, in order (delivery n is sent[n - 1]). */
  sent: Delivery[];
  /**
   * `held`: the delivery's `Delivery.held` (what it holds of the window), when set; `quietFor`: its
   * `Delivery.quietFor` (it ends a burst), when set.
   */
  push(messages: Message[], held?: number, quietFor?: number): number;
  acksOf(delivery: number): { error?: Error; at: number }[];
  /** When set, read() makes a delivery on each call instead of waiting for push(). */
  endless?: () => Message[];
  /** The source's `window` (messages read and not yet acknowledged, at most). */
  window?: number;
  /** Reports a stall to the engine (`Source.onStalled`), as an MQTT 3.1.1 source does. */
  stall(): void;
  connectGate: Promise<void>;
  /** Lets a gated source connect. */
  open(): void;
}

function feedSource(options: { delivery?: DeliveryGuarantee; gated?: boolean } = {}): FeedSource {
  const queue: Delivery[] = [];
  let wake: (() => void) | undefined;
  const gate = options.gated ? deferred() : undefined;
  let count = 0;
  const stallListeners = new Set<() => void>();
  const h: FeedSource = {
    ctx: undefined,
    stall: () => stallListeners.forEach((listener) => listener()),
    reads: 0,
    closed: 0,
    acks: [],
    sent: [],
    connectGate: gate?.promise ?? Promise.resolve(),
    open: () => gate?.resolve(),
    push(messages, held, quietFor) {
      const n = ++count;
      const delivery: Delivery = {
        messages,
        ...(held === undefined ? {} : { held }),
        ...(quietFor === undefined ? {} : { quietFor }),
        ack: (error) => void h.acks.push({ delivery: n, error, at: Date.now() }),
      };
      h.sent.push(delivery);
      queue.push(delivery);
      wake?.();
      return n;
    },
    acksOf: (n) => h.acks.filter((a) => a.delivery === n),
    definition: defineSource({
      type: 'feed',
      title: 'feed',
      summary: 'fed by the test',
      config: noConfig,
      delivery: () => options.delivery ?? 'at-least-once',
      create: (_config, ctx) => {
        h.ctx = ctx;
        return {
          connect: () => h.connectGate,
          get window() {
            return h.window;
          },
          onStalled(listener) {
            stallListeners.add(listener);
            return () => stallListeners.delete(listener);
          },
          async read(signal) {
            h.reads++;
            if (h.endless && !signal.aborted) {
              // Yield so that an engine that never stops reading fails the test instead of starving timers.
              await new Promise((r) => setImmediate(r));
              h.push(h.endless());
            }
            while (queue.length === 0) {
              if (signal.aborted) return null;
              await new Promise<void>((resolve) => {
                wake = resolve;
                signal.addEventListener('abort', () => resolve(), { once: true });
              });
              wake = undefined;
            }
            return queue.shift() as Delivery;
          },
          async close() {
            h.closed++;
          },
        };
      },
    }),
  };
  return h;
}

// ---------------------------------------------------------------- fake sink

interface RecordingSink {
  name: string;
  definition: ReturnType<typeof defineSink<typeof noConfig>>;
  ctx: ComponentContext | undefined;
  batches: Message[][];
  writes: number;
  closed: number;
  /** Decides the outcome of a write: an error to throw, or undefined to accept. */
  fail?: (batch: Message[], write: number) => Error | undefined;
  /** When true, write() never completes (until the outbox aborts it at close). */
  block: boolean;
  connect?: (attempt: number) => Promise<void>;
  ids(): string[];
}

function recordingSink(name: string, delivery: DeliveryGuarantee = 'at-least-once'): RecordingSink {
  let connects = 0;
  const h: RecordingSink = {
    name,
    ctx: undefined,
    batches: [],
    writes: 0,
    closed: 0,
    block: false,
    ids: () => h.batches.flat().map((m) => m.id),
    definition: defineSink({
      type: 'recorder',
      title: 'recorder',
      summary: 'records batches',
      config: noConfig,
      delivery: () => delivery,
      create: (_config, ctx) => {
        h.ctx = ctx;
        return {
          connect: () => (h.connect ? h.connect(++connects) : Promise.resolve()),
          async write(batch, signal) {
            const n = ++h.writes;
            if (h.block) {
              await new Promise<void>((resolve) =>
                signal.addEventListener('abort', () => resolve(), { once: true }),
              );
              throw new NotConnectedError('aborted');
            }
            const error = h.fail?.(batch, n);
            if (error) throw error;
            h.batches.push(batch);
          },
          async close() {
            h.closed++;
          },
        };
      },
    }),
  };
  return h;
}

// ---------------------------------------------------------------- fake transforms

interface FakeTransform {
  definition: ReturnType<typeof defineTransform<typeof noConfig>>;
  calls: Message[][];
  closed: number;
}

function fakeTransform(apply: (batch: Message[], ctx: TransformContext) => Message[]): FakeTransform {
  const h: FakeTransform = {
    calls: [],
    closed: 0,
    definition: defineTransform({
      type: 'fake',
      title: 'fake',
      summary: 'test transform',
      config: noConfig,
      create: () => ({
        apply: (batch, ctx) => {
          h.calls.push(batch);
          return apply(batch, ctx);
        },
        async close() {
          h.closed++;
        },
      }),
    }),
  };
  return h;
}

// ---------------------------------------------------------------- pipeline under test

interface SinkOptions {
  sink: RecordingSink;
  batch?: Partial<BatchPolicy>;
  retry?: Partial<RetryPolicy>;
  maxQueued?: number;
  concurrency?: number;
}

interface Setup {
  source: FeedSource;
  transforms?: FakeTransform[];
  sinks: SinkOptions[];
  maxUnsettled?: number;
  shutdownTimeoutMs?: number;
  backend?: OutboxBackend;
  memoryBudget?: MemoryBudget;
}

const running: { pipeline: Pipeline; backend: OutboxBackend }[] = [];

afterEach(async () => {
  for (const { pipeline, backend } of running.splice(0)) {
    await pipeline.stop();
    await backend.close();
  }
  clearSecretsForTests();
});

function newBackend(): OutboxBackend {
  return createMemoryBackend({ maxAgeMs: 3_600_000, maxCount: 100_000 });
}

function start(setup: Setup): { pipeline: Pipeline; metrics: EngineMetrics; backend: OutboxBackend } {
  const backend = setup.backend ?? newBackend();
  const metrics = new EngineMetrics();
  const sinks: SinkPlan[] = setup.sinks.map((s) => ({
    name: s.sink.name,
    type: 'recorder',
    definition: s.sink.definition,
    config: {},
    batch: { count: 100, bytes: 1_000_000, maxWaitMs: 5, ...s.batch },
    retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20, ...s.retry },
    maxQueued: s.maxQueued ?? 1000,
    concurrency: s.concurrency ?? 1,
  }));
  const plan: PipelinePlan = {
    name: P,
    source: { type: 'feed', definition: setup.source.definition, config: {} },
    transforms: (setup.transforms ?? []).map((t) => ({ type: 'fake', definition: t.definition, config: {} })),
    sinks,
    maxUnsettled: setup.maxUnsettled ?? 1000,
    shutdownTimeoutMs: setup.shutdownTimeoutMs ?? 5000,
    deadLetters: { maxAgeMs: 3_600_000, maxCount: 100_000 },
  };
  const pipeline = new Pipeline(plan, {
    backend,
    metrics,
    logger: silentLogger,
    ...(setup.memoryBudget ? { memoryBudget: setup.memoryBudget } : {}),
  });
  running.push({ pipeline, backend });
  pipeline.start();
  return { pipeline, metrics, backend };
}

/** A backend whose outboxes' enqueue() rejects the first `failures.left` calls (e.g. Redis unreachable). */
function failingEnqueueBackend(failures: { left: number }): OutboxBackend {
  const base = newBackend();
  return {
    kind: base.kind,
    deadLetters: base.deadLetters,
    close: () => base.close(),
    createOutbox(options): Outbox {
      const inner = base.createOutbox(options);
      return {
        enqueue: (messages) =>
          failures.left-- > 0 ? Promise.reject(new Error('storage unreachable')) : inner.enqueue(messages),
        flushOpen: (withinMs) => inner.flushOpen(withinMs),
        start: (handler) => inner.start(handler),
        resume: () => inner.resume(),
        setConnected: (connected) => inner.setConnected(connected),
        stats: () => inner.stats(),
        close: (ms) => inner.close(ms),
      };
    },
  };
}

// ---------------------------------------------------------------- tests

describe('Pipeline: ack lineage', () => {
  it('acks a delivery once, only after it is stored in every sink outbox and its rejects are stored', async () => {
    const source = feedSource();
    const fast = recordingSink('fast');
    const slow = recordingSink('slow');
    const filter = fakeTransform((batch) => batch.filter((m) => kindOf(m) !== 'drop'));
    const rejecter = fakeTransform((batch, ctx) =>
      batch.filter((m) => {
        if (kindOf(m) !== 'bad') return true;
        ctx.reject(m, 'bad checksum');
        return false;
      }),
    );
    const { metrics, backend } = start({
      source,
      transforms: [filter, rejecter],
      // The slow sink's outbox stores its batch only after maxWait: the ack must wait for it.
      sinks: [{ sink: fast }, { sink: slow, batch: { maxWaitMs: 300 } }],
    });
    const t0 = Date.now();
    const d = source.push([msg('ok', 'a1'), msg('drop', 'a2'), msg('bad', 'a3')]);

    await waitFor(() => fast.batches.length > 0, 'the fast sink write');
    expect(fast.ids()).toEqual(['a1']);
    expect(source.acksOf(d)).toHaveLength(0);
    expect(slow.writes).toBe(0);

    await waitFor(() => source.acksOf(d).length > 0, 'the ack');
    const ack = source.acksOf(d)[0]!;
    expect(ack.error).toBeUndefined();
    expect(ack.at - t0).toBeGreaterThanOrEqual(250);
    await waitFor(() => slow.batches.length > 0, 'the slow sink write');
    expect(slow.ids()).toEqual(['a1']);
    await delay(50);
    expect(source.acksOf(d)).toHaveLength(1);
    expect(await backend.deadLetters.count({ stage: 'transforms[1]' })).toBe(1);
    expect(await total(metrics.filtered, { component: 'transforms[0]' })).toBe(1);
  });

  it('lets go of the source messages once transforms replaced them, before the store and the ack', async () => {
    const source = feedSource();
    const sink = recordingSink('late');
    const replace = fakeTransform((batch) => batch.map((m) => ({ ...m, payload: { replaced: true } })));
    start({ source, transforms: [replace], sinks: [{ sink, batch: { maxWaitMs: 200 } }] });
    const d = source.push([msg('ok', 'r1'), msg('ok', 'r2')]);
    await waitFor(() => source.sent[d - 1]!.messages.length === 0, 'the source messages let go');
    expect(source.acksOf(d)).toHaveLength(0);
    await waitFor(() => source.acksOf(d).length === 1, 'the ack');
    await waitFor(() => sink.batches.length === 1, 'the write');
    expect(sink.ids()).toEqual(['r1', 'r2']);
    expect(sink.batches[0]!.map((m) => m.payload)).toEqual([{ replaced: true }, { replaced: true }]);

    // Passed through unchanged: the same messages go on to the outbox.
    const pass = feedSource();
    const out = recordingSink('out');
    start({ source: pass, sinks: [{ sink: out }] });
    const e = pass.push([msg('ok', 'p1')]);
    await waitFor(() => pass.acksOf(e).length === 1, 'the ack');
    expect(pass.sent[e - 1]!.messages.map((m) => m.id)).toEqual(['p1']);
  });

  it('acks only after the dead letters of a delivery are stored', async () => {
    const backend = newBackend();
    const gate = deferred();
    const add = backend.deadLetters.add.bind(backend.deadLetters);
    let storing = 0;
    backend.deadLetters.add = async (entries) => {
      storing++;
      await gate.promise;
      return add(entries);
    };
    const source = feedSource();
    const sink = recordingSink('out');
    const rejecter = fakeTransform((batch, ctx) => {
      for (const m of batch) ctx.reject(m, 'unparseable');
      return [];
    });
    start({ source, transforms: [rejecter], sinks: [{ sink }], backend });
    const d = source.push([msg('bad')]);
    // By order of events: the store has begun and waits on the gate; an ack that did not wait for
    // it would come within these turns (the source's ack is synchronous).
    await waitFor(() => storing > 0, 'the dead letter being stored');
    await turns(20);
    expect(source.acksOf(d)).toHaveLength(0);
    gate.resolve();
    await waitFor(() => source.acksOf(d).length > 0, 'the ack');
    expect(source.acksOf(d)[0]!.error).toBeUndefined();
    expect(await backend.deadLetters.count()).toBe(1);
  });

  it('acks a delivery whose messages are all filtered', async () => {
    const source = feedSource();
    const sink = recordingSink('out');
    const dropAll = fakeTransform(() => []);
    const { metrics } = start({ source, transforms: [dropAll], sinks: [{ sink }] });
    const d = source.push([msg('x'), msg('y')]);
    await waitFor(() => source.acksOf(d).length > 0, 'the ack');
    expect(source.acksOf(d)).toEqual([expect.objectContaining({ error: undefined })]);
    expect(await total(metrics.filtered)).toBe(2);
    await delay(30);
    expect(sink.writes).toBe(0);
    expect(source.acks).toHaveLength(1);
  });
});

describe('Pipeline: counters', () => {
  it('reconcile per sink after quiescence: received = delivered + filtered + dead-lettered + dropped', async () => {
    const source = feedSource();
    const a = recordingSink('a');
    const b = recordingSink('b');
    // Sink a: RetryableError on its first write, then a BatchError with a FatalError for "fatal" messages.
    a.fail = (batch, n) => {
      if (n === 1) return new RetryableError('busy');
      const failures = batch.flatMap((m, index) =>
        kindOf(m) === 'fatal' ? [{ index, error: new FatalError('rejected by target') }] : [],
      );
      return failures.length > 0 ? new BatchError(failures) : undefined;
    };
    // Sink b: not connected on its first write, then fine.
    b.fail = (_batch, n) => (n === 1 ? new NotConnectedError('down') : undefined);
    const t0 = fakeTransform((batch) => batch.filter((m) => kindOf(m) !== 'drop'));
    const t1 = fakeTransform((batch, ctx) => {
      const out: Message[] = [];
      for (const m of batch) {
        if (kindOf(m) === 'bad') ctx.reject(m, 'bad checksum');
        else if (kindOf(m) === 'boom') throw new Error('cannot parse');
        else out.push(m);
      }
      return out;
    });
    const { pipeline, metrics, backend } = start({
      source,
      transforms: [t0, t1],
      sinks: [{ sink: a }, { sink: b }],
    });
    await waitFor(() => source.ctx, 'the source');

    const d1 = source.push([msg('ok'), msg('drop'), msg('bad'), msg('fatal'), msg('ok')]);
    // t1 rejects "bad" and then throws on "boom": the whole batch (3) is dead-lettered once.
    const d2 = source.push([msg('ok'), msg('bad'), msg('boom')]);
    const d3 = source.push([msg('drop'), msg('drop')]);
    await source.ctx!.deadLetter(msg('garbage'), 'undecodable payload');

    await waitFor(
      async () =>
        (await total(metrics.delivered, { sink: 'a' })) === 2 &&
        (await total(metrics.delivered, { sink: 'b' })) === 3,
      'deliveries',
    );
    await waitFor(
      async () => (await total(metrics.deadLettered, { stage: 'a' })) === 1,
      'the sink dead letter',
    );
    await waitFor(() => source.acks.length === 3, 'all acks');
    for (const d of [d1, d2, d3])
      expect(source.acksOf(d)).toEqual([expect.objectContaining({ error: undefined })]);

    const status = await pipeline.status();
    expect(status.inFlight).toBe(0);
    expect(status.outboxes).toEqual({ a: { depth: 0, activeJobs: 0 }, b: { depth: 0, activeJobs: 0 } });
    expect(await total(metrics.inFlight, { sink: 'a' })).toBe(0);
    expect(await total(metrics.inFlight, { sink: 'b' })).toBe(0);

    const received = await total(metrics.received);
    const filtered = await total(metrics.filtered);
    const dropped = await total(metrics.dropped);
    const deadNonSink =
      (await total(metrics.deadLettered, { stage: 'source' })) +
      (await total(metrics.deadLettered, { stage: 'transforms[0]' })) +
      (await total(metrics.deadLettered, { stage: 'transforms[1]' }));
    expect(received).toBe(11);
    expect(filtered).toBe(3);
    expect(await total(metrics.deadLettered, { stage: 'source' })).toBe(1);
    expect(await total(metrics.deadLettered, { stage: 'transforms[1]' })).toBe(4);
    for (const sink of ['a', 'b']) {
      const delivered = await total(metrics.delivered, { sink });
      const deadSink = await total(metrics.deadLettered, { stage: sink });
      expect(delivered + filtered + deadNonSink + deadSink + dropped, `sink ${sink}`).toBe(received);
    }
    expect(await total(metrics.retries, { sink: 'a' })).toBeGreaterThanOrEqual(1);

    const thrown = await backend.deadLetters.list({ stage: 'transforms[1]', reason: 'cannot parse' });
    expect(thrown).toHaveLength(3);
    for (const e of thrown) expect(e.reason.startsWith('transform failed:')).toBe(true);
    const fatal = await backend.deadLetters.list({ stage: 'a' });
    expect(fatal.map((e) => kindOf(e.message))).toEqual(['fatal']);
    expect(fatal[0]!.sink).toBe('a');
    expect(await metrics.registry.getSingleMetricAsString('passerelle_messages_received_total')).toContain(
      `passerelle_messages_received_total{pipeline="${P}"} 11`,
    );
  });
});

describe('Pipeline: backpressure', () => {
  it('stops reading the source while maxUnsettled messages are unsettled', async () => {
    const source = feedSource();
    source.endless = () => [msg('ok')];
    const sink = recordingSink('stuck');
    sink.block = true;
    const maxUnsettled = 2;
    const maxQueued = 3;
    const { pipeline } = start({
      source,
      sinks: [{ sink, batch: { count: 1 }, maxQueued }],
      maxUnsettled,
      shutdownTimeoutMs: 200,
    });
    await waitFor(() => sink.writes > 0, 'the first write');
    // The full state, reached by events (not after a fixed delay a loaded machine may not honour):
    // the outbox holds maxQueued (acked), maxUnsettled more wait to be stored.
    await waitFor(
      async () => source.acks.length === maxQueued && (await pipeline.status()).inFlight === maxUnsettled,
      'the outbox full and maxUnsettled unsettled',
    );
    const reads = source.reads;
    // From there no read may start: a pipeline ignoring the bound reads the endless source at once,
    // within a few turns of the event loop (the source answers each read at once).
    await turns(50);
    expect(source.reads).toBe(reads);
    // What the outbox holds (its capacity) plus what waits to be stored (maxUnsettled), plus the read in progress.
    expect(reads).toBeLessThanOrEqual(maxQueued + maxUnsettled + 1);
    expect((await pipeline.status()).inFlight).toBe(maxUnsettled);
    expect(source.acks).toHaveLength(maxQueued);
  });
});

describe('Pipeline: batches and the source window', () => {
  // A sink batch that waits an hour for 1,000 messages: only the engine's flush can store it sooner.
  const patientBatch = { count: 1000, maxWaitMs: 3_600_000 };

  it('stores the open batches at once when the source window is full', async () => {
    const source = feedSource();
    source.window = 3;
    const sink = recordingSink('patient');
    start({ source, sinks: [{ sink, batch: patientBatch }] });
    source.push([msg('a'), msg('b')]);
    source.push([msg('c')]);
    await waitFor(() => sink.batches.length === 1, 'the batch stored once the window is full');
    expect(sink.batches[0]!.map(kindOf)).toEqual(['a', 'b', 'c']);
    await waitFor(() => source.acks.length === 2, 'both deliveries acknowledged');
  });

  it('counts what a delivery holds of the window, not only its messages', async () => {
    const source = feedSource();
    source.window = 3;
    const sink = recordingSink('patient');
    start({ source, sinks: [{ sink, batch: patientBatch }] });
    source.push([msg('a')], 3); // e.g. two duplicates left out, their acks waiting with this one
    await waitFor(() => sink.batches.length === 1, 'the batch stored once the window is held');
    expect(sink.batches[0]!.map(kindOf)).toEqual(['a']);
  });

  it('keeps filling the batch while the source window has room', async () => {
    const source = feedSource();
    source.window = 3;
    const sink = recordingSink('patient');
    const { pipeline } = start({ source, sinks: [{ sink, batch: patientBatch }], shutdownTimeoutMs: 200 });
    source.push([msg('a'), msg('b')]);
    await waitFor(async () => (await pipeline.status()).inFlight === 2, 'two messages read');
    await turns(50);
    expect(sink.writes).toBe(0);
    expect(source.acks).toHaveLength(0);
  });

  it('stores the open batches at once when the source reports a stall', async () => {
    const source = feedSource();
    const sink = recordingSink('patient');
    const { pipeline } = start({ source, sinks: [{ sink, batch: patientBatch }] });
    source.push([msg('a'), msg('b')]);
    await waitFor(async () => (await pipeline.status()).inFlight === 2, 'two messages read');
    expect(sink.writes).toBe(0);
    // E.g. an MQTT 3.1.1 broker stopped at its own in-flight limit. Reported again while it lasts
    // (as StallWatch does): the messages read may still be on their way to the outbox.
    await waitFor(() => {
      source.stall();
      return sink.batches.length === 1;
    }, 'the batch stored once the source stalled');
    expect(sink.batches[0]!.map(kindOf)).toEqual(['a', 'b']);
  });

  it('stores the open batches at once when a delivery ends a burst quiet for longer than their maxWait', async () => {
    const source = feedSource();
    const sink = recordingSink('patient');
    start({ source, sinks: [{ sink, batch: patientBatch }] });
    source.push([msg('a')]);
    source.push([msg('b')], undefined, 2 * 3_600_000); // e.g. the last values of an OPC UA publish
    await waitFor(() => sink.batches.length === 1, 'the batch stored at the end of the burst');
    expect(sink.batches[0]!.map(kindOf)).toEqual(['a', 'b']);
  });

  it('keeps filling a batch across bursts when the next may join it before its maxWait ends (a sink with quotas)', async () => {
    const source = feedSource();
    const patient = recordingSink('patient');
    const quick = recordingSink('quick');
    const { pipeline } = start({
      source,
      sinks: [
        { sink: patient, batch: patientBatch },
        // Its batch would wait less than the quiet time: stored at the end of the burst.
        { sink: quick, batch: { count: 1000, maxWaitMs: 60_000 } },
      ],
      shutdownTimeoutMs: 200,
    });
    source.push([msg('a'), msg('b')], undefined, 120_000);
    await waitFor(() => quick.batches.length === 1, 'the quick sink stored at the end of the burst');
    expect(quick.batches[0]!.map(kindOf)).toEqual(['a', 'b']);
    await waitFor(async () => (await pipeline.status()).inFlight === 2, 'two messages read');
    await turns(50);
    expect(patient.writes).toBe(0);
  });

  it('stores the open batches at once when maxUnsettled messages are unsettled', async () => {
    const source = feedSource();
    const sink = recordingSink('patient');
    start({ source, sinks: [{ sink, batch: patientBatch }], maxUnsettled: 2 });
    source.push([msg('a')]);
    source.push([msg('b')]);
    await waitFor(() => sink.batches.length === 1, 'the batch stored once maxUnsettled is reached');
    expect(sink.batches[0]!.map(kindOf)).toEqual(['a', 'b']);
  });

  // The budget is shared by every pipeline: a source stops taking messages while it is spent, so
  // open batches would otherwise wait their maxWait before anything is freed.
  it('stores the open batches at once when the memory budget is spent while they fill', async () => {
    const source = feedSource();
    const budget = new MemoryBudget(1000);
    const sink = recordingSink('patient');
    const { pipeline } = start({ source, sinks: [{ sink, batch: patientBatch }], memoryBudget: budget });
    source.push([msg('a'), msg('b')]);
    await waitFor(async () => (await pipeline.status()).inFlight === 2, 'two messages read');
    expect(sink.writes).toBe(0);
    budget.take(1000); // another pipeline's source fills the budget
    await waitFor(() => sink.batches.length === 1, 'the batch stored once the budget is spent');
    expect(sink.batches[0]!.map(kindOf)).toEqual(['a', 'b']);
  });

  it('stores the open batches at once when the memory budget was spent before they were read', async () => {
    const source = feedSource();
    const budget = new MemoryBudget(1000);
    budget.take(1000);
    const sink = recordingSink('patient');
    start({ source, sinks: [{ sink, batch: patientBatch }], memoryBudget: budget });
    source.push([msg('a')]);
    await waitFor(() => sink.batches.length === 1, 'the batch stored while the budget is spent');
    expect(sink.batches[0]!.map(kindOf)).toEqual(['a']);
  });

  it('keeps filling the batch while the memory budget has room', async () => {
    const source = feedSource();
    const budget = new MemoryBudget(1000);
    const sink = recordingSink('patient');
    const { pipeline } = start({
      source,
      sinks: [{ sink, batch: patientBatch }],
      memoryBudget: budget,
      shutdownTimeoutMs: 200,
    });
    source.push([msg('a'), msg('b')]);
    await waitFor(async () => (await pipeline.status()).inFlight === 2, 'two messages read');
    budget.take(999);
    await turns(50);
    expect(sink.writes).toBe(0);
  });
});

describe('Pipeline: source dead letters', () => {
  it('counts a source ctx.deadLetter() as received and dead-lettered at stage source', async () => {
    const source = feedSource();
    const sink = recordingSink('out');
    const { metrics, backend } = start({ source, sinks: [{ sink }] });
    await waitFor(() => source.ctx, 'the source');
    await source.ctx!.deadLetter(msg('garbage', 'g1', new Uint8Array([1, 2, 3])), 'not JSON');
    expect((await metrics.received.get()).values).toEqual([{ value: 1, labels: { pipeline: P } }]);
    expect(await total(metrics.deadLettered, { stage: 'source' })).toBe(1);
    const [entry] = await backend.deadLetters.list({ stage: 'source' });
    expect(entry).toMatchObject({ pipeline: P, stage: 'source', reason: 'not JSON', message: { id: 'g1' } });
    expect(sink.writes).toBe(0);
  });
});

describe('Pipeline: stop', () => {
  it('stops reading, waits for in-flight messages to be stored, closes every component once', async () => {
    const source = feedSource();
    const sink = recordingSink('out');
    const t = fakeTransform((batch) => batch);
    const { pipeline } = start({ source, transforms: [t], sinks: [{ sink, batch: { maxWaitMs: 200 } }] });
    const d = source.push([msg('ok'), msg('ok')]);
    await waitFor(() => t.calls.length > 0, 'the transform');
    expect(source.acksOf(d)).toHaveLength(0);
    await pipeline.stop();
    expect(source.acksOf(d)).toEqual([expect.objectContaining({ error: undefined })]);
    const reads = source.reads;
    source.push([msg('late')]);
    await pipeline.stop();
    await delay(30);
    expect(source.reads).toBe(reads);
    expect(t.calls).toHaveLength(1);
    expect([source.closed, sink.closed, t.closed]).toEqual([1, 1, 1]);
    expect((await pipeline.status()).state).toBe('stopped');
  });

  it('stores the open batches at once when stopping, instead of waiting out the shutdown timeout', async () => {
    // An hour's maxWait and an hour's shutdown timeout: nothing more can join the batch once reading
    // has stopped, so waiting for it to fill only ate the time its write needs (a sink waiting on
    // the deadline kept `passerelle` from stopping, then had 1 s left to write).
    const source = feedSource();
    const sink = recordingSink('patient');
    const { pipeline } = start({
      source,
      sinks: [{ sink, batch: { count: 1000, maxWaitMs: 3_600_000 } }],
      shutdownTimeoutMs: 3_600_000,
    });
    const d = source.push([msg('a'), msg('b')]);
    await waitFor(async () => (await pipeline.status()).inFlight === 2, 'two messages read');
    await pipeline.stop();
    expect(sink.batches.map((b) => b.map(kindOf))).toEqual([['a', 'b']]);
    expect(source.acksOf(d)).toEqual([expect.objectContaining({ error: undefined })]);
  });

  it('counts as dropped what the memory outbox loses at stop (its sink never took it)', async () => {
    // The memory outbox holds acknowledged messages in this process only: a stop with the sink
    // down loses them. The loss is counted, so received still reconciles with what left.
    const source = feedSource();
    const sink = recordingSink('down');
    sink.connect = () => new Promise<void>(() => undefined);
    const { pipeline, metrics } = start({
      source,
      sinks: [{ sink, batch: { count: 2, maxWaitMs: 10 } }],
      shutdownTimeoutMs: 100,
    });
    const d = source.push([msg('a'), msg('b'), msg('c')]);
    await waitFor(() => source.acksOf(d).length > 0, 'the ack once stored');
    await pipeline.stop();
    expect(sink.batches).toEqual([]);
    const dropped = await metrics.dropped.get();
    expect(dropped.values).toEqual([
      expect.objectContaining({
        value: 3,
        labels: { pipeline: 'p', component: 'down', reason: 'memory outbox closed before writing them' },
      }),
    ]);
  });

  it('acks with an error a delivery whose storage keeps failing when stopped', async () => {
    const failures = { left: Number.POSITIVE_INFINITY };
    const source = feedSource();
    const sink = recordingSink('out');
    const { pipeline, metrics } = start({
      source,
      sinks: [{ sink }],
      backend: failingEnqueueBackend(failures),
    });
    const d = source.push([msg('ok')]);
    await waitFor(async () => (await total(metrics.enqueueFailures)) >= 2, 'two failed enqueues');
    expect(source.acksOf(d)).toHaveLength(0);
    await pipeline.stop();
    await waitFor(() => source.acksOf(d).length > 0, 'the ack');
    const [ack] = source.acksOf(d);
    expect(ack!.error).toBeInstanceOf(Error);
    expect(ack!.error!.message).toContain('storage unreachable');
    expect(source.acksOf(d)).toHaveLength(1);
  });

  it('retries a failing enqueue and acks without error once it is stored', async () => {
    const failures = { left: 2 };
    const source = feedSource();
    const sink = recordingSink('out');
    const { metrics } = start({ source, sinks: [{ sink }], backend: failingEnqueueBackend(failures) });
    const d = source.push([msg('ok', 'e1')]);
    await waitFor(() => source.acksOf(d).length > 0, 'the ack');
    expect(source.acksOf(d)).toEqual([expect.objectContaining({ error: undefined })]);
    await waitFor(() => sink.batches.length > 0, 'the write');
    expect(sink.ids()).toEqual(['e1']);
    expect(
      await metrics.registry.getSingleMetricAsString('passerelle_outbox_enqueue_failures_total'),
    ).toContain(`passerelle_outbox_enqueue_failures_total{pipeline="${P}",sink="out"} 2`);
  });

  it('a stop during a transient storage failure waits for the retry, which stores and acks OK', async () => {
    const failures = { left: 1 };
    const source = feedSource();
    const sink = recordingSink('out');
    const { pipeline, metrics } = start({
      source,
      sinks: [{ sink }],
      backend: failingEnqueueBackend(failures),
    });
    const d = source.push([msg('ok')]);
    await waitFor(async () => (await total(metrics.enqueueFailures)) === 1, 'the failed enqueue');
    expect(source.acksOf(d)).toHaveLength(0);
    await pipeline.stop();
    // Stored before the outbox closed: acknowledged without error by the time stop() returns.
    expect(source.acksOf(d)).toEqual([expect.objectContaining({ error: undefined })]);
    expect(await total(metrics.enqueueFailures, { sink: 'out' })).toBe(1);
  });
});

describe('Pipeline: readiness and status', () => {
  it('reports best-effort for every sink with the memory outbox (it loses what it holds on a crash)', async () => {
    const source = feedSource({ delivery: 'at-least-once' });
    const { pipeline } = start({ source, sinks: [{ sink: recordingSink('a', 'at-least-once') }] });
    expect((await pipeline.status()).delivery).toEqual({ a: 'best-effort' });
  });

  it('is ready only when the source and every sink are connected', async () => {
    registerSecret('hunter2-secret');
    const source = feedSource({ gated: true, delivery: 'at-least-once' });
    const a = recordingSink('a', 'at-least-once');
    const b = recordingSink('b', 'best-effort');
    const gateA = deferred();
    a.connect = () => gateA.promise;
    b.connect = (attempt) =>
      attempt === 1
        ? Promise.reject(new Error('refused by mqtt://user:pw1234@host (token hunter2-secret)'))
        : Promise.resolve();
    // A durable backend, as with Redis: the memory outbox makes every path best-effort (tested below).
    const durable: OutboxBackend = Object.assign(Object.create(newBackend()) as OutboxBackend, {
      kind: 'redis' as const,
    });
    const { pipeline } = start({ source, sinks: [{ sink: a }, { sink: b }], backend: durable });
    expect(pipeline.ready()).toBe(false);
    source.open();
    await delay(20);
    expect(pipeline.ready()).toBe(false);

    let status = await pipeline.status();
    expect(status.state).toBe('reconnecting');
    const bStatus = status.components.find((c) => c.component === 'b')!;
    expect(bStatus.lastError?.message).toContain('refused');
    expect(bStatus.lastError?.message).not.toContain('pw1234');
    expect(bStatus.lastError?.message).not.toContain('hunter2-secret');

    gateA.resolve();
    await waitFor(() => pipeline.ready(), 'readiness', 3000);
    status = await pipeline.status();
    expect(status.state).toBe('running');
    expect(status.delivery).toEqual({ a: 'at-least-once', b: 'best-effort' });
    expect(status.components.map((c) => [c.component, c.type, c.state])).toEqual([
      ['source', 'feed', 'connected'],
      ['a', 'recorder', 'connected'],
      ['b', 'recorder', 'connected'],
    ]);

    a.ctx!.setState('reconnecting', new Error('connection lost to mqtt://u:pw1234@h'));
    expect(pipeline.ready()).toBe(false);
    status = await pipeline.status();
    expect(status.state).toBe('reconnecting');
    const aStatus = status.components.find((c) => c.component === 'a')!;
    expect(aStatus.state).toBe('reconnecting');
    expect(aStatus.lastError?.message).toBe('connection lost to mqtt://u:***@h');
    a.ctx!.setState('connected');
    expect(pipeline.ready()).toBe(true);
  });

  it('a sink that throws SinkStoppedError makes readiness false', async () => {
    const source = feedSource();
    const sink = recordingSink('out');
    sink.fail = () => new SinkStoppedError('bad credentials');
    const { pipeline } = start({ source, sinks: [{ sink }] });
    await waitFor(() => pipeline.ready(), 'readiness');
    source.push([msg('ok')]);
    await waitFor(() => !pipeline.ready(), 'not ready');
    const status = await pipeline.status();
    expect(status.components.find((c) => c.component === 'out')).toMatchObject({
      state: 'stopped',
      lastError: { message: 'bad credentials' },
    });
    expect(status.outboxes.out!.depth).toBe(1);
  });

  it('status() shows the last 10 messages that passed the transforms', async () => {
    const source = feedSource({ delivery: 'best-effort' });
    const sink = recordingSink('out');
    const { pipeline } = start({ source, sinks: [{ sink }] });
    const first = Array.from({ length: 8 }, (_, i) => msg('ok', `r${i}`));
    const second = [
      ...Array.from({ length: 6 }, (_, i) => msg('ok', `r${8 + i}`)),
      msg('raw', 'r14', new Uint8Array(5)),
    ];
    source.push(first);
    source.push(second);
    await waitFor(() => source.acks.length === 2, 'the acks');
    const status = await pipeline.status();
    expect(status.delivery).toEqual({ out: 'best-effort' });
    expect(status.recent.map((r) => r.id)).toEqual([
      'r5',
      'r6',
      'r7',
      'r8',
      'r9',
      'r10',
      'r11',
      'r12',
      'r13',
      'r14',
    ]);
    expect(status.recent.at(-1)!.payload).toEqual({ bytes: 5 });
    expect(status.recent[0]!.meta).toEqual({ kind: 'ok' });
  });
});

describe('Pipeline: replay of dead letters', () => {
  it('re-drives a sink entry to that sink only, and a transforms[i] entry from transform i', async () => {
    const source = feedSource();
    const a = recordingSink('a');
    const b = recordingSink('b');
    const failOnA = new Set(['s1']);
    a.fail = (batch) => {
      const failures = batch.flatMap((m, index) =>
        failOnA.has(m.id) ? [{ index, error: new FatalError('4xx') }] : [],
      );
      return failures.length > 0 ? new BatchError(failures) : undefined;
    };
    const rejectIds = new Set(['r1']);
    const t0 = fakeTransform((batch) =>
      batch.map((m) => ({ ...m, meta: { ...m.meta, t0: Number(m.meta.t0 ?? 0) + 1 } })),
    );
    const t1 = fakeTransform((batch, ctx) =>
      batch.filter((m) => {
        if (!rejectIds.has(m.id)) return true;
        ctx.reject(m, 'not yet');
        return false;
      }),
    );
    const { backend } = start({ source, transforms: [t0, t1], sinks: [{ sink: a }, { sink: b }] });
    source.push([msg('ok', 's1'), msg('ok', 'r1')]);
    await waitFor(
      async () => (await backend.deadLetters.count()) === 2 && b.batches.length > 0,
      'the dead letters',
    );
    const entries = await backend.deadLetters.list();
    expect(entries.map((e) => [e.stage, e.message.id]).sort()).toEqual([
      ['a', 's1'],
      ['transforms[1]', 'r1'],
    ]);
    expect(a.ids()).toEqual([]);
    expect(b.ids()).toEqual(['s1']);

    failOnA.clear();
    rejectIds.clear();
    const t0Calls = t0.calls.length;
    expect((await backend.deadLetters.requestReplay(entries.map((e) => e.id))).marked).toBe(2);
    await waitFor(
      () => a.ids().includes('s1') && a.ids().includes('r1') && b.ids().includes('r1'),
      'the replays',
      4000,
    );
    await waitFor(async () => (await backend.deadLetters.count()) === 0, 'replayDone');
    await delay(30);
    expect(a.ids().sort()).toEqual(['r1', 's1']);
    // s1 went back to sink a only.
    expect(b.ids().sort()).toEqual(['r1', 's1']);
    // r1 re-entered at transforms[1]: transform 0 did not run again.
    expect(t0.calls.length).toBe(t0Calls);
    expect(t1.calls.at(-1)!.map((m) => m.id)).toEqual(['r1']);
    const r1 = a.batches.flat().find((m) => m.id === 'r1')!;
    expect(r1.meta.t0).toBe(1);
  });
});

describe('Pipeline: transform flush', () => {
  /** Holds every message until flush(), then emits one summary per flush: a window in miniature. */
  function holdingTransform(flushEvery: number): FakeTransform & { held: Message[]; flushes: number[] } {
    const h = {
      calls: [] as Message[][],
      closed: 0,
      held: [] as Message[],
      flushes: [] as number[],
      definition: defineTransform({
        type: 'holder',
        title: 'holder',
        summary: 'holds messages until flush',
        config: noConfig,
        create: () => ({
          flushEvery,
          apply(batch: Message[]) {
            h.calls.push(batch);
            h.held.push(...batch.filter((m) => kindOf(m) !== 'through'));
            return batch.filter((m) => kindOf(m) === 'through');
          },
          flush(now: number, ctx: TransformContext) {
            h.flushes.push(now);
            if (h.held.length === 0) return [];
            const ids = h.held.splice(0).map((m) => m.id);
            const summary = createMessage({ id: `${ids[0]}/sum`, payload: { ids }, meta: { kind: 'sum' } });
            if (ids.includes('poison')) {
              ctx.reject(summary, 'cannot summarise');
              return [];
            }
            return [summary];
          },
          async close() {
            h.closed++;
          },
        }),
      }),
    };
    return h;
  }

  it('passes flushed messages through the following transforms into the sinks, counted as generated', async () => {
    const source = feedSource();
    const sink = recordingSink('out');
    const holder = holdingTransform(20);
    const after = fakeTransform((batch) => batch.map((m) => ({ ...m, meta: { ...m.meta, after: true } })));
    const { pipeline, metrics, backend } = start({ source, transforms: [holder, after], sinks: [{ sink }] });
    const d = source.push([msg('a', 'w1'), msg('b', 'w2')]);
    // The inputs are absorbed: acked at once, counted as filtered.
    await waitFor(() => source.acksOf(d).length > 0, 'the ack');
    await waitFor(() => sink.batches.length > 0, 'the flushed summary');
    expect(sink.batches.flat()).toEqual([
      expect.objectContaining({
        id: 'w1/sum',
        payload: { ids: ['w1', 'w2'] },
        meta: { kind: 'sum', after: true },
      }),
    ]);
    expect(holder.flushes.every((t) => Number.isFinite(t))).toBe(true);

    source.push([msg('c', 'poison')]);
    await waitFor(async () => (await backend.deadLetters.count({ stage: 'transforms[0]' })) === 1, 'reject');
    // Left in the window when the pipeline stops: flushed with now = Infinity, then stored.
    source.push([msg('d', 'w3')]);
    await waitFor(() => holder.held.length === 1, 'the held message');
    await pipeline.stop();
    expect(holder.flushes.at(-1)).toBe(Number.POSITIVE_INFINITY);
    expect(sink.ids()).toEqual(['w1/sum', 'w3/sum']);

    const received = await total(metrics.received);
    const generated = await total(metrics.generated, { component: 'transforms[0]' });
    const filtered = await total(metrics.filtered);
    const delivered = await total(metrics.delivered, { sink: 'out' });
    const dead = await total(metrics.deadLettered);
    expect([received, generated, filtered, delivered, dead]).toEqual([4, 3, 4, 2, 1]);
    expect(received + generated).toBe(delivered + filtered + dead);
    expect((await pipeline.status()).inFlight).toBe(0);
  });

  it('a flush() that throws is logged and retried at the next tick; the pipeline goes on', async () => {
    const source = feedSource();
    const sink = recordingSink('out');
    let calls = 0;
    const flaky: FakeTransform = {
      calls: [],
      closed: 0,
      definition: defineTransform({
        type: 'flaky',
        title: 'flaky',
        summary: 'flush fails once',
        config: noConfig,
        create: () => ({
          flushEvery: 10,
          apply: (batch: Message[]) => batch,
          flush: () => {
            if (++calls === 1) throw new Error('window store broken');
            return calls === 2 ? [createMessage({ id: 'from-flush', payload: 1 })] : [];
          },
        }),
      }),
    };
    const { metrics } = start({ source, transforms: [flaky], sinks: [{ sink }] });
    const d = source.push([msg('ok', 'plain')]);
    await waitFor(() => sink.ids().includes('from-flush') && sink.ids().includes('plain'), 'both messages');
    expect(source.acksOf(d)).toEqual([expect.objectContaining({ error: undefined })]);
    expect(await total(metrics.generated)).toBe(1);
  });

  it('never runs flush() while apply() of the same pipeline is running', async () => {
    const source = feedSource();
    const sink = recordingSink('out');
    const holder = holdingTransform(5);
    let active = 0;
    let overlaps = 0;
    const slow: FakeTransform = {
      calls: [],
      closed: 0,
      definition: defineTransform({
        type: 'slow',
        title: 'slow',
        summary: 'awaits in apply',
        config: noConfig,
        create: () => ({
          async apply(batch: Message[]) {
            if (++active > 1) overlaps++;
            await delay(15);
            active--;
            return batch;
          },
        }),
      }),
    };
    start({ source, transforms: [holder, slow], sinks: [{ sink }] });
    for (let i = 0; i < 6; i++) {
      source.push([msg('x', `s${i}`), msg('through', `t${i}`)]);
      await delay(7);
    }
    await waitFor(
      () =>
        sink.ids().includes('t5') && sink.ids().some((id) => id.endsWith('/sum')) && holder.held.length === 0,
      'the summaries',
      5000,
    );
    expect(overlaps).toBe(0);
  });
});

describe('Pipeline: waiting for a sink to connect', () => {
  // A backoff of up to an hour (full jitter: the delay is random below it): a batch written within
  // the test was woken by the connect, not by its timer, with no wall-clock bound to assert.
  const slowRetry = { attempts: 1, initialDelayMs: 3_600_000, maxDelayMs: 3_600_000 };

  it('writes to a sink as soon as it connects (e.g. once it holds its lease), without using attempts', async () => {
    const source = feedSource();
    const sink = recordingSink('out');
    const gate = deferred();
    let connected = false;
    sink.connect = async () => {
      await gate.promise;
      connected = true;
    };
    // Like a sink waiting for its lease: it refuses writes until connect() resolves.
    sink.fail = () => (connected ? undefined : new NotConnectedError('out is not connected'));
    const { pipeline, metrics } = start({ source, sinks: [{ sink, retry: slowRetry }] });
    source.push([msg('a'), msg('b')]);
    await waitFor(() => source.acks.length === 1, 'the delivery stored');
    // Nothing is written while the sink says it is not connected: a worker that did not wait would
    // take the stored batch within these turns (the memory outbox hands it over at once).
    await turns(50);
    expect(sink.writes).toBe(0);
    gate.resolve();
    // "As soon as": the backoff a blind retry would wait is up to an hour.
    await waitFor(() => sink.batches.length === 1, 'the batch written after the connect', 30_000);
    expect(await total(metrics.deadLettered)).toBe(0);
    expect((await pipeline.status()).outboxes.out!.depth).toBe(0);
  });

  it('a batch in backoff after a write found the sink down is retried as soon as the sink reconnects', async () => {
    const source = feedSource();
    const sink = recordingSink('out');
    let down = true;
    sink.fail = () => (down ? new NotConnectedError('connection lost') : undefined);
    const { pipeline, metrics } = start({ source, sinks: [{ sink, retry: slowRetry }] });
    await waitFor(() => pipeline.ready(), 'readiness');
    source.push([msg('a')]);
    // The write fails before the sink itself has noticed: the batch goes into backoff.
    await waitFor(() => sink.writes === 1, 'the failed write');
    sink.ctx!.setState('reconnecting', new Error('connection lost'));
    await delay(300);
    down = false;
    sink.ctx!.setState('connected');
    // The reconnect woke the batch, not its timer (up to an hour).
    await waitFor(() => sink.batches.length === 1, 'the batch written after the reconnect', 30_000);
    expect(sink.writes).toBe(2);
    expect(await total(metrics.deadLettered)).toBe(0);
  });
});
