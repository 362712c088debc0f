import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type ExcelJS from 'exceljs';
import { DEFAULT_DATETIME_FORMAT } from '../../src/sdk/columns.js';
import { decodeCell, type JournalColumn, type JournalSheet } from './journal.js';
import { xmlSafe } from './naming.js';
import { localWallClock } from './period.js';

/** What a build needs besides the journal: the columns and sheets as of the journal's length. */
export interface WorkbookPlan {
  /** The journal to read, and how many bytes of it (later appends are not part of this build). */
  journalPath: string;
  journalLength: number;
  columns: JournalColumn[];
  sheets: JournalSheet[];
  /** Widest text seen per column (characters), for the column widths. */
  widths: number[];
  timeZone: string;
  compressionLevel: number;
}

export interface BuiltWorkbook {
  sha256: string;
  bytes: number;
  sheets: { name: string; rows: number }[];
}

const MIN_WIDTH = 8;
const MAX_WIDTH = 60;
/** Rows written between two looks at the zip stream's buffer. */
const ROWS_PER_CHECK = 500;
/** exceljs hands sheet XML to the zip without backpressure; above this much buffered we wait. */
const MAX_BUFFERED = 1 << 20;

/**
 * Loads exceljs (it takes ~0.5 s: only pipelines with an Excel sink pay for it, when the sink
 * connects, before it holds any file open). Through require, not import(): a failed import() stays
 * failed for the life of the process (the module map keeps the error), while a failed require is
 * tried again. Node also remembers a package.json it could not read, which is why this runs at
 * connect and not at the first build, when descriptors may be short.
 */
let exceljs: typeof ExcelJS | undefined;
export function loadExcelJs(): typeof ExcelJS {
  try {
    exceljs ??= createRequire(import.meta.url)('exceljs') as typeof ExcelJS;
  } catch (error) {
    throw new Error(`exceljs could not be loaded: ${(error as Error).message.split('\n')[0]}`, {
      cause: error,
    });
  }
  return exceljs;
}

/** Text that needs `xml:space="preserve"` to be read back exactly (LibreOffice drops the rest). */
const UNSAFE_WHITESPACE = /^\s|\s$|[\n\r\t]/;

/**
 * exceljs writes plain strings as `<v>` without `xml:space="preserve"`, and LibreOffice drops their
 * leading and trailing whitespace. A rich text value is written as an inline string whose `<t>`
 * exceljs marks with `xml:space="preserve"`: used only for text that needs it.
 */
function keepWhitespace(value: ExcelJS.CellValue): ExcelJS.CellValue {
  return typeof value === 'string' && UNSAFE_WHITESPACE.test(value) ? { richText: [{ text: value }] } : value;
}

/**
 * Writes the workbook of a journal to `target`, atomically: into `temp` (beside the target, on
 * the same file system), flushed to disk, renamed over the target, and the folder flushed, so the
 * target is always either the previous complete file or the new complete file.
 *
 * Memory stays flat however many rows: one pass over the journal per sheet (in sheet order, as
 * exceljs needs), rows streamed into the zip, and the producer waits whenever the zip falls behind.
 */
export async function buildWorkbook(
  plan: WorkbookPlan,
  target: string,
  temp: string,
  beforeRename?: () => Promise<void>,
): Promise<BuiltWorkbook> {
  const excel = loadExcelJs();
  const hash = createHash('sha256');
  let bytes = 0;
  const file = createWriteStream(temp, { flags: 'w' });
  // Any error of the file or of the streams in front of it (a full disk) fails the build at once;
  // without this, exceljs would wait for a 'drain' that never comes, or a later write to the
  // destroyed stream would surface as an uncaught ERR_STREAM_DESTROYED.
  let failBuild: (error: Error) => void = () => undefined;
  const failed = new Promise<never>((_resolve, reject) => (failBuild = reject));
  failed.catch(() => undefined);
  const fileDone = new Promise<void>((resolve, reject) => {
    file.on('close', resolve);
    file.on('error', reject);
  });
  fileDone.catch(() => undefined);
  file.on('error', (error) => failBuild(error));
  // Hash what goes to disk on the way, so the manifest needs no second read of the file.
  const tee = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, callback) {
      if (file.destroyed)
        return callback(file.errored ?? new Error(`${temp}: the file was closed by an earlier error`));
      hash.update(chunk);
      bytes += chunk.length;
      if (file.write(chunk)) return callback();
      const settle = (error?: Error): void => {
        file.off('drain', settle);
        file.off('error', settle);
        callback(error);
      };
      file.on('drain', settle);
      file.on('error', settle);
    },
    final(callback) {
      file.end(() => callback());
    },
  });
  tee.on('error', (error) => {
    failBuild(error);
    file.destroy(error);
  });

  const work = async (): Promise<BuiltWorkbook> => {
    const workbook = new excel.stream.xlsx.WorkbookWriter({
      stream: tee,
      useStyles: true,
      useSharedStrings: false,
      zip: { zlib: { level: plan.compressionLevel } },
    });
    workbook.creator = 'passerelle';
    const counts: { name: string; rows: number }[] = [];
    const sheets =
      plan.sheets.length > 0 ? plan.sheets : [{ index: -1, name: 'data', key: '', part: 1, rows: 0 }];
    for (const sheet of sheets) {
      counts.push({ name: sheet.name, rows: await writeSheet(workbook, sheet, plan) });
    }
    await workbook.commit();
    await fileDone;
    // Every byte the zip produced must be in the file: a short write is a full disk.
    const written = (await stat(temp)).size;
    if (written !== bytes) throw new Error(`${temp}: ${written} of ${bytes} bytes written (disk full?)`);
    await syncFile(temp);
    await beforeRename?.();
    await rename(temp, target);
    await syncDirectory(dirname(target));
    return { sha256: hash.digest('hex'), bytes, sheets: counts };
  };

  const running = work();
  running.catch(() => undefined); // when `failed` wins, this one may still reject later
  try {
    return await Promise.race([running, failed]);
  } catch (error) {
    tee.destroy();
    file.destroy();
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}

