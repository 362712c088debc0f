import { DateTime } from 'luxon';
import { compileTemplate, type Message, type RenderFn } from '../../src/sdk/index.js';
import { windowParts } from './run-output.js';
import type { RotationPeriod } from './spec.js';

export interface Period {
  /** Start, in ms since the epoch (inclusive). */
  start: number;
  /** End, in ms since the epoch (exclusive); Infinity with `rotate: none`. */
  end: number;
}

/** The period that contains `now`, in the time zone: hour, day, ISO week (from Monday) or month. */
export function periodOf(now: number, rotate: Exclude<RotationPeriod, 'run'>, timeZone: string): Period {
  if (rotate === 'none') return { start: 0, end: Number.POSITIVE_INFINITY };
  const unit = rotate === 'week' ? 'week' : rotate;
  const start = DateTime.fromMillis(now, { zone: timeZone }).startOf(unit, { useLocaleWeeks: false });
  return { start: start.toMillis(), end: start.plus({ [unit]: 1 }).toMillis() };
}

/**
 * The epoch milliseconds whose UTC wall-clock equals the local wall-clock of `ms` in the zone.
 * Excel dates carry no zone and exceljs writes a Date's UTC fields, so a cell that must show
 * local time is given this shifted instant; `{{date:}}` (which formats in UTC) likewise.
 */
export function localWallClock(ms: number, timeZone: string): number {
  if (timeZone === 'UTC') return ms;
  return ms + DateTime.fromMillis(ms, { zone: timeZone }).offset * 60_000;
}

export type FileNamer = (message: Message, period: Period) => string;

/**
 * Compiles the file name template. `{{date:}}` renders the start of the period in the time zone;
 * every other part reads the message as usual. Characters that can not be in a file name are
 * replaced, so a message value can never point outside the folder.
 */
export function compileFileName(template: string, pipeline: string, timeZone: string): FileNamer {
  // `{{ window.end:FORMAT }}` depends on the period: compiled once per period end (runs).
  const renders = new Map<number, RenderFn>();
  const renderOf = (period: Period): RenderFn => {
    let render = renders.get(period.end);
    if (!render) {
      if (renders.size >= 64) renders.clear();
      render = compileTemplate(windowParts(template, period, timeZone));
      renders.set(period.end, render);
    }
    return render;
  };
  const periodMessage = (message: Message, period: Period): Message => ({
    ...message,
    time: localWallClock(period.start, timeZone),
  });
  return (message, period) => {
    let name = renderOf(period)(periodMessage(message, period), { pipeline });
    // eslint-disable-next-line no-control-regex -- control characters are exactly what must go
    name = name.replace(/[/\\\u0000-\u001f<>:"|?*]/g, '_').trim();
    if (name === '' || name === '.' || name === '..' || name.startsWith('.')) name = `_${name}`;
    if (!name.toLowerCase().endsWith('.xlsx')) name += '.xlsx';
    return name;
  };
}

/** `name.xlsx` for part 1, `name-2.xlsx`, `name-3.xlsx`... after a rotation by row count. */
export function partName(baseName: string, part: number): string {
  if (part <= 1) return baseName;
  return baseName.replace(/\.xlsx$/i, `-${part}.xlsx`);
}
