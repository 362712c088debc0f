/**
 * Written apart from the connector's own a1.ts on purpose: a stand-in that shared the sink's A1 code
 * would agree with the sink's mistakes instead of catching them.
 *
 * A1 notation as the Sheets API reads it: `'My Sheet'!A1:C3`, `Sheet1!A:A`, `Sheet1!1:1`, `Sheet1`,
 * `A1:B2` (first tab). Rows and columns are 1-based here; an open end is undefined.
 */
export interface ParsedRange {
  /** Undefined when the range names no tab (the first tab is meant). */
  sheet: string | undefined;
  startRow: number | undefined;
  startColumn: number | undefined;
  endRow: number | undefined;
  endColumn: number | undefined;
}

export class RangeError400 extends Error {}

/** `A` -> 1, `Z` -> 26, `AA` -> 27. */
export function columnNumber(letters: string): number {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n;
}

/** 1 -> `A`, 27 -> `AA`. */
export function columnLetters(n: number): string {
  let out = '';
  for (let v = n; v > 0; v = Math.floor((v - 1) / 26)) out = String.fromCharCode(65 + ((v - 1) % 26)) + out;
  return out;
}

/** Quotes a tab title for A1 notation: `'It''s'`. */
export function quoteSheet(title: string): string {
  return `'${title.replace(/'/g, "''")}'`;
}

const CELL = /^([A-Za-z]*)(\d*)$/;
/** `A1`, `A1:B2`, `A:C`, `3:5`: anything else without `!` is a tab title. */
const CELL_REFERENCE = /^([A-Za-z]{1,3}\d+(:[A-Za-z]{0,3}\d*)?|[A-Za-z]{1,3}:[A-Za-z]{1,3}|\d+:\d+)$/;

export function parseRange(text: string): ParsedRange {
  let sheet: string | undefined;
  let cells = text;
  if (text.startsWith("'")) {
    let i = 1;
    let title = '';
    for (; i < text.length; i++) {
      if (text[i] === "'") {
        if (text[i + 1] === "'") {
          title += "'";
          i++;
          continue;
        }
        break;
      }
      title += text[i];
    }
    if (i >= text.length) throw new RangeError400(`Unable to parse range: ${text}`);
    sheet = title;
    const rest = text.slice(i + 1);
    if (rest !== '' && !rest.startsWith('!')) throw new RangeError400(`Unable to parse range: ${text}`);
    cells = rest.slice(1);
  } else if (text.includes('!')) {
    const bang = text.indexOf('!');
    sheet = text.slice(0, bang);
    cells = text.slice(bang + 1);
  } else if (!CELL_REFERENCE.test(text)) {
    // A bare word that is not a cell reference is a tab title.
    sheet = text;
    cells = '';
  }
  if (cells === '')
    return { sheet, startRow: undefined, startColumn: undefined, endRow: undefined, endColumn: undefined };
  const [a, b, extra] = cells.split(':');
  if (extra !== undefined || a === undefined) throw new RangeError400(`Unable to parse range: ${text}`);
  const start = CELL.exec(a);
  const end = b === undefined ? start : CELL.exec(b);
  if (!start || !end || (a === '' && b !== undefined))
    throw new RangeError400(`Unable to parse range: ${text}`);
  const num = (s: string | undefined): number | undefined => (s ? Number(s) : undefined);
  const col = (s: string | undefined): number | undefined => (s ? columnNumber(s) : undefined);
  const r: ParsedRange = {
    sheet,
    startColumn: col(start[1]),
    startRow: num(start[2]),
    endColumn: col(end[1]),
    endRow: num(end[2]),
  };
  if (r.startRow === 0 || r.endRow === 0) throw new RangeError400(`Unable to parse range: ${text}`);
  return r;
}
