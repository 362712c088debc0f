import { DateTime } from 'luxon';

/** A1 notation, tab names and date cells, as the Sheets API wants them. */

/** 1 -> `A`, 27 -> `AA`. */
export function columnLetters(n: number): string {
  let out = '';
  for (let v = n; v > 0; v = Math.floor((v - 1) / 26)) out = String.fromCharCode(65 + ((v - 1) % 26)) + out;
  return out;
}

/** Quotes a tab title for A1 notation: `'It''s here'`. */
export function quoteTitle(title: string): string {
  return `'${title.replace(/'/g, "''")}'`;
}

/** `'Tab'!A5:D9` for `rows` rows of `width` cells starting at `startRow`. */
export function rowsRange(title: string, startRow: number, rows: number, width: number): string {
  return `${quoteTitle(title)}!A${startRow}:${columnLetters(Math.max(width, 1))}${startRow + rows - 1}`;
}

const MAX_TITLE = 100;

/**
 * A tab title Sheets accepts: no control characters, at most 100 characters, not empty. The
 * rollover suffix ` (N)` is kept free of clashes by refusing names that already end like one.
 */
export function sanitizeTitle(name: string): string {
  // eslint-disable-next-line no-control-regex
  let t = name.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  t = t.replace(/ \((\d+)\)$/, ' [$1]');
  if (t === '') t = 'data';
  return t.length > MAX_TITLE - 8 ? t.slice(0, MAX_TITLE - 8) : t;
}

/** The title of part `part` of a tab family: `name`, `name (2)`, `name (3)`... */
export function partTitle(family: string, part: number): string {
  return part <= 1 ? family : `${family} (${part})`;
}

/** The part number a title has in the family, or undefined when it is not one of its parts. */
export function partOf(family: string, title: string): number | undefined {
  if (title === family) return 1;
  if (!title.startsWith(`${family} (`) || !title.endsWith(')')) return undefined;
  const n = Number(title.slice(family.length + 2, -1));
  return Number.isInteger(n) && n >= 2 ? n : undefined;
}

/** A date as a Sheets serial number (days since 1899-12-30, UTC wall clock), shown with a date format. */
export function toSerial(date: Date): number {
  return date.getTime() / 86_400_000 + 25_569;
}

/**
 * The epoch milliseconds whose UTC wall clock equals the local wall clock of `ms` in the zone:
 * Sheets date-times carry no zone, and `{{ date:... }}` formats in UTC.
 */
export function localWallClock(ms: number, timeZone: string): number {
  if (timeZone === 'UTC') return ms;
  return ms + DateTime.fromMillis(ms, { zone: timeZone }).offset * 60_000;
}

// In their own file: the spec validates templates with them and must not load luxon.
export { WINDOW_PART, withoutWindowParts } from './window-parts.js';
