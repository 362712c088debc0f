/**
 * Local stand-ins for the write APIs of InfluxDB 2.x (`POST /api/v2/write`) and 3
 * (`POST /api/v3/write_lp`), for tests: no InfluxDB 2.x or 3 can run here. They answer as
 * InfluxData documents (docs-v2: write troubleshooting, the OSS v2 and 3 Core OpenAPI files) and
 * as the servers' source does (influxdb main-2.x http/write_handler.go and models/points.go;
 * influxdb3_server http.rs, influxdb3_write validator.rs, influxdb_line_protocol):
 *
 * 2.x: `Authorization: Token <token>`, else 401 `{"code":"unauthorized","message":"unauthorized access"}`;
 * `precision` ns|us|ms|s (else 400 "invalid precision; ..."); unknown org or bucket 404
 * `{"code":"not found",...}`; a malformed line refuses the whole request with 400
 * `{"code":"invalid","message":"unable to parse '<line>': <why>"}`; type conflicts and points
 * outside the bucket's retention are dropped, the rest stored, 422
 * `{"code":"unprocessable entity","message":"failure writing points to database: partial write: ... dropped=N"}`.
 * An empty body is a 204.
 *
 * 3: `Authorization: Bearer|Token <token>` (no token needed when started without one), else 401
 * with an empty body; `precision` auto|second|millisecond|microsecond|nanosecond (and s, ms, us,
 * u, ns, n); the database is created at the first write; with `accept_partial` (default true)
 * valid lines are stored and the others listed in 400
 * `{"error":"partial write of line protocol occurred","data":[{original_line,line_number,error_message}]}`
 * (at most 100), without it one bad line refuses all with 400 `{"error":..., "data":{...}}`; an empty
 * write is 400 "incoming write was empty".
 *
 * Both: line protocol parsed with the version's own rules (backslashes differ: see
 * connectors/influxdb/line-protocol.ts), points stored by series and time (a later write of the
 * same point merges its fields), 413 above `maxBodyBytes`, and `failNext()` to answer 429/503 with
 * `Retry-After`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FieldValue =
  | { type: 'float'; value: number }
  | { type: 'integer'; value: bigint }
  | { type: 'unsigned'; value: bigint }
  | { type: 'string'; value: string }
  | { type: 'boolean'; value: boolean };

export interface StoredPoint {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  /** Nanoseconds since the epoch. */
  time: bigint;
}

export interface StandinOptions {
  version: 2 | 3;
  /** The token the server accepts; 3 without one accepts any request. */
  token?: string;
  /** 2.x: org name -> bucket name -> retention in seconds (0: forever). */
  orgs?: Record<string, Record<string, number>>;
  /** 3: database -> retention in seconds (0: forever). */
  retention?: Record<string, number>;
  maxBodyBytes?: number;
}

export interface InfluxStandin {
  url: string;
  /** Points stored in a bucket (2.x) or database (3), sorted by time. */
  points(target: string): StoredPoint[];
  /** The next `count` write requests answer `status` with `Retry-After: retryAfter`. */
  failNext(status: number, count?: number, retryAfter?: string): void;
  /** Requests received, by path. */
  readonly requests: { path: string; query: Record<string, string>; status: number }[];
  close(): Promise<void>;
}

type Dialect = 'go' | 'rust';

class LineError extends Error {}

interface ParsedLine {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  time: bigint | undefined;
}

/** Splits a body into lines: a line break ends a line except inside a quoted string field. */
function splitLines(body: string): string[] {
  const lines: string[] = [];
  let start = 0;
  let inFields = false;
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === ' ') inFields = true;
    else if (c === '"' && inFields && (quoted || body[i - 1] === '=')) quoted = !quoted;
    else if (c === '\n' && !quoted) {
      lines.push(body.slice(start, i));
      start = i + 1;
      inFields = false;
    }
  }
  lines.push(body.slice(start));
  return lines;
}

/** A comment or blank line, which both parsers skip. */
function skipped(line: string): boolean {
  const trimmed = line.replace(/^[ \t\0]+/, '');
  return trimmed === '' || trimmed.startsWith('#');
}

/**
 * A name, tag key or tag value up to an unescaped stop character. Go: a character is escaped when
 * the one before it is a backslash, and only the separators are unescaped afterwards (measurement
 * and field keys also `\"` and `\=`). Rust: `\\`, `\,`, `\=` and `\ ` are pairs, any other
 * backslash is literal, tab and NUL end or refuse, and a name ending in a backslash is an error.
 */
