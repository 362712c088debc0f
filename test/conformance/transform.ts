import { describe, expect, it } from 'vitest';
import { silentLogger, type Message, type Transform, type TransformContext } from '../../src/sdk/index.js';

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
  /** Messages the transform leaves out on purpose, without rejecting them (a filter's misses). */
  dropped?: Message[];
  /** Size of the large batch test (default 20 000). */
  largeBatch?: number;
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

/** The output comes from the input: same id, or an id derived from it (`<id>...`). */
function fromInput(output: Message, inputs: Message[]): boolean {
  return inputs.some((m) => output.id === m.id || output.id.startsWith(m.id));
}

/** Registers the behaviour every transform must have (docs/architecture.md, "Conformance suites"). */
export function describeTransformConformance(name: string, options: TransformConformanceOptions): void {
  describe(`${name} conformance`, () => {
    it('has distinct ids in its fixtures', () => {
      const ids = [...options.good, ...options.bad, ...(options.dropped ?? [])].map((m) => m.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(options.good.length).toBeGreaterThan(0);
      expect(options.bad.length).toBeGreaterThan(0);
    });

    it('passes good messages on, derived from their input', async () => {
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
      for (const m of options.bad) expect(out.some((o) => fromInput(o, [m]) && o.id === m.id)).toBe(false);
      for (const m of options.good) expect(out.some((o) => fromInput(o, [m]))).toBe(true);
      await transform.close?.();
    });

    it('leaves out the messages it drops, without rejecting them', async () => {
      const dropped = options.dropped ?? [];
      const transform = await options.create();
      const ctx = createTestTransformContext();
      const out = await transform.apply(interleave(dropped, options.good), ctx);
      expect(ctx.rejected).toEqual([]);
      for (const m of dropped) expect(out.some((o) => fromInput(o, [m]) && o.id === m.id)).toBe(false);
      expect(out.length).toBeGreaterThanOrEqual(options.good.length);
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
        batch.push({ ...source, id: `${source.id}#large${i}` });
      }
      const badCount = batch.filter((m) => options.bad.some((b) => m.id.startsWith(`${b.id}#`))).length;
      const started = performance.now();
      const out = await transform.apply(batch, ctx);
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(ctx.rejected.length).toBe(badCount);
      expect(out.length).toBeGreaterThanOrEqual(n - badCount);
      await transform.close?.();
    });

    it('can be closed twice', async () => {
      const transform = await options.create();
      await transform.apply(options.good, createTestTransformContext());
      await transform.close?.();
      await transform.close?.();
    });
  });
}
