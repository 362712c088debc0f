import { FatalError } from '../../src/sdk/index.js';
import {
  compileGetter,
  compileTemplate,
  parsePath,
  type Message,
  type RenderFn,
  type TemplateContext,
} from '../../src/sdk/index.js';
import { escapeName, nameProblem, quoteString, stringProblem, type Dialect } from './line-protocol.js';
import { writePrecision, type FieldType, type InfluxdbSinkConfig, type Precision } from './spec.js';

/** Why a message can not become a point; the message is dead-lettered with this text. */
export class PointError extends FatalError {}

export interface MappedPoint {
  /** The point in line protocol, timestamp in the write precision. */
  line: string;
  /** The measurement as InfluxDB reports it in errors (unescaped). */
  measurement: string;
  /** The field values by name (converted), to find the points named in a type-conflict error. */
  fields: Readonly<Record<string, unknown>>;
  /** The declared field types (undefined: every field is a float). */
  types: Readonly<Record<string, FieldType>> | undefined;
}

interface FieldReader {
  name: string;
  /** The name as it appears in line protocol. */
  key: string;
  type: FieldType;
  read: (m: Message) => unknown;
}

type Reader = (m: Message, ctx?: TemplateContext) => unknown;

const MAX_DEPTH = 8;
/** InfluxDB 1.x refuses a field called `time`; a device's own `time` value is not a measurement. */
const SKIPPED_DEFAULT_KEYS = new Set(['time']);

/** A field value in line protocol: floats as JavaScript prints them, integers with `i`. */
function formatField(value: unknown, type: FieldType): string {
  switch (type) {
    case 'float':
      return String(value);
    case 'integer':
      return `${value as number}i`;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return quoteString(value as string);
  }
}

/** `fields` of a point mapped without them (see `map`). */
const NO_FIELDS: Readonly<Record<string, unknown>> = Object.freeze({});

/** Escaped field names of the default mapping (payload keys repeat from message to message). */
const KEY_CACHE_LIMIT = 10_000;

/** Turns messages into points as configured (README "Mapping rules"). Compiled once per sink. */
export class PointMapper {
  private readonly measurement: RenderFn;
  /** Escaped key, reader; sorted by name (InfluxDB's own order: it parses faster). */
  private readonly tags: [key: string, name: string, read: Reader][];
  private readonly defaultKeys = new Map<string, string>();
  private readonly fields: FieldReader[] | undefined;
  /** Declared field types (undefined: every field is a float). */
  readonly types: Readonly<Record<string, FieldType>> | undefined;
  private readonly timestamp: Reader | undefined;
  private readonly timestampUnit: Precision;
  private readonly precision: Precision;
  private readonly templateContext: TemplateContext;
  private lastMeasurement: string | undefined;
  private lastEscaped = '';

  private readonly dialect: Dialect;
  private readonly maxStringBytes: number;
  /** The flattened payload name the default mapping leaves out (it is the timestamp). */
  private readonly timestampName: string | undefined;

