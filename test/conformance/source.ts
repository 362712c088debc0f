import { describe, expect, it } from 'vitest';
import type { Delivery, Message, Source } from '../../src/sdk/index.js';
import { createFakeContext, type FakeContext } from './context.js';
import { activeResources, expectReleased } from './sink.js';

/**
 * The behaviour every source must have (docs/architecture.md, "Conformance suites"): connect/close twice, each delivery settled
 * exactly once, redelivery after a failed or missing ack (for at-least-once sources), bounded
 * messages in flight. A connector applies it in its integration test with a harness.
 */
export interface SourceHarness {
  /**
   * A new source. Sources created with the same `identity` are the same consumer as far as the
   * external system is concerned (same persistent session / consumer group), so a second one sees
   * what the first left unacknowledged. Each test uses its own identity.
   */
  create(ctx: FakeContext, identity: string): Source;
  /** Makes the external system emit these values towards sources of `identity` (after connect). */
  produce(identity: string, values: string[]): Promise<void>;
  /** The value a message carries (what `produce()` sent). */
  valueOf(message: Message): string;
  /** Messages read and not yet acknowledged, at most, for sources made by `create()`. */
  maxUnacked: number;
  /**
   * Messages that are not produced data and the suite passes over (an OPC UA subscription reports
   * each node's current value when it starts).
   */
  notProduced?(message: Message): boolean;
}

export interface SourceConformanceOptions {
  /** True when unacknowledged messages come back to the next source of the same identity (at-least-once). */
  redelivers: boolean;
  /**
   * What happens past maxUnacked: `waits` (the external system holds the rest until acks make
   * room; the default) or `drops` (a system that can not be paused, such as an OPC UA
   * subscription: the excess is dropped and counted with `countDropped`).
   */
  overflow?: 'waits' | 'drops';
}

export interface ReadResult {
  deliveries: Delivery[];
  messages: Message[];
}

/** Reads until `count` messages arrived or `timeoutMs` passed (then returns what it has). */
export async function readMessages(source: Source, count: number, timeoutMs = 10_000): Promise<ReadResult> {
  const deliveries: Delivery[] = [];
  const messages: Message[] = [];
  const signal = AbortSignal.timeout(timeoutMs);
  while (messages.length < count && !signal.aborted) {
    const delivery = await source.read(signal);
    if (!delivery) break;
    deliveries.push(delivery);
    messages.push(...delivery.messages);
  }
  return { deliveries, messages };
}

/**
 * Reads until `done` says so (checked as deliveries arrive and every 20 ms: a read waiting for a
 * message that will not come is ended) or `timeoutMs` passed; with `ack`, acks each delivery.
 */
async function readUntil(
  source: Source,
  done: (r: ReadResult) => boolean,
  { ack = false, timeoutMs = 10_000 } = {},
): Promise<ReadResult> {
  const result: ReadResult = { deliveries: [], messages: [] };
  const stop = new AbortController();
  const watch = setInterval(() => done(result) && stop.abort(), 20);
  const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), stop.signal]);
  try {
    while (!done(result) && !signal.aborted) {
      const delivery = await source.read(signal);
      if (!delivery) break;
      result.deliveries.push(delivery);
      result.messages.push(...delivery.messages);
      if (ack) delivery.ack();
    }
  } finally {
    clearInterval(watch);
  }
  return result;
}

/** The produced values among `messages` (what the harness does not pass over). */
const producedValues = (h: SourceHarness, messages: Message[]): string[] =>
  messages.filter((m) => !h.notProduced?.(m)).map((m) => h.valueOf(m));

let counter = 0;
const uniqueIdentity = (label: string): string => `${label}-${process.pid}-${Date.now()}-${++counter}`;
const values = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

