import { describe, expect, it } from 'vitest';
import { columnLetters, partOf, partTitle, quoteTitle, rowsRange, sanitizeTitle, toSerial } from './a1.js';
import { MemoryQuota } from './quota.js';
import { MemoryTabStore } from './state.js';

describe('A1 notation and tab names', () => {
  it('names columns and ranges as Sheets does', () => {
    expect([1, 26, 27, 52, 53, 702, 703].map(columnLetters)).toEqual([
      'A',
      'Z',
      'AA',
      'AZ',
      'BA',
      'ZZ',
      'AAA',
    ]);
    expect(quoteTitle("Bob's line")).toBe("'Bob''s line'");
    expect(rowsRange('press 1', 5, 3, 28)).toBe("'press 1'!A5:AB7");
  });

  it('makes template output a valid, rollover-safe tab title', () => {
    expect(sanitizeTitle('  line\n1\t ')).toBe('line 1');
    expect(sanitizeTitle('')).toBe('data');
    expect(sanitizeTitle('x'.repeat(200))).toHaveLength(92);
    // A rendered name that looks like a rollover part would be mistaken for one.
    expect(sanitizeTitle('press (2)')).toBe('press [2]');
    expect(partTitle('press', 1)).toBe('press');
    expect(partTitle('press', 3)).toBe('press (3)');
    expect(partOf('press', 'press (3)')).toBe(3);
    expect(partOf('press', 'press')).toBe(1);
    expect(partOf('press', 'press-2')).toBeUndefined();
    expect(partOf('press', 'press (x)')).toBeUndefined();
  });

  it('turns dates into Sheets serial numbers', () => {
    expect(toSerial(new Date(Date.UTC(1899, 11, 30)))).toBe(0);
    expect(toSerial(new Date(Date.UTC(2024, 0, 1, 12)))).toBe(45292.5);
  });
});

describe('in-process shared state', () => {
  it('token bucket: a burst, then the configured rate, and a block after a 429', async () => {
    let now = 0;
    const quota = new MemoryQuota({ writesPerMinute: 60, burst: 3 }, () => now);
    expect([await quota.take(), await quota.take(), await quota.take()]).toEqual([0, 0, 0]);
    expect(await quota.take()).toBe(1000);
    now += 1000;
    expect(await quota.take()).toBe(0);
    await quota.block(5000);
    expect(await quota.take()).toBe(5000);
    now += 5000;
    expect(await quota.take()).toBe(1000);
  });

  it('chunks: the same key gets the same part and its status; a full part rolls over', async () => {
    const store = new MemoryTabStore(60_000);
    await store.init('t', { part: 1, cursor: 2, header: [] });
    const a = await store.reserve('t', 'a', 3, 5);
    const b = await store.reserve('t', 'b', 3, 5);
    expect(a).toEqual({ part: 1, startRow: 2, rows: 3, status: 'new' });
    expect(b).toEqual({ part: 2, startRow: 2, rows: 3, status: 'new' });
    expect(await store.reserve('t', 'a', 3, 5)).toEqual(a);
    await store.mark('t', 'a', 'sent');
    expect(await store.reserve('t', 'a', 3, 5)).toEqual({ ...a, status: 'sent' });
    expect(await store.extendHeader('t', [{ header: 'x', value: 'payload.x' }])).toEqual([
      { header: 'x', value: 'payload.x' },
    ]);
    expect(
      await store.extendHeader('t', [
        { header: 'y', value: 'payload.y' },
        { header: 'x', value: 'payload.x' },
      ]),
    ).toEqual([
      { header: 'x', value: 'payload.x' },
      { header: 'y', value: 'payload.y' },
    ]);
  });
});