  constructor(
    config: InfluxdbSinkConfig,
    pipeline: string,
    dialect: Dialect = config.version === 3 ? 'rust' : 'go',
    maxStringBytes = config.version === 3 ? 1024 * 1024 : 64 * 1024,
  ) {
    this.dialect = dialect;
    this.maxStringBytes = maxStringBytes;
    this.measurement = compileTemplate(config.measurement);
    this.tags = Object.entries(config.tags)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, source]) => [
        this.escapeConfigured(name, 'tag key'),
        name,
        source.includes('{{') ? compileTemplate(source) : compileGetter(source),
      ]);
    if (config.fields) {
      this.fields = Object.entries(config.fields).map(([name, spec]) => {
        const type = typeof spec === 'string' ? spec : (spec.type ?? 'float');
        const from = typeof spec === 'string' ? undefined : spec.from;
        return {
          name,
          key: this.escapeConfigured(name, 'field key'),
          type,
          read: compileGetter(from ?? `payload["${name.replace(/"/g, '')}"]`),
        };
      });
      this.types = Object.fromEntries(this.fields.map((f) => [f.name, f.type]));
    }
    this.timestamp = config.timestamp ? compileGetter(config.timestamp) : undefined;
    this.timestampName =
      config.timestamp && !config.fields && !config.timestampField
        ? payloadFieldName(config.timestamp)
        : undefined;
    this.timestampUnit = config.timestampUnit;
    this.precision = writePrecision(config);
    this.templateContext = { pipeline };
  }

  /** Names from the config are checked by the config schema; this is the last guard. */
  private escapeConfigured(name: string, element: 'tag key' | 'field key'): string {
    const problem = nameProblem(name, element, this.dialect);
    if (problem) throw new PointError(`${element} "${name}": ${problem}`);
    return escapeName(name, element, this.dialect);
  }

  /**
   * `withFields: false` leaves `fields` empty when the fields are configured (the sink's hot path:
   * the object is only needed to find the points of a type conflict, and is rebuilt then).
   */
  map(message: Message, withFields = true): MappedPoint {
    const measurement = this.measurement(message, this.templateContext);
    if (measurement !== this.lastMeasurement) {
      if (measurement === '') throw new PointError('the measurement template rendered an empty name');
      const problem = nameProblem(measurement, 'measurement', this.dialect);
      if (problem) throw new PointError(`measurement "${shown(measurement)}": ${problem}`);
      this.lastMeasurement = measurement;
      this.lastEscaped = escapeName(measurement, 'measurement', this.dialect);
    }
    let line = this.lastEscaped;
    for (const [key, name, read] of this.tags) {
      const value = read(message, this.templateContext);
      if (value === undefined || value === null) continue;
      const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
      // Line protocol has no empty tag value: the tag is left out, as InfluxDB documents.
      if (text === '') continue;
      const problem = nameProblem(text, 'tag value', this.dialect);
      if (problem) throw new PointError(`tag "${name}": value "${shown(text)}": ${problem}`);
      line += `,${key}=${escapeName(text, 'tag value', this.dialect)}`;
    }
    let fieldText = '';
    let fields: Record<string, unknown>;
    if (this.fields) {
      fields = withFields ? {} : (NO_FIELDS as Record<string, unknown>);
      for (const f of this.fields) {
        const raw = f.read(message);
        if (raw === undefined || raw === null) continue;
        const value = convert(raw, f.type, f.name);
        if (f.type === 'string') {
          const problem = stringProblem(value as string, this.maxStringBytes);
          if (problem) throw new PointError(`field "${f.name}": ${problem}`);
        }
        if (withFields) fields[f.name] = value;
        fieldText += `${fieldText === '' ? '' : ','}${f.key}=${formatField(value, f.type)}`;
      }
    } else {
      fields = readNumeric(message.payload, this.timestampName);
      for (const name in fields)
        fieldText += `${fieldText === '' ? '' : ','}${this.defaultKey(name)}=${fields[name]}`;
    }
    if (fieldText === '') {
      throw new PointError(
        this.fields
          ? `no field: none of ${this.fields.map((f) => `"${f.name}"`).join(', ')} has a value`
          : 'no field: the payload has no finite number',
      );
    }
    return { line: `${line} ${fieldText} ${this.time(message)}`, measurement, fields, types: this.types };
  }

  private defaultKey(name: string): string {
    let key = this.defaultKeys.get(name);
    if (key === undefined) {
      const problem = nameProblem(name, 'field key', this.dialect);
      if (problem) throw new PointError(`field "${shown(name)}": ${problem}`);
      key = escapeName(name, 'field key', this.dialect);
      if (this.defaultKeys.size < KEY_CACHE_LIMIT) this.defaultKeys.set(name, key);
    }
    return key;
  }

  /** The timestamp as an integer string in the write precision. */
  private time(message: Message): string {
    if (!this.timestamp) return messageTime(message.time, this.precision);
    const value = this.timestamp(message);
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new PointError(`the timestamp is ${value}`);
      return toPrecision(value, this.timestampUnit, this.precision);
    }
    if (typeof value === 'string' && value.trim() !== '') {
      if (INTEGER_TEXT.test(value.trim()))
        return integerTextToPrecision(value.trim(), this.timestampUnit, this.precision);
      const n = Number(value);
      if (Number.isFinite(n)) return toPrecision(n, this.timestampUnit, this.precision);
      const iso = isoToPrecision(value, this.precision);
      if (iso !== undefined) return iso;
      throw new PointError(`the timestamp "${value.slice(0, 64)}" is neither a number nor an ISO 8601 time`);
    }
    if (value instanceof Date && Number.isFinite(value.getTime()))
      return toPrecision(value.getTime(), 'ms', this.precision);
    throw new PointError(
      value === undefined || value === null
        ? 'the timestamp is missing'
        : 'the timestamp is not a number or a text',
    );
  }
}

