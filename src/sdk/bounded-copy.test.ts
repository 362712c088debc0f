import { describe, expect, it } from 'vitest';
import { OMITTED_KEY, boundedCopy } from './bounded-copy.js';

const limits = { maxDepth: 4, maxBytes: 1000, maxString: 50 };

describe('boundedCopy', () => {
  it('copies small JSON values as they are', () => {
    const value = { a: 1, b: 'x', c: [true, null, { d: 2.5 }], e: {} };
    expect(boundedCopy(value, limits)).toEqual(value);
    expect(boundedCopy('text', limits)).toBe('text');
    expect(boundedCopy(7, limits)).toBe(7);
  });

  it('renders a value nested 200,000 levels deep without recursion', () => {
    const deep = JSON.parse('['.repeat(200_000) + ']'.repeat(200_000)) as unknown;
    const copy = boundedCopy(deep, limits);
    expect(JSON.stringify(copy)).toBe('[[[["… nested deeper than 4 levels"]]]]');
  });

  it('cuts long strings, many items and many keys, and says how much is left out', () => {
    expect(boundedCopy('y'.repeat(120), limits)).toBe(`${'y'.repeat(50)}… (70 more characters)`);
    const wide = boundedCopy(
      Array.from({ length: 10_000 }, (_, i) => i),
      limits,
    ) as unknown[];
    expect(wide.length).toBeLessThan(200);
    expect(wide.at(-1)).toMatch(/^… \d+ more items$/);
    const keys = boundedCopy(
      Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i])),
      limits,
    );
    expect((keys as Record<string, unknown>)[OMITTED_KEY]).toMatch(/^\d+ more keys$/);
    expect(JSON.stringify(keys).length).toBeLessThan(1200);
  });

  it('turns bytes, bigints and dates into JSON, drops what JSON drops, keeps __proto__ a plain key', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": 1}, "n": 1}') as unknown;
    const copy = boundedCopy(parsed, limits) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'n']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(
      boundedCopy(
        { b: Buffer.from([1, 2, 3]), n: 10n, d: new Date(0), u: undefined, f: () => 1, a: [undefined] },
        limits,
      ),
    ).toEqual({ b: { bytes: 3, base64: 'AQID' }, n: '10', d: '1970-01-01T00:00:00.000Z', a: [null] });
  });
});