export function sourceConformance(
  label: string,
  harness: () => SourceHarness,
  options: SourceConformanceOptions,
): void {
  describe(`source conformance: ${label}`, () => {
    it('connects and closes twice, works after the second connect, and close() releases its handles', async () => {
      const h = harness();
      const id = uniqueIdentity('twice');
      const before = activeResources();
      const source = h.create(createFakeContext(), id);
      await source.connect(AbortSignal.timeout(10_000));
      await source.close();
      await source.connect(AbortSignal.timeout(10_000));
      await h.produce(id, ['after-reconnect']);
      const got: string[] = [];
      const signal = AbortSignal.timeout(10_000);
      while (got.length < 1 && !signal.aborted) {
        const d = await source.read(signal);
        if (!d) break;
        got.push(...producedValues(h, d.messages));
        d.ack();
      }
      expect(got).toEqual(['after-reconnect']);
      await source.close();
      await source.close();
      await expectReleased(before);
    });

    it('delivers each message once, and each delivery settles exactly once', async () => {
      const h = harness();
      const id = uniqueIdentity('once');
      const source = h.create(createFakeContext(), id);
      await source.connect(AbortSignal.timeout(10_000));
      // A source that drops past maxUnacked receives everything produced before this test reads:
      // produce what fits (half the bound, leaving room for what a source reports on its own).
      const sent = values(
        'once',
        options.overflow === 'drops' ? Math.min(25, Math.floor(h.maxUnacked / 2)) : 25,
      );
      await h.produce(id, sent);
      // Acking as it reads: a source may hold back further messages until earlier ones are acked.
      const got: string[] = [];
      const signal = AbortSignal.timeout(10_000);
      while (got.length < sent.length && !signal.aborted) {
        const d = await source.read(signal);
        if (!d) break;
        got.push(...producedValues(h, d.messages));
        d.ack();
        expect(() => d.ack()).not.toThrow();
        expect(() => d.ack(new Error('late'))).not.toThrow();
      }
      expect(got.sort()).toEqual([...sent].sort());
      // Nothing more arrives: no message was delivered twice. Shown by order, not by a quiet window:
      // a marker produced now comes after anything the source would hand out again.
      await h.produce(id, ['marker']);
      const extra: string[] = [];
      const until = AbortSignal.timeout(10_000);
      while (!extra.includes('marker') && !until.aborted) {
        const d = await source.read(until);
        if (!d) break;
        extra.push(...producedValues(h, d.messages));
        d.ack();
      }
      expect(extra).toEqual(['marker']);
      await source.close();
      if (options.redelivers) {
        // The acks reached the external system: a new reader of the same identity gets only new data.
        const next = h.create(createFakeContext(), id);
        await next.connect(AbortSignal.timeout(10_000));
        await h.produce(id, ['fresh']);
        const after = await readMessages(next, 1);
        expect(producedValues(h, after.messages)).toEqual(['fresh']);
        for (const d of after.deliveries) d.ack();
        await next.close();
      }
    });

    // A best-effort source makes no such promise.
    for (const how of options.redelivers ? (['failed', 'missing'] as const) : []) {
      it(`redelivers after a ${how} ack`, async () => {
        const h = harness();
        const id = uniqueIdentity(`redeliver-${how}`);
        const first = h.create(createFakeContext(), id);
        await first.connect(AbortSignal.timeout(10_000));
        const sent = values(how, 5);
        await h.produce(id, sent);
        const got = await readMessages(first, sent.length);
        expect(producedValues(h, got.messages).sort()).toEqual([...sent].sort());
        if (how === 'failed') for (const d of got.deliveries) d.ack(new Error('could not store'));
        await first.close();

        const second = h.create(createFakeContext(), id);
        await second.connect(AbortSignal.timeout(10_000));
        const again = await readMessages(second, sent.length);
        expect(producedValues(h, again.messages).sort()).toEqual([...sent].sort());
        for (const d of again.deliveries) d.ack();
        await second.close();
      });
    }

    it('holds at most maxUnacked unacknowledged messages, then resumes on ack', async () => {
      const h = harness();
      const id = uniqueIdentity('bounded');
      const ctx = createFakeContext();
      const source = h.create(ctx, id);
      await source.connect(AbortSignal.timeout(10_000));
      const sent = values('bounded', h.maxUnacked * 3);
      await h.produce(id, sent);
      if (options.overflow === 'drops') {
        const dropped = (): number => ctx.dropped.reduce((n, d) => n + d.count, 0);
        // Without acks, reading stops at the bound.
        const held = await readMessages(source, h.maxUnacked);
        expect(held.messages.length).toBeGreaterThan(0);
        expect(held.messages.length).toBeLessThanOrEqual(h.maxUnacked);
        const seen = producedValues(h, held.messages);
        for (const d of held.deliveries) d.ack();
        // Nothing held back: acking as it reads, every value produced is read or was dropped and
        // counted (read until each is one or the other), and nothing else.
        const rest = await readUntil(
          source,
          (r) => seen.length + producedValues(h, r.messages).length + dropped() >= sent.length,
          { ack: true },
        );
        seen.push(...producedValues(h, rest.messages));
        expect(dropped()).toBeGreaterThan(0);
        expect(seen.length + dropped()).toBe(sent.length);
        expect(new Set(seen).size).toBe(seen.length);
        await source.close();
        return;
      }
      // Without acks, reading reaches the bound...
      const held = await readMessages(source, h.maxUnacked);
      expect(held.messages.length).toBe(h.maxUnacked);
      // ...and goes no further: the next read is still pending once a value produced later was
      // confirmed to its producer (a broker hands a message on before it confirms it, so more of
      // `sent` would have reached the source by then).
      const signal = AbortSignal.timeout(20_000);
      const next = source.read(signal);
      let nextSettled = false;
      next.then(
        () => (nextSettled = true),
        () => (nextSettled = true),
      );
      const after = 'bounded-after';
      await h.produce(id, [after]);
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      expect(nextSettled, 'a delivery past maxUnacked without an ack').toBe(false);
      const seen = producedValues(h, held.messages);
      for (const d of held.deliveries) d.ack();
      // Acking as it reads, the reader gets the rest.
      const first = await next;
      if (first) {
        seen.push(...producedValues(h, first.messages));
        first.ack();
      }
      while (seen.length < sent.length + 1 && !signal.aborted) {
        const d = await source.read(signal);
        if (!d) break;
        seen.push(...producedValues(h, d.messages));
        d.ack();
      }
      expect(seen.sort()).toEqual([...sent, after].sort());
      await source.close();
    });
  });
}

