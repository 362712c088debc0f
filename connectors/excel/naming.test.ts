import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_SHEET_NAME, SheetNames, validSheetName } from './naming.js';
import { compileFileName, localWallClock, partName, periodOf } from './period.js';
import { createMessage } from '../../src/sdk/index.js';

const isValidForExcel = (name: string): boolean =>
  name.length > 0 &&
  name.length <= MAX_SHEET_NAME &&
  // eslint-disable-next-line no-control-regex -- control characters are what must not be there
  !/[[\]:*?/\\\u0000-\u001f]/.test(name) &&
  !name.startsWith("'") &&
  !name.endsWith("'") &&
  name.toLowerCase() !== 'history';

describe('sheet names', () => {
  it('cleans names the way Excel requires', () => {
    expect(validSheetName('plant/line:1')).toBe('plant_line_1');
    expect(validSheetName('  ')).toBe('Sheet');
    expect(validSheetName("'x'")).toBe('x');
    expect(validSheetName('history')).toBe('History_');
    expect(validSheetName('x'.repeat(40))).toHaveLength(31);
    // A surrogate pair is not cut in half.
    expect(validSheetName(`${'a'.repeat(30)}😀`)).toBe('a'.repeat(30));
  });

  it('any key gets a valid name, unique without regard to case, the same for the same sequence', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 50 }), { maxLength: 40 }), (keys) => {
        const names = new SheetNames();
        const again = new SheetNames();
        const given = keys.map((k) => names.allocate(k));
        for (const n of given) expect(isValidForExcel(n), JSON.stringify(n)).toBe(true);
        expect(new Set(given.map((n) => n.toLowerCase())).size).toBe(given.length);
        expect(keys.map((k) => again.allocate(k))).toEqual(given);
      }),
    );
  });

  it('continuation sheets of a full key', () => {
    const names = new SheetNames();
    expect(names.allocate('dev')).toBe('dev');
    expect(names.allocate('dev', 2)).toBe('dev (2)');
    expect(names.allocate('d'.repeat(40), 12)).toBe(`${'d'.repeat(26)} (12)`);
  });
});

describe('periods and file names', () => {
  it('days, weeks and months start at local midnight in the time zone', () => {
    const t = Date.UTC(2026, 2, 29, 12); // Sunday 29 March 2026, the day Europe/Paris moves to summer time
    const day = periodOf(t, 'day', 'Europe/Paris');
    expect(new Date(day.start).toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(day.end - day.start).toBe(23 * 3_600_000);
    expect(new Date(periodOf(t, 'week', 'Europe/Paris').start).toISOString()).toBe(
      '2026-03-22T23:00:00.000Z',
    );
    expect(new Date(periodOf(t, 'month', 'UTC').start).toISOString()).toBe('2026-03-01T00:00:00.000Z');
    expect(periodOf(t, 'hour', 'UTC').end - periodOf(t, 'hour', 'UTC').start).toBe(3_600_000);
    expect(periodOf(t, 'none', 'UTC').end).toBe(Number.POSITIVE_INFINITY);
  });

  it('names files after the local start of the period, never outside the folder', () => {
    const name = compileFileName('{{pipeline}}-{{date:YYYY-MM-DD}}-{{payload.site}}', 'p', 'Asia/Tokyo');
    const t = Date.UTC(2026, 0, 31, 20); // already 1 February in Tokyo
    const m = createMessage({ id: '1', payload: { site: '../etc/passwd' }, time: t });
    expect(name(m, periodOf(t, 'day', 'Asia/Tokyo'))).toBe('p-2026-02-01-.._etc_passwd.xlsx');
    expect(
      compileFileName(
        '{{payload.x}}',
        'p',
        'UTC',
      )(createMessage({ id: '2', payload: { x: '.hidden' } }), periodOf(t, 'day', 'UTC')),
    ).toBe('_.hidden.xlsx');
    expect(partName('a.xlsx', 1)).toBe('a.xlsx');
    expect(partName('a.xlsx', 3)).toBe('a-3.xlsx');
    expect(localWallClock(Date.UTC(2026, 6, 1, 10), 'Europe/Paris')).toBe(Date.UTC(2026, 6, 1, 12));
  });
});