async function writeSheet(
  workbook: ExcelJS.stream.xlsx.WorkbookWriter,
  sheet: JournalSheet,
  plan: WorkbookPlan,
): Promise<number> {
  const { columns } = plan;
  const worksheet = workbook.addWorksheet(sheet.name, {
    views: [{ state: 'frozen', ySplit: 1, xSplit: 0 }],
  });
  worksheet.columns = columns.map((c, i) => ({
    header: keepWhitespace(xmlSafe(c.header)) as string,
    key: String(i),
    width: columnWidth(c, plan.widths[i] ?? 0),
    ...(c.format ? { style: { numFmt: c.format } } : {}),
  }));
  const header = worksheet.getRow(1);
  header.font = { bold: true };
  header.commit();
  if (columns.length > 0)
    worksheet.autoFilter = { from: { row: 1, column: 1 }, to: { row: 1, column: columns.length } };

  // One style object per column, shared by its cells: exceljs caches a style id per object, so
  // it does not serialise a style for every cell (a sixth of the build time at a million rows).
  const styles = columns.map((c) => (c.format ? { numFmt: c.format } : {}));
  const dateStyle = { numFmt: DEFAULT_DATETIME_FORMAT };
  let rows = 0;
  if (sheet.index >= 0) {
    const prefix = `[${sheet.index},`;
    const lines = createInterface({
      input: createReadStream(plan.journalPath, {
        start: 0,
        end: plan.journalLength - 1,
        highWaterMark: 1 << 20,
      }),
      crlfDelay: Infinity,
    });
    for await (const line of lines) {
      if (!line.startsWith(prefix)) continue;
      const record = JSON.parse(line) as unknown[];
      const values: ExcelJS.CellValue[] = new Array<ExcelJS.CellValue>(record.length - 1);
      for (let i = 1; i < record.length; i++)
        values[i - 1] = keepWhitespace(toExcel(decodeCell(record[i]), plan.timeZone));
      const row = worksheet.addRow(values);
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        if (value === null || value === undefined) continue;
        // A date in a column without a format would show as a bare serial number.
        const style = value instanceof Date && !columns[i]?.format ? dateStyle : styles[i];
        if (style) row.getCell(i + 1).style = style as Partial<ExcelJS.Style>;
      }
      row.commit();
      if (++rows % ROWS_PER_CHECK === 0) await zipCaughtUp(worksheet);
    }
  }
  worksheet.commit();
  return rows;
}

function toExcel(value: ReturnType<typeof decodeCell>, timeZone: string): ExcelJS.CellValue {
  if (value instanceof Date) return new Date(localWallClock(value.getTime(), timeZone));
  return value;
}

/** Header width, or the widest value seen, within bounds; dates get room for their format. */
function columnWidth(column: JournalColumn, widest: number): number {
  const format = column.format?.replace(/[\\"]/g, '').length ?? 0;
  return Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, column.header.length + 2, widest + 2, format + 2));
}

interface BufferedStream {
  pipes?: { _writableState?: { length: number }; once(event: 'drain', fn: () => void): void }[];
}

/**
 * exceljs writes rows into the zip entry without looking at its buffer (its StreamBuf ignores
 * backpressure), so with a fast producer the whole sheet piles up in memory (reference §9:
 * 536 MB at a million rows). We look at the entry's buffer and wait for it to drain.
 */
async function zipCaughtUp(worksheet: ExcelJS.Worksheet): Promise<void> {
  const stream = (worksheet as unknown as { stream: BufferedStream }).stream;
  const pipe = stream.pipes?.[0];
  const buffered = pipe?._writableState?.length;
  if (pipe && buffered !== undefined && buffered > MAX_BUFFERED) {
    await new Promise<void>((resolve) => pipe.once('drain', resolve));
  } else {
    // Let the zip and the file stream run even when the buffer is small.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a rename or an unlink in the folder durable (the entry itself lives in the folder). */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Appends to a small file and flushes it (created when missing). */
export async function appendDurably(path: string, content: string): Promise<void> {
  const handle = await open(path, 'a');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a small file atomically (temp, fsync, rename, fsync folder). */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await syncDirectory(dirname(path));
}