/**
 * A source that makes its own data (the simulator): nothing external to produce into, so the
 * suite checks what such a source still owes: connect/close twice, a pending read that close()
 * ends, each delivery settled once, a failed ack put back, handles released.
 */
export interface GeneratorSourceHarness {
  /** A new source that emits at least a few messages a second, without end. */
  create(ctx: FakeContext): Source;
  /** A new source whose second message is minutes away (so only close() can end that read). */
  createSlow(ctx: FakeContext): Source;
}

export function generatorSourceConformance(label: string, harness: () => GeneratorSourceHarness): void {
  describe(`source conformance: ${label}`, () => {
    it('connects and closes twice, works after the second connect, and close() releases its handles', async () => {
      const before = activeResources();
      const source = harness().create(createFakeContext());
      await source.connect(AbortSignal.timeout(10_000));
      await source.close();
      await source.connect(AbortSignal.timeout(10_000));
      const { deliveries, messages } = await readMessages(source, 1);
      expect(messages.length).toBeGreaterThan(0);
      for (const d of deliveries) d.ack();
      await source.close();
      await source.close();
      await expectReleased(before);
    });

    it('ends a pending read when closed', async () => {
      const source = harness().createSlow(createFakeContext());
      await source.connect(AbortSignal.timeout(10_000));
      // Drain what is due now, so the next read waits for the generator's clock.
      const first = await source.read(AbortSignal.timeout(10_000));
      first?.ack();
      const before = activeResources();
      const pending = source.read(AbortSignal.timeout(60_000));
      await source.close();
      // The read ends because of close(): the next message is minutes away and its signal a minute.
      const ended = await Promise.race([
        pending,
        new Promise((resolve) => setTimeout(resolve, 10_000, 'still pending after close()')),
      ]);
      expect(ended).toBeNull();
      await expectReleased(before);
    });

    it('delivers new messages after each ack, and each delivery settles exactly once', async () => {
      const source = harness().create(createFakeContext());
      await source.connect(AbortSignal.timeout(10_000));
      const ids: string[] = [];
      while (ids.length < 5) {
        const d = await source.read(AbortSignal.timeout(10_000));
        expect(d).not.toBeNull();
        ids.push(...d!.messages.map((m) => m.id));
        d!.ack();
        expect(() => d!.ack()).not.toThrow();
        // A late failure after the ack must not put the batch back.
        expect(() => d!.ack(new Error('late'))).not.toThrow();
      }
      expect(new Set(ids).size).toBe(ids.length);
      const next = await source.read(AbortSignal.timeout(10_000));
      expect(next!.messages.some((m) => ids.includes(m.id))).toBe(false);
      next!.ack();
      await source.close();
    });

    it('hands a batch out again after a failed ack', async () => {
      const source = harness().create(createFakeContext());
      await source.connect(AbortSignal.timeout(10_000));
      const first = await source.read(AbortSignal.timeout(10_000));
      const ids = first!.messages.map((m) => m.id);
      first!.ack(new Error('could not store'));
      const again = await source.read(AbortSignal.timeout(10_000));
      expect(again!.messages.map((m) => m.id)).toEqual(ids);
      again!.ack();
      await source.close();
    });
  });
}