function scanName(
  line: string,
  pos: number,
  stops: string,
  dialect: Dialect,
  unescape: string,
  refuseNul = false,
): { text: string; end: number } {
  let raw = '';
  let i = pos;
  if (dialect === 'go') {
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (stops.includes(c) && (i === pos || line[i - 1] !== '\\')) break;
      raw += c;
    }
    let text = '';
    for (let j = 0; j < raw.length; j++) {
      if (raw[j] === '\\' && j + 1 < raw.length && unescape.includes(raw[j + 1]!)) {
        text += raw[j + 1];
        j++;
      } else text += raw[j];
    }
    return { text, end: i };
  }
  let text = '';
  for (; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length && '\\,= '.includes(line[i + 1]!)) {
      text += line[i + 1];
      i++;
      continue;
    }
    if (stops.includes(c) || c === '\t') break;
    if (c === '\0' && refuseNul) throw new LineError('invalid measurement: NUL character');
    text += c;
  }
  if (text.endsWith('\\')) throw new LineError('Lines must not end with a backslash');
  return { text, end: i };
}

function parseFieldValue(raw: string, name: string): FieldValue {
  if (raw.startsWith('"')) {
    if (raw.length < 2 || !raw.endsWith('"')) throw new LineError('unbalanced quotes');
    let text = '';
    for (let j = 1; j < raw.length - 1; j++) {
      if (raw[j] === '\\' && (raw[j + 1] === '"' || raw[j + 1] === '\\')) {
        text += raw[j + 1];
        j++;
      } else text += raw[j];
    }
    return { type: 'string', value: text };
  }
  if (/^-?\d+i$/.test(raw)) return { type: 'integer', value: BigInt(raw.slice(0, -1)) };
  if (/^\d+u$/.test(raw)) return { type: 'unsigned', value: BigInt(raw.slice(0, -1)) };
  if (/^(t|T|true|True|TRUE)$/.test(raw)) return { type: 'boolean', value: true };
  if (/^(f|F|false|False|FALSE)$/.test(raw)) return { type: 'boolean', value: false };
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) return { type: 'float', value: Number(raw) };
  throw new LineError(
    `invalid field value for "${name}": ${raw === '' ? 'missing field value' : 'invalid number'}`,
  );
}

function parseLine(line: string, dialect: Dialect, reservedTagKeys: readonly string[]): ParsedLine {
  const start = line.length - line.replace(/^[ \t\0]+/, '').length;
  const m = scanName(line, start, ', ', dialect, dialect === 'go' ? ', "=' : '', true);
  if (m.text === '') throw new LineError('missing measurement');
  let i = m.end;
  const tags: Record<string, string> = {};
  while (line[i] === ',') {
    const k = scanName(line, i + 1, '=, ', dialect, dialect === 'go' ? ', =' : '');
    if (k.text === '' || line[k.end] !== '=') throw new LineError('missing tag key');
    const v = scanName(line, k.end + 1, ', ', dialect, dialect === 'go' ? ', =' : '');
    if (v.text === '') throw new LineError('missing tag value');
    if (reservedTagKeys.includes(k.text)) throw new LineError(`cannot use reserved tag key "${k.text}"`);
    if (k.text in tags) throw new LineError('duplicate tags');
    tags[k.text] = v.text;
    i = v.end;
  }
  if (line[i] !== ' ') throw new LineError('missing fields');
  while (line[i] === ' ') i++;
  const fields: Record<string, FieldValue> = {};
  for (;;) {
    const k = scanName(line, i, '= ,', dialect, dialect === 'go' ? ', "=' : '');
    if (k.text === '' || line[k.end] !== '=') throw new LineError('missing field key');
    let j = k.end + 1;
    let raw = '';
    if (line[j] === '"') {
      raw = '"';
      for (j++; j < line.length; j++) {
        if (line[j] === '\\' && (line[j + 1] === '"' || line[j + 1] === '\\')) {
          raw += line[j]! + line[j + 1]!;
          j++;
          continue;
        }
        raw += line[j];
        if (line[j] === '"') {
          j++;
          break;
        }
      }
    } else {
      for (; j < line.length && line[j] !== ',' && line[j] !== ' '; j++) raw += line[j];
    }
    if (k.text in fields) {
      if (dialect === 'rust')
        throw new LineError(`invalid line protocol - multiple instances of '${k.text}' field found`);
    }
    fields[k.text] = parseFieldValue(raw, k.text);
    i = j;
    if (line[i] === ',') {
      i++;
      continue;
    }
    break;
  }
  while (line[i] === ' ') i++;
  let time: bigint | undefined;
  const rest = line.slice(i).replace(/ +$/, '');
  if (rest !== '') {
    if (!/^-?\d+$/.test(rest)) throw new LineError('bad timestamp');
    time = BigInt(rest);
  }
  return { measurement: m.text, tags, fields, time };
}

/** The Go line as InfluxDB 2.x quotes it in errors, measurement and tags first. */
const seriesKey = (p: { measurement: string; tags: Record<string, string> }): string =>
  JSON.stringify([p.measurement, Object.entries(p.tags).sort()]);

