import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { transientRequire } from './transient-require.js';

const cache = createRequire(import.meta.url).cache;
const cached = (part: string): boolean => Object.keys(cache).some((key) => key.includes(part));

describe('transientRequire', () => {
  it('loads on use, the same value until released, then drops what it loaded and what was derived', () => {
    let loads = 0;
    let released = 0;
    const ms = transientRequire(
      (require) => {
        loads++;
        return require('ms') as (text: string) => number;
      },
      60_000,
      () => released++,
    );
    expect(ms.loaded()).toBe(false);
    expect(ms.get()('2s')).toBe(2000);
    expect(ms.get()).toBe(ms.get());
    expect(loads).toBe(1);
    expect(cached('/node_modules/ms/')).toBe(true);
    ms.release();
    expect([ms.loaded(), released, cached('/node_modules/ms/')]).toEqual([false, 1, false]);
    expect(ms.get()('1m')).toBe(60_000);
    expect(loads).toBe(2);
    ms.release();
  });

  it("leaves a module that was loaded before it (another user's) in the cache", () => {
    const other = createRequire(import.meta.url)('ms') as unknown;
    const ms = transientRequire((require) => require('ms') as unknown, 60_000);
    expect(ms.get()).toBe(other);
    ms.release();
    expect(cached('/node_modules/ms/')).toBe(true);
  });
});
