import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeValue } from './codec.js';
import { budgetEntry, replayRefusal, toJson } from './dead-letter-budget.js';
import type { DeadLetter } from './types.js';

function entry(payload: unknown, meta: Record<string, unknown> = {}): Omit<DeadLetter, 'id'> {
  return {
    pipeline: 'p',
    stage: 'source',
    reason: 'bad',
    message: { id: 'm', payload, meta, time: 1 },
    time: 1,
    attempts: 1,
  };
}

describe('dead-letter budget', () => {
  it('serialises like the outbox codec (JSON of encodeValue), at any depth, without recursion', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.uint8Array({ maxLength: 8 }), (value, bytes) => {
        const sample = { value, bytes, lone: { $bytes: 'x' }, list: [undefined, 1] };
        expect(toJson(sample).text).toBe(JSON.stringify(encodeValue(sample)));
      }),
    );
    const deep = JSON.parse('['.repeat(200_000) + ']'.repeat(200_000)) as unknown;
    expect(toJson(deep)).toEqual({ text: '['.repeat(200_000) + ']'.repeat(200_000), depth: 200_000 });
  });

  it('never throws: cycles, bigints and deep meta are stored as a bounded rendering that cannot be replayed', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const deepMeta = JSON.parse('{"a":'.repeat(5000) + '1' + '}'.repeat(5000)) as Record<string, unknown>;
    for (const [payload, meta] of [
      [cyclic, {}],
      [{ n: 10n }, {}],
      [{ ok: 1 }, { deep: deepMeta }],
    ] as const) {
      const { entry: kept, json } = budgetEntry(entry(payload, meta), 4096);
      expect(() => JSON.parse(json) as unknown).not.toThrow();
      expect(kept.stored?.truncated).toBe(true);
      expect(replayRefusal(kept)).toMatch(/not the original message/);
    }
  });

  it('keeps reasons to 2,000 characters and leaves small messages untouched', () => {
    const long = budgetEntry({ ...entry({ v: 1 }), reason: 'r'.repeat(10_000) }, 4096).entry;
    expect(long.reason).toMatch(/^r{2000}… \(8000 more characters\)$/);
    const small = entry({ v: 1 });
    expect(budgetEntry(small, 4096).entry.message).toBe(small.message);
    expect(replayRefusal(budgetEntry(small, 4096).entry)).toBeUndefined();
  });
});