const V2_PRECISION: Record<string, bigint> = { ns: 1n, us: 1000n, ms: 1_000_000n, s: 1_000_000_000n };
const V3_PRECISION: Record<string, bigint> = {
  nanosecond: 1n,
  ns: 1n,
  n: 1n,
  microsecond: 1000n,
  us: 1000n,
  u: 1000n,
  millisecond: 1_000_000n,
  ms: 1_000_000n,
  second: 1_000_000_000n,
  s: 1_000_000_000n,
};

/** 3's `auto`: the unit from the magnitude of the timestamp. */
function autoMultiplier(ts: bigint): bigint {
  const abs = ts < 0n ? -ts : ts;
  if (abs < 5_000_000_000n) return 1_000_000_000n;
  if (abs < 5_000_000_000_000n) return 1_000_000n;
  if (abs < 5_000_000_000_000_000n) return 1000n;
  return 1n;
}

const V3_TYPE_NAMES: Record<FieldValue['type'], string> = {
  float: 'iox::column_type::field::float',
  integer: 'iox::column_type::field::integer',
  unsigned: 'iox::column_type::field::uinteger',
  string: 'iox::column_type::field::string',
  boolean: 'iox::column_type::field::boolean',
};

export async function startInfluxStandin(options: StandinOptions): Promise<InfluxStandin> {
  const stores = new Map<string, Map<string, StoredPoint>>();
  /** target -> measurement -> field -> type (InfluxDB fixes a field's type at its first write). */
  const schemas = new Map<string, Map<string, Map<string, FieldValue['type']>>>();
  const failures: { status: number; retryAfter: string | undefined }[] = [];
  const requests: InfluxStandin['requests'] = [];
  const maxBody = options.maxBodyBytes ?? 25 * 1024 * 1024;

  const send = (
    res: ServerResponse,
    status: number,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      ...(text && typeof body !== 'string' ? { 'content-type': 'application/json; charset=utf-8' } : {}),
      ...headers,
    });
    res.end(text);
  };
  const v2Error = (res: ServerResponse, status: number, code: string, message: string) =>
    send(res, status, { code, message });

  const store = (target: string) => {
    let s = stores.get(target);
    if (!s) stores.set(target, (s = new Map()));
    return s;
  };
  const schema = (target: string, measurement: string) => {
    let t = schemas.get(target);
    if (!t) schemas.set(target, (t = new Map()));
    let m = t.get(measurement);
    if (!m) t.set(measurement, (m = new Map()));
    return m;
  };
  /** Stores a point, or says why not: a field whose type differs from the stored one. */
  const put = (target: string, p: StoredPoint): { field: string; got: string; want: string } | undefined => {
    const types = schema(target, p.measurement);
    for (const [name, v] of Object.entries(p.fields)) {
      const existing = types.get(name);
      if (existing && existing !== v.type) return { field: name, got: v.type, want: existing };
    }
    for (const [name, v] of Object.entries(p.fields)) types.set(name, v.type);
    const key = `${seriesKey(p)}@${p.time}`;
    const s = store(target);
    const old = s.get(key);
    s.set(key, old ? { ...old, fields: { ...old.fields, ...p.fields } } : p);
    return undefined;
  };

  const handleV2 = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams, body: string) => {
    const auth = req.headers.authorization ?? '';
    if (!options.token || auth !== `Token ${options.token}`)
      return v2Error(res, 401, 'unauthorized', 'unauthorized access');
    const bucketName = query.get('bucket');
    if (!bucketName) return v2Error(res, 404, 'not found', 'bucket not found');
    const precision = query.get('precision') || 'ns';
    const multiplier = V2_PRECISION[precision];
    if (multiplier === undefined)
      return v2Error(res, 400, 'invalid', 'invalid precision; valid precision units are ns, us, ms, and s');
    const orgName = query.get('org') ?? query.get('orgID') ?? '';
    const org = options.orgs?.[orgName];
    if (!org) return v2Error(res, 404, 'not found', `organization name "${orgName}" not found`);
    const retention = org[bucketName];
    if (retention === undefined) return v2Error(res, 404, 'not found', `bucket "${bucketName}" not found`);
    const parsed: StoredPoint[] = [];
    const errors: string[] = [];
    for (const line of splitLines(body)) {
      if (skipped(line)) continue;
      try {
        const p = parseLine(line, 'go', ['_field', '_measurement', 'time']);
        parsed.push({
          ...p,
          time: p.time !== undefined ? p.time * multiplier : BigInt(Date.now()) * 1_000_000n,
        });
      } catch (error) {
        errors.push(`unable to parse '${line}': ${(error as Error).message}`);
      }
    }
    // A malformed line refuses the request: nothing is written, the first bad line is named.
    if (errors.length > 0) return v2Error(res, 400, 'invalid', errors[0]!);
    const target = `${orgName}/${bucketName}`;
    const lower = retention > 0 ? BigInt(Date.now() - retention * 1000) * 1_000_000n : undefined;
    let conflict: string | undefined;
    let dropped = 0;
    let outside = 0;
    for (const p of parsed) {
      if (lower !== undefined && p.time < lower) {
        outside++;
        dropped++;
        continue;
      }
      const problem = put(target, p);
      if (problem) {
        dropped++;
        conflict ??= `field type conflict: input field "${problem.field}" on measurement "${p.measurement}" is type ${problem.got}, already exists as type ${problem.want}`;
      }
    }
    if (dropped === 0) return send(res, 204);
    const reason = conflict
      ? conflict
      : `dropped ${outside} points outside retention policy of duration ${retention}s`;
    return v2Error(
      res,
      422,
      'unprocessable entity',
      `failure writing points to database: partial write: ${reason} dropped=${dropped}`,
    );
  };

  const handleV3 = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams, body: string) => {
    if (options.token) {
      const auth = req.headers.authorization ?? '';
      if (auth !== `Bearer ${options.token}` && auth !== `Token ${options.token}`) return send(res, 401);
    }
    const db = query.get('db');
    if (!db) return send(res, 400, 'missing query parameters: db');
    const precisionName = query.get('precision') ?? 'auto';
    const multiplier = precisionName === 'auto' ? undefined : V3_PRECISION[precisionName];
    if (precisionName !== 'auto' && multiplier === undefined)
      return send(res, 400, `unknown variant \`${precisionName}\` for precision`);
    const acceptPartial = (query.get('accept_partial') ?? 'true') === 'true';
    const retention = options.retention?.[db] ?? 0;
    const lower = retention > 0 ? BigInt(Date.now() - retention * 1000) * 1_000_000n : undefined;
    const errors: { original_line: string; line_number: number; error_message: string }[] = [];
    const valid: StoredPoint[] = [];
    let index = 0;
    for (const line of splitLines(body)) {
      if (skipped(line)) continue;
      index++;
      try {
        const p = parseLine(line, 'rust', []);
        const time =
          p.time === undefined
            ? BigInt(Date.now()) * 1_000_000n
            : p.time * (multiplier ?? autoMultiplier(p.time));
        if (lower !== undefined && time < lower)
          throw new LineError('write contains a point outside the database retention period');
        const types = schema(db, p.measurement);
        for (const [name, v] of Object.entries(p.fields)) {
          const existing = types.get(name);
          if (existing && existing !== v.type)
            throw new LineError(
              `invalid column type for column '${name}', expected ${V3_TYPE_NAMES[existing]}, got ${V3_TYPE_NAMES[v.type]}`,
            );
        }
        for (const [name, v] of Object.entries(p.fields)) types.set(name, v.type);
        valid.push({ ...p, time });
      } catch (error) {
        if (!(error instanceof LineError)) throw error;
        const e = { original_line: line, line_number: index, error_message: error.message };
        if (!acceptPartial) return send(res, 400, { error: 'parsing failed for write_lp endpoint', data: e });
        errors.push(e);
      }
    }
    if (valid.length === 0 && errors.length === 0) return send(res, 400, 'incoming write was empty');
    for (const p of valid) put(db, p);
    if (errors.length === 0) return send(res, 204);
    return send(res, 400, { error: 'partial write of line protocol occurred', data: errors.slice(0, 100) });
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= maxBody) chunks.push(c);
    });
    req.on('end', () => {
      const record = (status: number) =>
        requests.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), status });
      res.on('finish', () => record(res.statusCode));
      const failure = failures.shift();
      if (failure)
        return send(
          res,
          failure.status,
          options.version === 2
            ? {
                code: failure.status === 429 ? 'too many requests' : 'unavailable',
                message: failure.status === 429 ? 'too many requests' : 'service unavailable',
              }
            : '',
          failure.retryAfter !== undefined ? { 'retry-after': failure.retryAfter } : {},
        );
      if (size > maxBody) {
        return options.version === 2
          ? v2Error(res, 413, 'request too large', 'unable to read data: points batch is too large')
          : send(res, 413, 'Request size exceeded');
      }
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.method === 'POST' && options.version === 2 && url.pathname === '/api/v2/write')
        return handleV2(req, res, url.searchParams, body);
      if (req.method === 'POST' && options.version === 3 && url.pathname === '/api/v3/write_lp')
        return handleV3(req, res, url.searchParams, body);
      return send(res, 404, options.version === 2 ? { code: 'not found', message: 'path not found' } : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    points: (target) => [...(stores.get(target)?.values() ?? [])].sort((a, b) => (a.time < b.time ? -1 : 1)),
    failNext: (status, count = 1, retryAfter) => {
      for (let i = 0; i < count; i++) failures.push({ status, retryAfter });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
