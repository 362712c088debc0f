import { errorMessage, type ComponentCounter, type Logger, type Message } from '../../src/sdk/index.js';
import {
  InferredColumns,
  compileColumns,
  payloadExpression,
  scalarPaths,
  toRow,
  type CellValue,
  type Column,
} from '../../src/sdk/columns.js';
import { cellBytes } from './cells.js';
import { MAX_CHUNK_BYTES, MAX_REQUEST_BYTES, type LaidOutRow } from './chunks.js';
import type { ColumnSpec } from './state.js';

/** Google refuses a cell of more than 50,000 characters (the whole request would fail). */
const MAX_CELL_CHARS = 50_000;
/** Google's column limit per tab (`ZZZ`). */
const MAX_COLUMNS = 18_278;
/** The value expression that marks the batch id column in the shared header. */
const BATCH_ID_VALUE = '@batch';

/** Fails the message at position `k` of a group, for good. */
export type FailMessage = (k: number, message: string) => void;

/**
 * Lays out messages as rows of a tab's shared header: the columns this sink brings (configured, or
 * inferred from the payloads), the row cells with their number formats, and each message failing
 * alone when it can never be written.
 */
export class RowLayout {
  private readonly compiled = new Map<string, Column | null>();

  constructor(
    private readonly configured: Column[] | undefined,
    private readonly batchIdColumn: string,
    private readonly cellErrors: ComponentCounter,
    private readonly logger: Logger,
  ) {}

  /**
   * The columns the messages need that the header lacks (the batch id column included). Past
   * Google's column limit none are added: the messages that bring new columns fail (`usable` loses them).
   */
  missingColumns(
    family: string,
    header: ColumnSpec[],
    messages: Message[],
    usable: Set<number>,
    fail: FailMessage,
  ): ColumnSpec[] {
    const marker: ColumnSpec = { header: this.batchIdColumn, value: BATCH_ID_VALUE };
    const own = this.configured
      ? this.configured.map((c) => ({ header: c.header, value: c.value }))
      : this.inferColumns(messages, usable, fail);
    const known = new Set(header.map((c) => c.header));
    const missing = [...own, marker].filter((c) => !known.has(c.header));
    if (header.length + missing.length <= MAX_COLUMNS) return missing;
    // Only the messages that bring new columns can not be written.
    const newHeaders = new Set(missing.map((c) => c.header));
    messages.forEach((m, k) => {
      if (!usable.has(k)) return;
      const brings = this.configured ? [...newHeaders] : payloadPaths(m).filter((p) => newHeaders.has(p));
      if (brings.length === 0) return;
      usable.delete(k);
      fail(
        k,
        `the tab "${family}" would need more than the ${MAX_COLUMNS} columns Google allows (new field "${brings[0]}")`,
      );
    });
    return [];
  }

  /** One row per usable message, as wide as the header, and the number format of each column. */
  layOut(
    header: ColumnSpec[],
    messages: Message[],
    usable: Set<number>,
    fail: FailMessage,
  ): { rows: LaidOutRow[]; formats: (string | undefined)[]; markerAt: number | undefined } {
    const at = new Map(header.map((c, i) => [c.header, i]));
    const placed: { column: Column; at: number }[] = [];
    if (this.configured)
      for (const c of this.configured) placed.push({ column: c, at: at.get(c.header) ?? -1 });
    else
      header.forEach((spec, i) => {
        const column = spec.header === this.batchIdColumn ? null : this.compile(spec);
        if (column) placed.push({ column, at: i });
      });
    const formats: (string | undefined)[] = new Array<string | undefined>(header.length).fill(undefined);
    for (const p of placed) if (p.at >= 0 && p.column.format) formats[p.at] ??= p.column.format;

    const rows: LaidOutRow[] = [];
    messages.forEach((message, k) => {
      if (!usable.has(k)) return;
      let row: CellValue[];
      let bytes = 40;
      try {
        const { cells, errors } = toRow(
          placed.map((p) => p.column),
          message,
        );
        row = new Array<CellValue>(header.length).fill(null);
        for (let j = 0; j < cells.length; j++) {
          const cell = cells[j] ?? null;
          const to = placed[j]?.at ?? -1;
          if (to < 0 || cell === null) continue;
          if (typeof cell === 'string' && cell.length > MAX_CELL_CHARS)
            return fail(
              k,
              `a cell of ${cell.length} characters exceeds the ${MAX_CELL_CHARS} characters Google Sheets allows in one cell`,
            );
          row[to] = cell;
          bytes += cellBytes(cell);
        }
        if (errors.length > 0) {
          this.cellErrors.inc(undefined, errors.length);
          this.logger.debug({ id: message.id, errors }, 'values left empty');
        }
      } catch (error) {
        return fail(k, `the message can not be laid out as a row: ${errorMessage(error)}`);
      }
      if (bytes > MAX_CHUNK_BYTES)
        return fail(
          k,
          `the row takes about ${bytes} bytes, more than fits in one request (Google recommends at most ${MAX_REQUEST_BYTES} bytes)`,
        );
      rows.push({ row, id: message.id, bytes });
    });
    return { rows, formats, markerAt: at.get(this.batchIdColumn) };
  }

