import { createReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { CellValue, ColumnType } from '../../src/sdk/index.js';

/**
 * The journal of one .xlsx file: append-only JSON lines, flushed to disk before a batch is
 * acknowledged. The .xlsx is rebuilt from it; after a crash it is replayed. A batch is a run of
 * lines closed by its end record, written with one write call: anything after the last end record
 * is a batch that was cut short (never acknowledged) and is cut off at replay.
 *
 *   {"v":1,"file":"a.xlsx","base":"a.xlsx","part":1,"periodEnd":1767225600000}   first line
 *   {"c":[{"header":"time","value":"time","type":"datetime","format":"..."}]}   the columns (when they change)
 *   {"s":0,"n":"sensor-1","k":"sensor-1","p":1}                                  a new sheet
 *   [0,{"d":1767139200000},21.5,"ok"]                                            a row of sheet 0
 *   {"b":"3f2a...","r":1,"t":7}                                                  end of a batch (id hash, rows, fence token)
 */
export const JOURNAL_VERSION = 1;

export interface JournalHeader {
  v: number;
  /** The .xlsx file name, and its base name before a `-2` part suffix. */
  file: string;
  base: string;
  part: number;
  /** When the period of the file ends (ms); null with `rotate: none`. */
  periodEnd: number | null;
}

export interface JournalColumn {
  header: string;
  value: string;
  type?: ColumnType | undefined;
  format?: string | undefined;
}

export interface JournalSheet {
  index: number;
  name: string;
  key: string;
  part: number;
  /** Data rows (the header row not counted). */
  rows: number;
}

/** Everything a journal says, as of its last complete batch. */
export interface JournalState {
  header: JournalHeader;
  columns: JournalColumn[];
  sheets: JournalSheet[];
  rows: number;
  widths: number[];
  /** The last batch ids (hashes), oldest first, to recognise a batch that is delivered again. */
  batches: string[];
  /** Highest fencing token seen in the journal (0 without a lease). */
  token: number;
  /** Bytes up to the end of the last complete batch. */
  length: number;
}

/** How many batch ids each file remembers (a redelivered batch is one of the latest). */
export const REMEMBERED_BATCHES = 1000;
/** Rows per sheet whose text lengths size the column widths. */
export const WIDTH_SAMPLE_ROWS = 1000;
/** Excel refuses cells longer than this. */
export const MAX_CELL_TEXT = 32_767;

export function encodeCell(value: CellValue): unknown {
  return value instanceof Date ? { d: value.getTime() } : value;
}

export function decodeCell(value: unknown): CellValue {
  if (value !== null && typeof value === 'object') return new Date((value as { d: number }).d);
  return value as CellValue;
}

/** Display length of a cell, for widths: dates are sized by their format instead. */
export function cellWidth(value: CellValue): number {
  if (typeof value === 'string') return value.length;
  if (typeof value === 'number') return String(value).length;
  if (typeof value === 'boolean') return 5;
  return 0;
}

export function newState(header: JournalHeader, columns: JournalColumn[]): JournalState {
  return { header, columns, sheets: [], rows: 0, widths: [], batches: [], token: 0, length: 0 };
}

export function observeWidths(state: JournalState, sheet: JournalSheet, cells: readonly unknown[]): void {
  if (sheet.rows > WIDTH_SAMPLE_ROWS) return;
  for (let i = 0; i < cells.length; i++) {
    const w = cellWidth(cells[i] as CellValue);
    if (w > (state.widths[i] ?? 0)) state.widths[i] = w;
  }
}

export function rememberBatch(state: JournalState, id: string): void {
  state.batches.push(id);
  if (state.batches.length > REMEMBERED_BATCHES)
    state.batches.splice(0, state.batches.length - REMEMBERED_BATCHES);
}

export class JournalCorruptError extends Error {}

/**
 * Reads a journal back, up to its last complete batch, and cuts off a batch that was cut short.
 * Returns undefined for a journal whose first line never made it to disk (created, not used).
 */
export async function replayJournal(path: string): Promise<JournalState | undefined> {
  let state: JournalState | undefined;
  // Changes of the batch being read, applied at its end record.
  let pending: {
    columns?: JournalColumn[];
    sheets: JournalSheet[];
    rows: Map<number, number>;
    cells: [number, unknown[]][];
  } = {
    sheets: [],
    rows: new Map(),
    cells: [],
  };
  let offset = 0;
  const size = (await stat(path)).size;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    const end = offset + Buffer.byteLength(line) + 1;
    if (end > size) break; // no newline: the last write was cut short
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      break; // a line cut short: the batch it belongs to was never acknowledged
    }
    if (!state) {
      const header = record as JournalHeader;
      if (header?.v !== JOURNAL_VERSION || typeof header.file !== 'string')
        throw new JournalCorruptError(
          `${path}: not a journal of this version (first line ${line.slice(0, 80)})`,
        );
      state = newState(header, []);
      state.length = end;
    } else if (Array.isArray(record)) {
      const sheet = record[0] as number;
      pending.rows.set(sheet, (pending.rows.get(sheet) ?? 0) + 1);
      if (pending.cells.length < WIDTH_SAMPLE_ROWS) pending.cells.push([sheet, record.slice(1)]);
    } else {
      const r = record as Record<string, unknown>;
      if ('c' in r) pending.columns = r.c as JournalColumn[];
      else if ('s' in r)
        pending.sheets.push({
          index: r.s as number,
          name: r.n as string,
          key: r.k as string,
          part: r.p as number,
          rows: 0,
        });
      else if ('b' in r) {
        if (pending.columns) state.columns = pending.columns;
        state.sheets.push(...pending.sheets);
        for (const [sheet, cells] of pending.cells) {
          const s = state.sheets[sheet];
          if (s) observeWidths(state, s, cells);
        }
        for (const [sheet, n] of pending.rows) {
          const s = state.sheets[sheet];
          if (!s) throw new JournalCorruptError(`${path}: rows of an unknown sheet ${sheet}`);
          s.rows += n;
          state.rows += n;
        }
        rememberBatch(state, r.b as string);
        if (typeof r.t === 'number' && r.t > state.token) state.token = r.t;
        state.length = end;
        pending = { sheets: [], rows: new Map(), cells: [] };
      }
    }
    offset = end;
  }
  return state;
}

