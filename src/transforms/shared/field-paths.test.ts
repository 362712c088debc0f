import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyObject } from './field-paths.js';

/** What copyObject did with Object.keys: own enumerable string keys, in their order, skip left out. */
function reference(
  source: Record<string, unknown>,
  skip?: ReadonlySet<string | number>,
): Record<string, unknown> {
  const copy: Record<string, unknown> = Object.getPrototypeOf(source) === null ? Object.create(null) : {};
  for (const key of Object.keys(source)) if (!skip?.has(key)) copy[key] = source[key];
  return copy;
}

const key = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.nat(20).map(String),
  fc.constantFrom('constructor', 'toString'),
);
const plain = fc.dictionary(key, fc.jsonValue(), { maxKeys: 12 });

describe('copyObject', () => {
  it('copies own enumerable keys in Object.keys order, leaving out skip', () => {
    fc.assert(
      fc.property(plain, fc.array(key, { maxLength: 4 }), fc.boolean(), (entries, skipped, nullProto) => {
        const source: Record<string, unknown> = nullProto ? Object.create(null) : {};
        Object.assign(source, entries);
        const skip = skipped.length > 0 ? new Set<string | number>(skipped) : undefined;
        const copy = copyObject(source, skip);
        const expected = reference(source, skip);
        expect(Object.keys(copy)).toEqual(Object.keys(expected));
        expect(copy).toStrictEqual(expected);
        expect(Object.getPrototypeOf(copy)).toBe(Object.getPrototypeOf(source));
        expect(copy).not.toBe(source);
      }),
    );
  });

  it('leaves out inherited and non-enumerable keys, even with an enumerable key on the prototype', () => {
    const proto = { inherited: 1 };
    const source = Object.create(proto) as Record<string, unknown>;
    source.own = 2;
    Object.defineProperty(source, 'hidden', { value: 3, enumerable: false });
    expect(Object.keys(copyObject(source))).toEqual(['own']);
    // Object.prototype polluted by some library: the copy still takes own keys only.
    (Object.prototype as Record<string, unknown>).polluted = 4;
    try {
      expect(Object.keys(copyObject({ a: 1 }))).toEqual(['a']);
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
  });

  it('keeps an own __proto__ key (JSON.parse makes them) as a key, not a prototype', () => {
    const source = JSON.parse('{"__proto__": {"x": 1}, "a": 2}') as Record<string, unknown>;
    const copy = copyObject(source, new Set(['a']));
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.hasOwn(copy, '__proto__')).toBe(true);
    expect(Object.keys(copy)).toEqual(['__proto__']);
  });
});
