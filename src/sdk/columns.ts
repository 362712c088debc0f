import { z } from 'zod';
import { FatalError } from './errors.js';
import type { Message } from './message.js';
import { compileGetter, parsePath, TemplateError } from './template.js';

/**
 * The column mapping shared by the spreadsheet sinks (Excel, Google Sheets): which values of a
 * message become which cells, with which type. One place, so both sinks read messages the same way.
 */

export const COLUMN_TYPES = ['number', 'integer', 'text', 'boolean', 'datetime'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

export const columnConfig = z.strictObject({
  header: z.string().min(1).describe('Column title, written in the header row.'),
  value: z
    .string()
    .min(1)
    .describe(
      'Where the value comes from: `payload.temperature`, `payload.device.id`, `meta.mqtt.topic`, `topic[1]`, `time` or `id` (the names of the `{{ }}` templates).',
    ),
  type: z
    .enum(COLUMN_TYPES)
    .optional()
    .describe(
      'Cell type. Default: `datetime` for `time`, otherwise taken from the value (number, boolean or text). A value that can not be converted leaves the cell empty and is counted.',
    ),
  format: z
    .string()
    .optional()
    .describe('Number format shown by the spreadsheet, e.g. `0.00`, `#,##0`, `yyyy-mm-dd hh:mm:ss`.'),
});
export type ColumnConfig = z.infer<typeof columnConfig>;

export const columnsConfig = z
  .array(columnConfig)
  .min(1)
  .describe(
    'The columns, in order. Default: the message time, then every scalar field of the payload (nested objects flattened with dots), in the order they are first seen.',
  );

export type CellValue = number | string | boolean | Date | null;

export interface Column {
  header: string;
  /** The value expression, as configured or inferred (`payload.temperature`). */
  value: string;
  type: ColumnType | undefined;
  format: string | undefined;
  read(message: Message): unknown;
}

export const DEFAULT_DATETIME_FORMAT = 'yyyy-mm-dd hh:mm:ss';

/**
 * The header to use for `wanted` when the headers in `taken` are already used: `wanted` itself, or
 * `wanted (2)`, `wanted (3)`... (exact comparison). Spreadsheet headers are unique, so a reader that
 * maps columns by header (a filter, pandas, a person) never mixes two fields up.
 */
export function uniqueHeader(wanted: string, taken: ReadonlySet<string>): string {
  if (!taken.has(wanted)) return wanted;
  let n = 2;
  while (taken.has(`${wanted} (${n})`)) n++;
  return `${wanted} (${n})`;
}

/**
 * Compiles configured columns; a bad value expression throws with the column named. Headers are
 * made unique (see uniqueHeader).
 */
export function compileColumns(configs: readonly ColumnConfig[]): Column[] {
  const headers = new Set<string>();
  return configs.map((c, i) => {
    let read: Column['read'];
    try {
      read = compileGetter(c.value);
    } catch (error) {
      const why = error instanceof TemplateError ? error.message : String(error);
      throw new TemplateError(`columns[${i}] (${c.header}): ${why}`);
    }
    const type = c.type ?? (c.value.trim() === 'time' ? 'datetime' : undefined);
    const format = c.format ?? (type === 'datetime' ? DEFAULT_DATETIME_FORMAT : undefined);
    const header = uniqueHeader(c.header, headers);
    headers.add(header);
    return { header, value: c.value, type, format, read };
  });
}

const MAX_DEPTH = 8;

/** The keys leading to each scalar field of a payload (nested objects flattened, arrays kept whole as text). */
export function scalarFields(payload: unknown): string[][] {
  const out: string[][] = [];
  const walk = (value: unknown, keys: string[], depth: number): void => {
    if (value === null || value === undefined) return;
    if (
      typeof value === 'object' &&
      !Array.isArray(value) &&
      !(value instanceof Date) &&
      !(value instanceof Uint8Array)
    ) {
      if (depth >= MAX_DEPTH) return;
      for (const [k, v] of Object.entries(value)) walk(v, [...keys, k], depth + 1);
      return;
    }
    if (keys.length > 0) out.push(keys);
  };
  walk(payload, [], 0);
  return out;
}

/** Dotted paths of the scalar fields of a payload (the headers of inferred columns). */
export function scalarPaths(payload: unknown): string[] {
  return scalarFields(payload).map((keys) => keys.join('.'));
}

const SIMPLE_KEY = /^[A-Za-z_$][\w$-]*$/;

/**
 * The value expression of a payload field given by its keys: simple names with dots, others in
 * brackets with whichever quote the key does not hold. Undefined for a key that holds both quote
 * characters: no expression can name it.
 */
export function fieldExpression(keys: readonly string[]): string | undefined {
  let expression = 'payload';
  for (const k of keys) {
    if (SIMPLE_KEY.test(k)) expression += `.${k}`;
    else if (!k.includes('"')) expression += `["${k}"]`;
    else if (!k.includes("'")) expression += `['${k}']`;
    else return undefined;
  }
  return expression;
}

/** The value expression of a dotted payload path (each dot separates two keys). */
export function payloadExpression(path: string): string {
  return fieldExpression(path.split('.')) ?? `payload["${path}"]`;
}

/** A payload field whose name no column path can hold: the message that has it fails alone. */
export class ColumnPathError extends FatalError {
  constructor(
    readonly messageId: string,
    readonly field: string,
  ) {
    super(
      `payload field \`${field}\` can not be a column: its name holds both ' and " (rename the field in a transform)`,
    );
  }
}

/**
 * Columns inferred from the messages when none are configured: `time` first, then every scalar
 * payload field in first-seen order. Call it again with more messages and the earlier columns keep
 * their place; new fields are added at the end (a header is extended, never reordered). Headers are
 * unique: a field named like an existing column (`time`) is headed `time (2)`.
 */
export class InferredColumns {
  /** Value expressions already in a column. */
  private readonly known = new Set<string>();
  private readonly headers = new Set<string>(['time']);
  readonly columns: Column[] = compileColumns([{ header: 'time', value: 'time' }]);

  /**
   * `restored`: the columns inferred earlier (as a sink stored them, `time` first), so that after
   * a restart the header keeps its order and grows from there.
   */
  constructor(restored: readonly ColumnConfig[] = []) {
    for (const c of restored.slice(1)) {
      this.known.add(canonicalExpression(c.value));
      this.headers.add(c.header);
      this.columns.push(...compileColumns([c]));
    }
  }

  /**
   * Adds the columns of fields seen for the first time; returns how many were added. A message with
   * a field no column can name throws ColumnPathError (a FatalError) before any of its fields is
   * added: give messages one at a time and fail only that one.
   */
  observe(messages: readonly Message[]): number {
    let added = 0;
    for (const m of messages) {
      const scalar = m.payload === null || typeof m.payload !== 'object' || m.payload instanceof Uint8Array;
      const fresh: { header: string; value: string }[] = [];
      for (const keys of scalar ? [['value']] : scalarFields(m.payload)) {
        const value = scalar ? 'payload' : fieldExpression(keys);
        if (value === undefined) throw new ColumnPathError(m.id, keys.join('.'));
        if (this.known.has(value) || fresh.some((f) => f.value === value)) continue;
        fresh.push({ header: keys.join('.'), value });
      }
      for (const field of fresh) {
        const header = uniqueHeader(field.header, this.headers);
        this.known.add(field.value);
        this.headers.add(header);
        this.columns.push(...compileColumns([{ header, value: field.value }]));
        added++;
      }
    }
    return added;
  }
}

/** The same field gives the same expression, however it was quoted when stored. */
function canonicalExpression(value: string): string {
  try {
    const [head, ...rest] = parsePath(value.trim());
    if (head !== 'payload' || rest.some((k) => typeof k !== 'string')) return value;
    return fieldExpression(rest as string[]) ?? value;
  } catch {
    return value;
  }
}

export type CellResult = { value: CellValue } | { value: null; error: string };

/** Converts a raw value to the column's type. Missing values give an empty cell, not an error. */
export function toCell(column: Column, raw: unknown): CellResult {
  if (raw === undefined || raw === null || raw === '') return { value: null };
  const fail = (what: string): CellResult => ({
    value: null,
    error: `column "${column.header}": ${what}`,
  });
  switch (column.type) {
    case 'number':
    case 'integer': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw.trim()) : Number.NaN;
      if (typeof raw === 'boolean') return { value: raw ? 1 : 0 };
      if (!Number.isFinite(n)) return fail(`${describe(raw)} is not a finite number`);
      return { value: column.type === 'integer' ? Math.round(n) : n };
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return { value: raw };
      if (raw === 1 || raw === 'true' || raw === '1') return { value: true };
      if (raw === 0 || raw === 'false' || raw === '0') return { value: false };
      return fail(`${describe(raw)} is not a boolean`);
    }
    case 'datetime': {
      const d =
        raw instanceof Date
          ? raw
          : typeof raw === 'number' || typeof raw === 'string'
            ? new Date(typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw)
            : undefined;
      if (!d || Number.isNaN(d.getTime())) return fail(`${describe(raw)} is not a date`);
      return { value: d };
    }
    case 'text':
      return { value: typeof raw === 'string' ? raw : stringify(raw) };
    default: {
      if (typeof raw === 'number')
        return Number.isFinite(raw) ? { value: raw } : fail(`${raw} is not finite`);
      if (typeof raw === 'boolean' || typeof raw === 'string') return { value: raw };
      if (raw instanceof Date) return { value: raw };
      return { value: stringify(raw) };
    }
  }
}

/** The cells of one message, in column order, with the conversion problems found. */
export function toRow(
  columns: readonly Column[],
  message: Message,
): { cells: CellValue[]; errors: string[] } {
  const cells: CellValue[] = [];
  const errors: string[] = [];
  for (const c of columns) {
    const r = toCell(c, c.read(message));
    cells.push(r.value);
    if ('error' in r) errors.push(r.error);
  }
  return { cells, errors };
}

/**
 * Text that a spreadsheet could take for a formula: starts with `=`, `+`, `-`, `@`, a tab or a
 * carriage return (OWASP's CSV-injection list). Exported data must never become code.
 */
export function isFormulaLike(text: string): boolean {
  return /^[=+\-@\t\r]/.test(text);
}

/**
 * For inputs that parse what is typed (Sheets' USER_ENTERED): a leading apostrophe makes the
 * spreadsheet store the text as it is, and the apostrophe itself is not shown.
 */
export function escapeFormula(text: string): string {
  return isFormulaLike(text) ? `'${text}` : text;
}

function stringify(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function describe(value: unknown): string {
  const s = typeof value === 'string' ? JSON.stringify(value) : stringify(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
