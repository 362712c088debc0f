import type { sheets_v4 } from '@googleapis/sheets';
import { formatDate } from '../../src/sdk/index.js';
import { escapeFormula, type CellValue } from '../../src/sdk/columns.js';
import { localWallClock, toSerial } from './a1.js';
import type { Chunk } from './chunks.js';

/** appendCells writes values and number formats of every cell of the new rows. */
const CELL_FIELDS = 'userEnteredValue,userEnteredFormat.numberFormat';

/** The RAW request appending a chunk's rows to the tab `sheetId`. */
export function appendCellsRequest(
  sheetId: number,
  chunk: Chunk,
  timeZone: string,
): sheets_v4.Schema$Request {
  return {
    appendCells: {
      sheetId,
      rows: chunk.rows.map((row) => ({
        values: row.map((cell, i) => cellData(cell, chunk.formats[i], timeZone)),
      })),
      fields: CELL_FIELDS,
    },
  };
}

/** A chunk's rows as USER_ENTERED values. */
export function enteredRows(chunk: Chunk, timeZone: string): unknown[][] {
  return chunk.rows.map((row) => row.map((cell) => enteredValue(cell, timeZone)));
}

/** Size of a cell in a request (JSON of its CellData, with a format for dates). */
export function cellBytes(cell: CellValue): number {
  if (typeof cell === 'string') return Buffer.byteLength(JSON.stringify(cell)) + 40;
  if (cell instanceof Date) return 120;
  return 50;
}

/** A RAW cell: typed value and, for dates and formatted columns, its number format. */
function cellData(cell: CellValue, format: string | undefined, timeZone: string): sheets_v4.Schema$CellData {
  if (cell === null) return {};
  let value: sheets_v4.Schema$ExtendedValue;
  let type = 'NUMBER';
  if (cell instanceof Date) {
    value = { numberValue: toSerial(new Date(localWallClock(cell.getTime(), timeZone))) };
    type = 'DATE_TIME';
  } else if (typeof cell === 'number') value = { numberValue: cell };
  else if (typeof cell === 'boolean') value = { boolValue: cell };
  else value = { stringValue: cell };
  if (!format || value.stringValue !== undefined || value.boolValue !== undefined)
    return { userEnteredValue: value };
  return { userEnteredValue: value, userEnteredFormat: { numberFormat: { type, pattern: format } } };
}

/** A USER_ENTERED value: typed text is parsed by Sheets; formula-like text is kept as text. */
function enteredValue(cell: CellValue, timeZone: string): unknown {
  if (cell === null) return null;
  if (cell instanceof Date)
    return formatDate(localWallClock(cell.getTime(), timeZone), 'YYYY-MM-DD HH:mm:ss');
  if (typeof cell === 'string') return escapeFormula(cell);
  return cell;
}
