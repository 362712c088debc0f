import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { silentLogger, type Message, type Transform, type TransformContext } from '../../src/sdk/index.js';
import { activeResources, expectReleased } from './sink.js';

/** A TransformContext that records rejections, for tests. */
export interface TestTransformContext extends TransformContext {
  rejected: { message: Message; reason: string }[];
}

export function createTestTransformContext(overrides: Partial<TransformContext> = {}): TestTransformContext {
  const rejected: { message: Message; reason: string }[] = [];
  return {
    pipeline: 'test',
    component: 'transforms[0]',
    logger: silentLogger,
    reject(message, reason) {
      rejected.push({ message, reason });
    },
    ...overrides,
    rejected,
  };
}

export interface TransformConformanceOptions {
  /** Creates a fresh transform for each test. */
  create(): Transform | Promise<Transform>;
  /** Messages the transform passes on (each yields at least one output). */
  good: Message[];
  /** Messages the transform must reject with a reason. */
  bad: Message[];
  /**
   * Messages the transform leaves out on purpose, without rejecting them (a filter's misses, a
   * deadband's repeats). Required, with at least one message, unless `neverDrops` says why there
   * can be none: a suite that forgets it would prove nothing about dropping.
   */
  dropped?: Message[];
  /** Why this transform never leaves a message out (instead of `dropped`). */
  neverDrops?: string;
  /**
   * The id of the output the transform makes from `input` (default: the input's own id). Only for
   * transforms that mint ids, such as aggregate's `<first id>~<window start>`.
   */
  derivedId?: (input: Message) => string;
  /** Size of the large batch test (default 20 000). */
  largeBatch?: number;
  /**
   * The i-th copy of a fixture in the large batch (default: the same message with the id
   * `<id>#large<i>`). A transform that keys its state on something else than the id changes that
   * too, so copies of a good message do not become repeats that it drops. Keep the id `<id>#...`.
   */
  copy?: (message: Message, i: number) => Message;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function interleave(good: Message[], bad: Message[]): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < Math.max(good.length, bad.length); i++) {
    if (good[i]) out.push(good[i] as Message);
    if (bad[i]) out.push(bad[i] as Message);
  }
  return out;
}

