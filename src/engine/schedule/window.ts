import { CronExpressionParser } from 'cron-parser';
import { DateTime } from 'luxon';
import type { ScheduleOptions } from '../../config/pipeline-schema.js';
import type { RunWindow } from '../../sdk/index.js';

/*
 * Tick times and windows. Cron goes through cron-parser, the very copy BullMQ 6.7 uses for its job
 * schedulers (package.json pins the same version), so the process scheduler and Redis agree on
 * every tick, DST included: a time that does not exist (02:30 on the spring-forward day) runs an
 * hour later, a time that occurs twice (02:30 on the fall-back day) runs once, at its first
 * occurrence. `every` is aligned to the epoch (UTC).
 */

/** When a schedule's ticks fall. All times are ms since the epoch. */
export interface TickClock {
  /** `cron 0 6 * * * Europe/Paris` or `every 15m`. */
  readonly description: string;
  readonly timeZone: string;
  /** The first tick strictly after `t`. */
  next(t: number): number;
  /** The last tick strictly before `t`. */
  prev(t: number): number;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

export function tickClock(options: Partial<Pick<ScheduleOptions, 'cron' | 'every' | 'timeZone'>>): TickClock {
  const { cron, every } = options;
  const timeZone = options.timeZone ?? 'UTC';
  if (cron !== undefined) {
    // Parsed once here so a bad expression fails at start with cron-parser's message.
    CronExpressionParser.parse(cron, { tz: timeZone });
    const at = (t: number) => CronExpressionParser.parse(cron, { currentDate: new Date(t), tz: timeZone });
    const next = (t: number): number => at(t).next().getTime();
    return {
      description: `cron ${cron} ${timeZone}`,
      timeZone,
      next,
      // cron-parser's prev() skips the tick that next() moves out of a DST gap (03:30 for a 02:30
      // cron on the spring-forward day): walk forward with next(), the ticks BullMQ runs.
      prev: (t) => {
        let p = at(t).prev().getTime();
        for (let n = next(p); n < t; n = next(p)) p = n;
        return p;
      },
    };
  }
  if (every === undefined || !(every > 0)) throw new Error('a schedule needs `cron` or a positive `every`');
  return {
    description: `every ${formatDuration(every)}`,
    timeZone,
    next: (t) => Math.floor(t / every) * every + every,
    prev: (t) => Math.ceil(t / every) * every - every,
  };
}

/** The last tick at or before `t`. */
export function tickAtOrBefore(clock: TickClock, t: number): number {
  return clock.prev(t + 1);
}

/** Ticks in [from, to], at most `max` of them listed; `count` is exact up to `max`. */
export function ticksBetween(clock: TickClock, from: number, to: number, max = 10_000): number[] {
  const out: number[] = [];
  let t = clock.prev(from + 1) === from ? from : clock.next(from);
  while (t <= to && out.length < max) {
    out.push(t);
    t = clock.next(t);
  }
  return out;
}

/** Typical time between two ticks (for the stale-schedule alert): the gap after `t`. */
export function tickPeriod(clock: TickClock, t: number): number {
  const a = clock.next(t);
  return clock.next(a) - a;
}

/**
 * The window of the tick due at `t` (`start` inclusive, `end` exclusive):
 * - `since-last-tick`: from the previous tick of the schedule to `t`;
 * - `{ last: d }`: [t - d, t);
 * - `{ previous: unit }`: the last complete hour/day/week (ISO, from Monday)/month before `t` in
 *   the schedule's time zone, so a day is 23 or 25 hours on DST days.
 */
export function tickWindow(
  options: Partial<Pick<ScheduleOptions, 'window' | 'timeZone'>>,
  clock: TickClock,
  t: number,
): RunWindow {
  const window = options.window ?? 'since-last-tick';
  if (window === 'since-last-tick') return { start: clock.prev(t), end: t };
  if ('last' in window) return { start: t - window.last, end: t };
  const zone = options.timeZone ?? 'UTC';
  const end = DateTime.fromMillis(t, { zone }).startOf(window.previous);
  const start = end.minus({ [window.previous]: 1 }).startOf(window.previous);
  return { start: start.toMillis(), end: end.toMillis() };
}
