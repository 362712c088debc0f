import { CronExpressionParser } from 'cron-parser';
import { getNextMillis } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { tickAtOrBefore, tickClock, tickWindow, ticksBetween } from './window.js';

const iso = (t: number): string => new Date(t).toISOString();
const at = (s: string): number => Date.parse(s);
const paris = { cron: '30 2 * * *', timeZone: 'Europe/Paris' } as const;

describe('schedule ticks', () => {
  it('a 02:30 Europe/Paris cron runs once on both DST days: an hour later when 02:30 does not exist, at the first 02:30 when it occurs twice', () => {
    const clock = tickClock(paris);
    const ticks = (from: string, n: number): string[] => {
      const out: string[] = [];
      for (let t = at(from), i = 0; i < n; i++) out.push(iso((t = clock.next(t))));
      return out;
    };
    expect(ticks('2026-03-27T12:00:00Z', 3)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:30:00.000Z', // 02:30 does not exist: 03:30 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
    expect(ticks('2026-10-24T12:00:00Z', 2)).toEqual([
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST); not again at 02:30 CET
      '2026-10-26T01:30:00.000Z', // 02:30 CET
    ]);
  });

  it('computes the same next tick as BullMQ 6.7 for cron (with its time zone) and for every', () => {
    const samples = [
      '2026-03-28T23:59:59.999Z',
      '2026-03-29T01:30:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T01:10:00Z',
    ];
    for (const cron of ['30 2 * * *', '0 * * * *', '*/20 * * * * *', '0 6 * * 1-5']) {
      const clock = tickClock({ cron, timeZone: 'Europe/Paris' });
      for (const s of samples)
        expect(clock.next(at(s)), `${cron} after ${s}`).toBe(
          getNextMillis(at(s), { pattern: cron, tz: 'Europe/Paris' }),
        );
    }
    const every = tickClock({ every: 15 * 60_000 });
    expect(iso(every.next(at('2026-12-05T10:07:12Z')))).toBe('2026-12-05T10:15:00.000Z');
    expect(iso(every.next(at('2026-12-05T10:15:00Z')))).toBe('2026-12-05T10:30:00.000Z');
    expect(iso(every.prev(at('2026-12-05T10:15:00Z')))).toBe('2026-12-05T10:00:00.000Z');
    // Six fields: seconds first, as in cron-parser and BullMQ.
    expect(CronExpressionParser.parse('*/20 * * * * *').stringify(true)).toBe('*/20 * * * * *');
  });

  it('lists the ticks in a closed interval and finds the last one at or before a time', () => {
    const clock = tickClock({ every: 1000 });
    expect(ticksBetween(clock, 5000, 8000)).toEqual([5000, 6000, 7000, 8000]);
    expect(ticksBetween(clock, 5001, 7999)).toEqual([6000, 7000]);
    expect(tickAtOrBefore(clock, 7000)).toBe(7000);
    expect(tickAtOrBefore(clock, 7999)).toBe(7000);
    const cron = tickClock(paris);
    expect(ticksBetween(cron, at('2026-03-28T01:30:00Z'), at('2026-03-30T00:30:00Z')).map(iso)).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:30:00.000Z',
      '2026-03-30T00:30:00.000Z',
    ]);
  });
});

describe('tick windows', () => {
  it('since-last-tick: from the previous tick, 23 h and 25 h across the DST days for a daily cron', () => {
    const clock = tickClock(paris);
    const w = (t: string) =>
      tickWindow({ window: 'since-last-tick', timeZone: 'Europe/Paris' }, clock, at(t));
    expect(w('2026-03-29T01:30:00Z')).toEqual({
      start: at('2026-03-28T01:30:00Z'),
      end: at('2026-03-29T01:30:00Z'),
    });
    expect(w('2026-03-30T00:30:00Z')).toEqual({
      start: at('2026-03-29T01:30:00Z'),
      end: at('2026-03-30T00:30:00Z'),
    });
    const every = tickClock({ every: 15 * 60_000 });
    expect(tickWindow({ window: 'since-last-tick' }, every, at('2026-12-05T10:15:00Z'))).toEqual({
      start: at('2026-12-05T10:00:00Z'),
      end: at('2026-12-05T10:15:00Z'),
    });
  });

  it('{ previous: day } is midnight to midnight in the time zone: 23 h on 2026-03-29, 25 h on 2026-10-25', () => {
    const clock = tickClock({ cron: '0 6 * * *', timeZone: 'Europe/Paris' });
    const w = (t: string) =>
      tickWindow({ window: { previous: 'day' }, timeZone: 'Europe/Paris' }, clock, at(t));
    const spring = w('2026-03-30T04:00:00Z'); // 06:00 CEST on Monday: the window is Sunday 29th
    expect([iso(spring.start), iso(spring.end)]).toEqual([
      '2026-03-28T23:00:00.000Z',
      '2026-03-29T22:00:00.000Z',
    ]);
    expect(spring.end - spring.start).toBe(23 * 3_600_000);
    const autumn = w('2026-10-26T05:00:00Z');
    expect([iso(autumn.start), iso(autumn.end)]).toEqual([
      '2026-10-24T22:00:00.000Z',
      '2026-10-25T23:00:00.000Z',
    ]);
    expect(autumn.end - autumn.start).toBe(25 * 3_600_000);
    const plain = w('2026-12-05T05:00:00Z');
    expect(plain.end - plain.start).toBe(24 * 3_600_000);
  });

  it('{ previous: hour|week|month } and { last: d }', () => {
    const clock = tickClock({ every: 60_000 });
    const w = (window: Parameters<typeof tickWindow>[0]['window'], t: string, timeZone = 'Europe/Paris') => {
      const r = tickWindow({ window, timeZone }, clock, at(t));
      return [iso(r.start), iso(r.end)];
    };
    expect(w({ previous: 'hour' }, '2026-12-05T10:07:00Z')).toEqual([
      '2026-12-05T09:00:00.000Z',
      '2026-12-05T10:00:00.000Z',
    ]);
    // Saturday 5 Dec 2026: the last ISO week is Monday 23 Nov to Monday 30 Nov, Paris midnight.
    expect(w({ previous: 'week' }, '2026-12-05T10:00:00Z')).toEqual([
      '2026-11-22T23:00:00.000Z',
      '2026-11-29T23:00:00.000Z',
    ]);
    // March in Paris: 31 days minus the lost hour.
    expect(w({ previous: 'month' }, '2026-04-01T06:00:00Z')).toEqual([
      '2026-02-28T23:00:00.000Z',
      '2026-03-31T22:00:00.000Z',
    ]);
    expect(w({ last: 15 * 60_000 }, '2026-12-05T10:00:00Z')).toEqual([
      '2026-12-05T09:45:00.000Z',
      '2026-12-05T10:00:00.000Z',
    ]);
    // A tick exactly at midnight: the previous day is the complete one just before it.
    expect(w({ previous: 'day' }, '2026-12-04T23:00:00Z')).toEqual([
      '2026-12-03T23:00:00.000Z',
      '2026-12-04T23:00:00.000Z',
    ]);
  });
});