/** Registers the behaviour every transform must have (docs/architecture.md, "Conformance suites"). */
export function describeTransformConformance(name: string, options: TransformConformanceOptions): void {
  const derivedId = options.derivedId ?? ((m: Message) => m.id);
  /** The output comes from one of the inputs: exactly the id the transform makes from it. */
  const fromInput = (output: Message, inputs: Message[]): boolean =>
    inputs.some((m) => output.id === derivedId(m));
  describe(`${name} conformance`, () => {
    it('says whether it drops messages: a dropping fixture, or why it never drops', () => {
      const dropping = (options.dropped?.length ?? 0) > 0;
      const never = (options.neverDrops?.length ?? 0) > 0;
      expect(
        dropping !== never,
        'give `dropped` (at least one message it leaves out) or `neverDrops` (why it leaves none out), not both',
      ).toBe(true);
    });

    it('has distinct ids in its fixtures', () => {
      const ids = [...options.good, ...options.bad, ...(options.dropped ?? [])].map((m) => m.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(options.good.length).toBeGreaterThan(0);
      expect(options.bad.length).toBeGreaterThan(0);
    });

    it('passes good messages on, derived from their input', async () => {
      // One clock for the batch and the single runs: a processing-time stamp must not differ.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
      onTestFinished(() => void vi.useRealTimers());
      const transform = await options.create();
      const ctx = createTestTransformContext();
      const out = await transform.apply(options.good, ctx);
      expect(ctx.rejected).toEqual([]);
      for (const m of out)
        expect(fromInput(m, options.good), `output ${m.id} is not derived from the input`).toBe(true);
      for (const m of options.good)
        expect(
          out.some((o) => fromInput(o, [m])),
          `${m.id} was not passed on`,
        ).toBe(true);
      await transform.close?.();
      // Content: what a message becomes in the batch is what it becomes alone, so no output carries
      // another input's data under its id.
      for (const m of options.good) {
        const alone = await options.create();
        const single = await alone.apply([m], createTestTransformContext());
        expect(
          out.filter((o) => fromInput(o, [m])),
          `the output of ${m.id} differs in a batch and alone`,
        ).toEqual(single);
        await alone.close?.();
      }
    });

    it('never mutates its input messages', async () => {
      const transform = await options.create();
      const batch = interleave(options.good, options.bad);
      const before = structuredClone(batch);
      // Frozen input: a write throws in strict mode, so a mutation cannot hide.
      const out = await transform.apply(
        deepFreeze(batch.map((m) => structuredClone(m))),
        createTestTransformContext(),
      );
      expect(out.length).toBeGreaterThan(0);
      const again = batch.map((m) => structuredClone(m));
      await transform.apply(again, createTestTransformContext());
      expect(again).toEqual(before);
      await transform.close?.();
    });

    it('rejects bad messages with a reason, and the others go on', async () => {
      const transform = await options.create();
      const ctx = createTestTransformContext();
      const out = await transform.apply(interleave(options.good, options.bad), ctx);
      expect(ctx.rejected.map((r) => r.message.id).sort()).toEqual(options.bad.map((m) => m.id).sort());
      for (const r of ctx.rejected) {
        expect(typeof r.reason).toBe('string');
        expect(r.reason.length).toBeGreaterThan(10);
      }
      for (const m of options.bad) expect(out.some((o) => fromInput(o, [m]))).toBe(false);
      for (const m of options.good) expect(out.some((o) => fromInput(o, [m]))).toBe(true);
      await transform.close?.();
    });

    it('leaves out the messages it drops, without rejecting them', async () => {
      const dropped = options.dropped ?? [];
      const transform = await options.create();
      const ctx = createTestTransformContext();
      // Good first: a repeat is dropped only after the message it repeats.
      const out = await transform.apply(interleave(options.good, dropped), ctx);
      expect(ctx.rejected).toEqual([]);
      for (const m of dropped)
        expect(
          out.some((o) => fromInput(o, [m])),
          `${m.id} was not dropped`,
        ).toBe(false);
      for (const m of options.good)
        expect(
          out.some((o) => fromInput(o, [m])),
          `${m.id} was not passed on`,
        ).toBe(true);
      await transform.close?.();
    });

    it('returns nothing for an empty batch', async () => {
      const transform = await options.create();
      const ctx = createTestTransformContext();
      expect(await transform.apply([], ctx)).toEqual([]);
      expect(ctx.rejected).toEqual([]);
    });

    it('handles a large batch', async () => {
      const transform = await options.create();
      const ctx = createTestTransformContext();
      const n = options.largeBatch ?? 20_000;
      const batch: Message[] = [];
      for (let i = 0; i < n; i++) {
        const source = (
          i % 10 === 9 ? options.bad[i % options.bad.length] : options.good[i % options.good.length]
        ) as Message;
        batch.push(options.copy ? options.copy(source, i) : { ...source, id: `${source.id}#large${i}` });
      }
      const badCount = batch.filter((m) => options.bad.some((b) => m.id.startsWith(`${b.id}#`))).length;
      const started = performance.now();
      const out = await transform.apply(batch, ctx);
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(ctx.rejected.length).toBe(badCount);
      expect(out.length).toBeGreaterThanOrEqual(n - badCount);
      await transform.close?.();
    });

    it('can be closed twice, and closing releases its connections and timers', async () => {
      const before = activeResources();
      const transform = await options.create();
      await transform.apply(options.good, createTestTransformContext());
      await transform.close?.();
      await transform.close?.();
      await expectReleased(before);
    });
  });
}