/**
 * The message time (ms with a microsecond fraction, see the SDK's receptionTime) as an integer in
 * `precision`, exactly: whole milliseconds and the microseconds are taken apart, so no float error
 * of scaling (1700000000123.056 * 1e6 is 1700000000123055900) moves a point off its microsecond.
 */
export function messageTime(time: number, precision: Precision): string {
  if (!Number.isFinite(time)) throw new PointError('the message time is not a valid time');
  const ms = Math.floor(time);
  const micros = ms * 1000 + Math.round((time - ms) * 1000);
  if (!Number.isSafeInteger(micros)) throw new PointError(`the message time ${time} is out of range`);
  switch (precision) {
    case 's':
      return String(Math.floor(micros / 1_000_000));
    case 'ms':
      return String(Math.floor(micros / 1000));
    case 'us':
      return String(micros);
    case 'ns':
      return micros === 0 ? '0' : `${micros}000`;
  }
}

const DIGITS: Record<Precision, number> = { s: 0, ms: 3, us: 6, ns: 9 };

/**
 * A time in `unit` as an integer in `precision` (truncated), without the float errors of scaling
 * (0.007 * 1000 is 7.000000000000001, 0.009 * 1000 * 1000 is 8999.999999999998): whole numbers are
 * scaled exactly (digits appended past 2^53), fractions rounded when within 1e-6 of a whole number.
 */
export function toPrecision(value: number, unit: Precision, precision: Precision): string {
  const k = DIGITS[precision] - DIGITS[unit];
  if (k === 0) return String(Math.floor(value));
  if (k < 0) return String(Math.floor(value / 10 ** -k));
  const scaled = value * 10 ** k;
  if (Number.isInteger(value))
    return Number.isSafeInteger(scaled) || value === 0 ? String(scaled) : `${value}${'0'.repeat(k)}`;
  const near = Math.round(scaled);
  return String(Math.abs(scaled - near) < 1e-6 ? near : Math.floor(scaled));
}

/** An ISO 8601 time with a fraction of a second (JavaScript's Date keeps only milliseconds). */
const ISO_FRACTION = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})[.,](\d+)(.*)$/;

/**
 * An ISO 8601 text as an integer in `precision` (truncated), keeping the fraction of a second to
 * the nanosecond; undefined when the text is not a time.
 */
export function isoToPrecision(text: string, precision: Precision): string | undefined {
  const m = ISO_FRACTION.exec(text.trim());
  if (!m) {
    const ms = Date.parse(text);
    return Number.isFinite(ms) ? toPrecision(ms, 'ms', precision) : undefined;
  }
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (!Number.isFinite(seconds)) return undefined;
  const ns = BigInt(seconds) * 1_000_000n + BigInt(m[2]!.padEnd(9, '0').slice(0, 9));
  const unit = 10n ** BigInt(9 - DIGITS[precision]);
  // Floor, also before 1970.
  const q = ns / unit;
  return String(ns < 0n && q * unit !== ns ? q - 1n : q);
}

