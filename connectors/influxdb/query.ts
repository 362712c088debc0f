import { createHash } from 'node:crypto';
import { getManyValues, isMany, none } from 'stream-chain/defs.js';
import { jsonParser, type Token } from 'stream-json/core/parser.js';
import { FatalError, RetryableError } from '../../src/sdk/index.js';

/**
 * The answer of InfluxDB 1.x's `/query` with `chunked=true&epoch=ns`, decoded as it arrives: one
 * JSON object per chunk, `{"results":[{"statement_id":0,"series":[{"name","tags","columns","values",
 * "partial"}],"partial"}]}`, a series cut between chunks continuing in the next with the same name
 * and tags. A streaming tokenizer (stream-json) reads it, so the work per call is bounded by the
 * bytes given (hostile strings or huge series never hold the event loop) and no chunk is held
 * whole; numbers come as their text, so int64 values and nanosecond times stay exact.
 */

/** A row of a series: `fields` by column name (without `time`), its time in nanoseconds. */
export interface QueryRow {
  statement: number;
  measurement: string;
  tags: Readonly<Record<string, string>>;
  /** Stable per (statement, measurement, tags): a short hash, for message ids. */
  seriesKey: string;
  /** Index of the row in its series, counted across chunks. */
  index: number;
  /** The `time` column in nanoseconds since the epoch, when the query returns one. */
  timeNs: bigint | undefined;
  fields: Record<string, unknown>;
}

/** InfluxDB answered with an error for a statement, or for the whole query: asked again, it says the same. */
export class QueryAnswerError extends FatalError {
  constructor(
    message: string,
    readonly statement?: number,
  ) {
    super(message);
  }
}

/** The answer is not the JSON InfluxDB sends (a proxy's page, a cut answer): the next attempt may read. */
export class MalformedAnswerError extends RetryableError {}

/**
 * A number of the answer: a number when it has a fraction or an exponent (a float) or is an integer
 * within ±2^53; else its exact decimal text (an int64 past what a double holds, as OPC UA Int64
 * values are). A float that InfluxDB prints as a large integer stays text too: it reads back as the
 * same double.
 */
export function jsonNumber(text: string): number | string {
  const n = Number(text);
  return Number.isSafeInteger(n) || !/^-?\d+$/.test(text) ? n : text;
}

type Role =
  'root' | 'results' | 'result' | 'seriesList' | 'series' | 'tags' | 'columns' | 'values' | 'row' | 'skip';

interface SeriesState {
  statement: number;
  name: string;
  tags: Record<string, string>;
  columns: string[];
  /** Position of the `time` column, -1 without one. */
  timeColumn: number;
  key: string;
  index: number;
  partial: boolean;
}

const MAX_DEPTH = 64;