  /** The shared header behind a header row read back from a tab. */
  headerOf(cells: string[]): ColumnSpec[] {
    const seen = new Set<string>();
    return cells
      .filter((h) => h !== '')
      .map((h) => {
        const value =
          h === this.batchIdColumn
            ? BATCH_ID_VALUE
            : h === 'time'
              ? 'time'
              : payloadExpression(fieldOf(h, seen));
        seen.add(h);
        return { header: h, value };
      });
  }

  /**
   * Columns inferred from the messages (time, then every scalar payload field). A payload field
   * whose column can not be made (a key no column path can name) fails its message, every time.
   */
  private inferColumns(messages: Message[], usable: Set<number>, fail: FailMessage): ColumnSpec[] {
    const seen = new InferredColumns();
    const bad = new Map<string, string>();
    messages.forEach((message, k) => {
      if (bad.size > 0) {
        const path = payloadPaths(message).find((p) => bad.has(p));
        if (path !== undefined) {
          usable.delete(k);
          return fail(k, bad.get(path)!);
        }
      }
      try {
        seen.observe([message]);
      } catch (error) {
        usable.delete(k);
        const reason = `payload field can not become a column: ${errorMessage(error)}`;
        for (const path of payloadPaths(message))
          if (this.compile({ header: path, value: payloadExpression(path) }) === null) bad.set(path, reason);
        fail(k, reason);
      }
    });
    return seen.columns
      .filter((c) => c.header !== this.batchIdColumn)
      .map((c) => ({ header: c.header, value: c.value }));
  }

  /** A column of the shared header; null when its value expression does not compile (left empty). */
  private compile(spec: ColumnSpec): Column | null {
    const key = `${spec.header}\u0000${spec.value}`;
    let column = this.compiled.get(key);
    if (column === undefined) {
      if (this.compiled.size > 2 * MAX_COLUMNS) this.compiled.clear();
      try {
        column = compileColumns([spec])[0] ?? null;
      } catch {
        column = null;
      }
      this.compiled.set(key, column);
    }
    return column;
  }
}

/** The dotted paths of the scalar payload fields of a message (what inferred columns are named). */
function payloadPaths(message: Message): string[] {
  const p = message.payload;
  return p !== null && typeof p === 'object' && !(p instanceof Uint8Array) ? scalarPaths(p) : ['value'];
}

/**
 * The payload path behind a header read back from the tab. uniqueHeader() names a field that
 * collides with an earlier column `name (2)`, `name (3)`...: such a header reads the field `name`.
 */
function fieldOf(header: string, earlier: ReadonlySet<string>): string {
  const m = / \((\d+)\)$/.exec(header);
  if (m && Number(m[1]) >= 2) {
    const base = header.slice(0, m.index);
    if (earlier.has(base)) return base;
  }
  return header;
}