/** An open journal, appended to with one write and one fdatasync per batch. */
export class JournalWriter {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    public length: number,
  ) {}

  /** Creates a journal with its header line, or opens one (cut back to `length`, its last complete batch). */
  static async open(
    path: string,
    header: JournalHeader | undefined,
    length?: number,
  ): Promise<JournalWriter> {
    if (header) {
      const handle = await open(path, 'wx');
      try {
        const text = `${JSON.stringify(header)}\n`;
        await handle.write(text);
        await handle.datasync();
        return new JournalWriter(path, handle, Buffer.byteLength(text));
      } catch (error) {
        await handle.close();
        throw error;
      }
    }
    const handle = await open(path, 'r+');
    const size = (await handle.stat()).size;
    if (length !== undefined && size > length) {
      await handle.truncate(length);
      await handle.datasync();
    }
    return new JournalWriter(path, handle, length ?? size);
  }

  /** Appends and flushes to disk; on failure the journal is cut back so no half batch stays. */
  async append(text: string): Promise<void> {
    const data = Buffer.from(text);
    try {
      await this.handle.write(data, 0, data.length, this.length);
      await this.handle.datasync();
      this.length += data.length;
    } catch (error) {
      await this.handle.truncate(this.length).catch(() => undefined);
      throw error;
    }
  }

  /** The journal's identity (device and inode), to notice it was moved or deleted under us. */
  async identity(): Promise<string> {
    const s = await this.handle.stat();
    return `${s.dev}:${s.ino}`;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