const INTEGER_TEXT = /^[+-]?\d+$/;

/**
 * An integer text in `unit` as an integer in `precision` (floored), exactly: a nanosecond time has 19
 * digits, more than a JavaScript number keeps (1700000000123456789 would become ...800).
 */
export function integerTextToPrecision(text: string, unit: Precision, precision: Precision): string {
  const value = BigInt(text);
  const k = DIGITS[precision] - DIGITS[unit];
  if (k >= 0) return String(value * 10n ** BigInt(k));
  const d = 10n ** BigInt(-k);
  const q = value / d;
  return String(value < 0n && q * d !== value ? q - 1n : q);
}

/** Converts a value to the declared type, or says why it can not be. */
export function convert(value: unknown, type: FieldType, name: string): number | boolean | string {
  const shown = (): string =>
    typeof value === 'string'
      ? `"${value.slice(0, 64)}"`
      : typeof value === 'object'
        ? 'an object'
        : String(value);
  switch (type) {
    case 'float': {
      const n =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && value.trim() !== ''
            ? Number(value)
            : NaN;
      if (!Number.isFinite(n))
        throw new PointError(`field "${name}": expected a finite number, got ${shown()}`);
      return n;
    }
    case 'integer': {
      const n =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && INTEGER_TEXT.test(value.trim())
            ? Number(value)
            : NaN;
      if (!Number.isSafeInteger(n))
        throw new PointError(`field "${name}": expected an integer (at most 2^53), got ${shown()}`);
      return n;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'false') return value === 'true';
      throw new PointError(`field "${name}": expected true or false, got ${shown()}`);
    case 'string':
      if (typeof value === 'string') return value;
      if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
      return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
}

/** Every finite number of the payload as a float field; nested objects flattened with dots. */
export function readNumeric(payload: unknown, skip?: string): Record<string, number> {
  const fields: Record<string, number> = {};
  if (typeof payload === 'number') {
    if (!Number.isFinite(payload)) throw new PointError(`the payload is ${payload}`);
    fields.value = payload;
    return fields;
  }
  walk(payload, '', 0, fields, skip);
  return fields;
}

function walk(
  value: unknown,
  prefix: string,
  depth: number,
  out: Record<string, number>,
  skip: string | undefined,
): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array)
    return;
  for (const key in value) {
    const v = (value as Record<string, unknown>)[key];
    if (typeof v === 'number') {
      if (prefix === '' && SKIPPED_DEFAULT_KEYS.has(key)) continue;
      const name = prefix + key;
      if (name === skip) continue;
      if (!Number.isFinite(v))
        throw new PointError(`field "${name}" is ${v}: InfluxDB stores only finite numbers`);
      if (key === '') throw new PointError(`field name "${name}" has an empty part`);
      if (name in out)
        throw new PointError(`field "${name}" appears twice in the payload (as a key with dots and nested)`);
      out[name] = v;
    } else if (typeof v === 'object' && v !== null && depth < MAX_DEPTH) {
      walk(v, `${prefix}${key}.`, depth + 1, out, skip);
    }
  }
}

/** `payload.a.b` -> `a.b`, the name the default mapping gives that value; undefined for other expressions. */
function payloadFieldName(expression: string): string | undefined {
  try {
    const [head, ...rest] = parsePath(expression.trim());
    if (head !== 'payload' || rest.length === 0 || rest.some((s) => typeof s !== 'string')) return undefined;
    return rest.join('.');
  } catch {
    return undefined;
  }
}

/** A text in an error message: cut, with control characters visible. */
function shown(text: string): string {
  const cut = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  return JSON.stringify(cut).slice(1, -1);
}