/** Sets a key named by the data as an own property, `__proto__` included (never the prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

export class QueryDecoder {
  private readonly parse = jsonParser({ packValues: true, streamValues: false, jsonStreaming: true });
  private readonly stack: Role[] = [];
  /** The key whose value comes next, per object frame (top of stack). */
  private key: string | undefined;
  private statement = 0;
  private statementError: string | undefined;
  private series: SeriesState | undefined;
  /** The previous series of the statement, to continue its row count when it was cut (`partial`). */
  private previous: SeriesState | undefined;
  private row: unknown[] | undefined;
  private skipDepth = 0;
  private sawObject = false;

  constructor(private readonly onRow: (row: QueryRow) => void) {}

  /** Decodes the next piece of the answer's text; calls onRow for each complete row. */
  write(text: string): void {
    if (text === '') return;
    this.tokens(this.parseSafely(text));
  }

  /** The end of the answer: throws when it was cut short. */
  end(): void {
    this.tokens(this.parseSafely(none));
    if (this.stack.length > 0) throw new MalformedAnswerError('the answer ended in the middle of a result');
    if (!this.sawObject) throw new MalformedAnswerError('the answer was empty');
  }

  private parseSafely(input: string | typeof none): Token[] {
    let out: ReturnType<typeof this.parse>;
    try {
      out = this.parse(input as string); // none: the end of the input
    } catch (error) {
      throw new MalformedAnswerError(`the answer is not JSON: ${(error as Error).message}`);
    }
    return isMany(out) ? (getManyValues(out) as Token[]) : [];
  }

  private tokens(tokens: Token[]): void {
    for (const t of tokens) this.token(t);
  }

  private top(): Role | undefined {
    return this.stack[this.stack.length - 1];
  }

  private token(t: Token): void {
    if (this.skipDepth > 0) {
      if (t.name === 'startObject' || t.name === 'startArray') this.skipDepth++;
      else if (t.name === 'endObject' || t.name === 'endArray') this.skipDepth--;
      return;
    }
    switch (t.name) {
      case 'keyValue':
        this.key = t.value;
        return;
      case 'startObject':
      case 'startArray':
        return this.open(t.name === 'startObject' ? 'object' : 'array');
      case 'endObject':
      case 'endArray':
        return this.close();
      case 'stringValue':
      case 'numberValue':
      case 'trueValue':
      case 'falseValue':
      case 'nullValue':
        return this.scalar(t.name, t.value);
      default:
        return;
    }
  }

  private open(kind: 'object' | 'array'): void {
    if (this.stack.length >= MAX_DEPTH) throw new MalformedAnswerError('the answer nests too deep');
    const top = this.top();
    const key = this.key;
    this.key = undefined;
    let role: Role = 'skip';
    if (top === undefined && kind === 'object') {
      role = 'root';
      this.sawObject = true;
    } else if (top === 'root' && key === 'results' && kind === 'array') role = 'results';
    else if (top === 'results' && kind === 'object') {
      role = 'result';
      this.statementError = undefined;
    } else if (top === 'result' && key === 'series' && kind === 'array') role = 'seriesList';
    else if (top === 'seriesList' && kind === 'object') {
      role = 'series';
      this.series = {
        statement: this.statement,
        name: '',
        tags: {},
        columns: [],
        timeColumn: -1,
        key: '',
        index: 0,
        partial: false,
      };
    } else if (top === 'series' && key === 'tags' && kind === 'object') role = 'tags';
    else if (top === 'series' && key === 'columns' && kind === 'array') role = 'columns';
    else if (top === 'series' && key === 'values' && kind === 'array') {
      role = 'values';
      this.startValues();
    } else if (top === 'values' && kind === 'array') {
      role = 'row';
      this.row = [];
    } else if (top === undefined) throw new MalformedAnswerError('the answer is not a JSON object');
    if (role === 'skip') {
      this.skipDepth = 1;
      return;
    }
    this.stack.push(role);
  }

  private close(): void {
    const role = this.stack.pop();
    switch (role) {
      case 'row':
        this.emitRow();
        break;
      case 'series':
        this.previous = this.series;
        this.series = undefined;
        break;
      case 'result':
        if (this.statementError !== undefined)
          throw new QueryAnswerError(this.statementError, this.statement);
        break;
      default:
        break;
    }
  }

  private scalar(kind: Token['name'], value: unknown): void {
    const top = this.top();
    const key = this.key;
    this.key = undefined;
    switch (top) {
      case 'row': {
        const row = this.row!;
        // The time column keeps its text (nanoseconds need a bigint); other numbers become numbers.
        if (kind === 'numberValue' && row.length !== this.series!.timeColumn)
          row.push(jsonNumber(value as string));
        else row.push(kind === 'numberValue' ? { ns: value as string } : value);
        return;
      }
      case 'columns':
        if (kind !== 'stringValue') throw new MalformedAnswerError('a column name is not a string');
        this.series!.columns.push(value as string);
        return;
      case 'tags':
        if (key !== undefined) setOwn(this.series!.tags, key, kind === 'nullValue' ? '' : String(value));
        return;
      case 'series':
        if (key === 'name') this.series!.name = String(value);
        else if (key === 'partial') this.series!.partial = value === true;
        return;
      case 'result':
        if (key === 'statement_id' && kind === 'numberValue') {
          const id = Number(value);
          // A new statement: no series continues across it.
          if (id !== this.statement) this.previous = undefined;
          this.statement = id;
          if (this.series) this.series.statement = id;
        } else if (key === 'error') this.statementError = String(value);
        return;
      case 'root':
        if (key === 'error') throw new QueryAnswerError(String(value), undefined);
        return;
      default:
        return;
    }
  }

  /** Name, tags and columns are known (InfluxDB writes them before `values`): the series' identity. */
  private startValues(): void {
    const s = this.series!;
    if (s.columns.length === 0) throw new MalformedAnswerError('a series has values but no columns');
    s.timeColumn = s.columns.indexOf('time');
    const tagText = Object.keys(s.tags)
      .sort()
      .map((k) => `${k}=${s.tags[k]}`)
      .join('\u0000');
    s.key = createHash('sha1')
      .update(`${s.statement}\u0000${s.name}\u0000${tagText}`)
      .digest('base64url')
      .slice(0, 16);
    const p = this.previous;
    if (p && p.partial && p.key === s.key) s.index = p.index;
  }

  private emitRow(): void {
    const s = this.series!;
    const values = this.row!;
    this.row = undefined;
    if (values.length !== s.columns.length)
      throw new MalformedAnswerError(`a row has ${values.length} values for ${s.columns.length} columns`);
    const fields: Record<string, unknown> = {};
    let timeNs: bigint | undefined;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (i === s.timeColumn) {
        const text = (v as { ns?: unknown } | null)?.ns;
        if (typeof text === 'string' && /^-?\d+$/.test(text)) timeNs = BigInt(text);
        else
          throw new MalformedAnswerError(
            `a time is not a nanosecond epoch: ${JSON.stringify(v).slice(0, 40)}`,
          );
        continue;
      }
      setOwn(fields, s.columns[i]!, v);
    }
    this.onRow({
      statement: s.statement,
      measurement: s.name,
      tags: s.tags,
      seriesKey: s.key,
      index: s.index++,
      timeNs,
      fields,
    });
  }
}
