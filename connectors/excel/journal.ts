import { createReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { CellValue, ColumnType } from '../../src/sdk/columns.js';
import type { RunHeader } from './run-output.js';

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
  /** When the period of the file ends (ms); null with `rotate: none` and `rotate: run`. */
  periodEnd: number | null;
  /** With `rotate: run`: the run the file is written for (built only when the run ends). */
  run?: RunHeader;
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

// Internal: the sink sets a corrupt journal aside when it starts; the engine never sees it.
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

/**
 * Caps how many journals hold a file descriptor at once: a sink that writes many files (one per
 * `{{ }}` value) would otherwise run out of descriptors. The least recently used idle journal is
 * closed to make room, and opened again on its next append.
 */
export class JournalHandles {
  /** Journals holding a descriptor, least recently used first. */
  private readonly lru = new Set<JournalWriter>();

  constructor(readonly max: number) {}

  get size(): number {
    return this.lru.size;
  }

  /** Marks `writer` as just used, closing idle journals beyond the cap. */
  async touch(writer: JournalWriter): Promise<void> {
    this.lru.delete(writer);
    this.lru.add(writer);
    for (const other of this.lru) {
      if (this.lru.size <= this.max) break;
      if (other === writer || other.busy) continue;
      this.lru.delete(other);
      await other.suspend();
    }
  }

  forget(writer: JournalWriter): void {
    this.lru.delete(writer);
  }
}

/** A journal short of space: a short write, or ENOSPC. `bytes` is what the append needed. */
// Internal: the sink records the space it needs and raises a NotConnectedError instead.
export class JournalSpaceError extends Error {
  readonly code = 'ENOSPC';
  constructor(
    readonly path: string,
    readonly bytes: number,
    cause?: unknown,
  ) {
    super(`no space left to append ${bytes} bytes to ${path}`, { cause });
  }
}

/**
 * A journal, appended to with one write and one fdatasync per batch. Its descriptor is opened on
 * demand and may be closed between appends (JournalHandles); it is always the same file, checked
 * by device and inode when it is opened again.
 */
export class JournalWriter {
  private handle: FileHandle | undefined;
  /** An append failed and cutting the journal back failed too: cut it back before the next one. */
  private dirty = false;
  busy = false;

  private constructor(
    readonly path: string,
    private readonly handles: JournalHandles,
    readonly identity: string,
    public length: number,
    handle: FileHandle | undefined,
  ) {
    this.handle = handle;
  }

  /** Creates a journal with its header line. */
  static async create(path: string, header: JournalHeader, handles: JournalHandles): Promise<JournalWriter> {
    const handle = await open(path, 'wx');
    try {
      const text = Buffer.from(`${JSON.stringify(header)}\n`);
      await writeFully(handle, text, 0, path);
      await handle.datasync();
      const s = await handle.stat();
      const writer = new JournalWriter(path, handles, `${s.dev}:${s.ino}`, text.length, handle);
      await handles.touch(writer);
      return writer;
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  /** Opens an existing journal, cut back to `length` (its last complete batch); no descriptor kept. */
  static async reopen(path: string, length: number, handles: JournalHandles): Promise<JournalWriter> {
    const handle = await open(path, 'r+');
    try {
      const s = await handle.stat();
      if (s.size > length) {
        await handle.truncate(length);
        await handle.datasync();
      }
      return new JournalWriter(path, handles, `${s.dev}:${s.ino}`, length, undefined);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  /**
   * Appends and flushes to disk. Every write is checked: a short write (what Node reports on a full
   * disk) is a failure. On failure the journal is cut back to its last complete batch, so no half
   * batch stays.
   */
  async append(text: string): Promise<void> {
    const data = Buffer.from(text);
    this.busy = true;
    try {
      const handle = await this.descriptor();
      if (this.dirty) {
        await handle.truncate(this.length);
        this.dirty = false;
      }
      try {
        await writeFully(handle, data, this.length, this.path);
        await handle.datasync();
      } catch (error) {
        try {
          await handle.truncate(this.length);
          await handle.datasync();
        } catch {
          this.dirty = true;
        }
        throw error;
      }
      this.length += data.length;
    } finally {
      this.busy = false;
    }
  }

  /** Closes the descriptor; the next append opens the journal again. */
  async suspend(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.handles.forget(this);
    await this.suspend();
  }

  private async descriptor(): Promise<FileHandle> {
    await this.handles.touch(this);
    if (this.handle) return this.handle;
    const handle = await open(this.path, 'r+');
    const s = await handle.stat().catch(async (error: unknown) => {
      await handle.close().catch(() => undefined);
      throw error;
    });
    if (`${s.dev}:${s.ino}` !== this.identity) {
      await handle.close().catch(() => undefined);
      throw new Error(`journal ${this.path} was removed or replaced`);
    }
    this.handle = handle;
    return handle;
  }
}

/** Writes all of `data` at `position`, or throws: a write that stops short is a full disk. */
async function writeFully(handle: FileHandle, data: Buffer, position: number, path: string): Promise<void> {
  let done = 0;
  try {
    while (done < data.length) {
      const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
      if (bytesWritten === 0) throw new JournalSpaceError(path, data.length);
      done += bytesWritten;
    }
  } catch (error) {
    if (error instanceof JournalSpaceError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') throw new JournalSpaceError(path, data.length, error);
    throw error;
  }
}
