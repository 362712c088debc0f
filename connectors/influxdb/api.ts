import { redact } from '../../src/sdk/index.js';
import type { HttpAnswer } from './http.js';
import type { Dialect } from './line-protocol.js';
import { writePrecision, type InfluxdbSinkConfig, type Precision, type Version } from './spec.js';

/**
 * The write API of each InfluxDB version: the request, and what its answers mean. Status codes
 * and bodies as InfluxData documents them (and as the 1.x server answers, verified):
 * - 1.x `POST /write`: 400 with `{"error": ...}` for bad lines and partial writes ("partial write:
 *   ... dropped=N"; points that did not parse are named as `unable to parse '<line>': <why>`).
 * - 2.x `POST /api/v2/write`: 400 `{"code":"invalid","message":"unable to parse '<line>': ..."}`
 *   when a line is malformed (nothing written, the first bad line named); 422
 *   `{"code":"unprocessable entity","message":"failure writing points to database: partial write: ..."}`
 *   when points were refused (type conflict, retention) and the others stored.
 * - 3 `POST /api/v3/write_lp`: 400 (422 when a schema limit is hit)
 *   `{"error":"partial write of line protocol occurred","data":[{"original_line","line_number","error_message"}]}`
 *   naming every refused line (up to 100), the others stored; with accept_partial=false
 *   `{"error": ..., "data": {one line}}` and nothing stored.
 * All: 401/403 credentials, 404 database/bucket/org, 413 too large, 429/503 with Retry-After.
 */

export type Answer =
  | { kind: 'ok' }
  /** Points refused. `named`: line index -> InfluxDB's reason. `othersWritten`: the rest is stored (true), not stored (false), or unknown. */
  | {
      kind: 'refused';
      message: string;
      named: Map<number, string>;
      othersWritten: boolean | undefined;
      dropped: number | undefined;
    }
  | { kind: 'tooLarge'; message: string }
  | { kind: 'credentials'; status: number; message: string }
  | { kind: 'notFound'; message: string }
  | { kind: 'retry'; status: number; message: string; retryAfterMs: number | undefined };

export interface WriteApi {
  readonly dialect: Dialect;
  /** Longest string field value the version documents, in UTF-8 bytes. */
  readonly maxStringBytes: number;
  /** "database "x"", "bucket "b" of org "o"", for messages. */
  readonly target: string;
  /** Who the credentials are, for messages (never the secret). */
  readonly who: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly headers: Record<string, string>;
  interpret(answer: HttpAnswer, lines: readonly string[]): Answer;
}

const V1_PRECISION: Record<Precision, string> = { s: 's', ms: 'ms', us: 'u', ns: 'n' };
const V3_PRECISION: Record<Precision, string> = {
  s: 'second',
  ms: 'millisecond',
  us: 'microsecond',
  ns: 'nanosecond',
};

export function writeApi(config: InfluxdbSinkConfig): WriteApi {
  switch (config.version as Version) {
    case 1:
      return v1(config);
    case 2:
      return v2(config);
    case 3:
      return v3(config);
  }
}

function v1(config: InfluxdbSinkConfig): WriteApi {
  const database = config.database ?? '';
  return {
    dialect: 'go',
    maxStringBytes: 64 * 1024,
    target: `database "${database}"${config.retentionPolicy ? `, retention policy "${config.retentionPolicy}"` : ''}`,
    who: config.username ? `user "${config.username}"` : 'no user name (set username and password)',
    path: '/write',
    query: {
      db: database,
      precision: V1_PRECISION[writePrecision(config)],
      ...(config.retentionPolicy ? { rp: config.retentionPolicy } : {}),
    },
    headers: config.username
      ? {
          authorization: `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}`,
        }
      : {},
    interpret(answer, lines) {
      const message = bodyMessage(answer);
      // 422: the v1-compatible /write of InfluxDB 2.x, which answers partial writes as its own API does.
      if (answer.status === 400 || answer.status === 422) {
        const named = unparsedLines(message, lines);
        // "partial write: unable to parse ..." is sent only when the parsed points were all written.
        // Trusted only when every line it names is one we sent.
        const parseOnly =
          /^partial write: unable to parse /.test(message) &&
          message.split('unable to parse ').length - 1 === named.size;
        return {
          kind: 'refused',
          message,
          named,
          othersWritten: parseOnly
            ? true
            : named.size > 0 && !message.startsWith('partial write')
              ? false
              : undefined,
          dropped: droppedCount(message),
        };
      }
      return common(answer, message);
    },
  };
}

function v2(config: InfluxdbSinkConfig): WriteApi {
  return {
    dialect: 'go',
    maxStringBytes: 64 * 1024,
    target: `bucket "${config.bucket}" of org "${config.org}"`,
    who: 'the token',
    path: '/api/v2/write',
    query: { org: config.org ?? '', bucket: config.bucket ?? '', precision: writePrecision(config) },
    headers: { authorization: `Token ${config.token ?? ''}` },
    interpret(answer, lines) {
      const message = bodyMessage(answer);
      if (answer.status === 400) {
        // Malformed data: nothing was written; the message names the first bad line.
        return {
          kind: 'refused',
          message,
          named: unparsedLines(message, lines),
          othersWritten: false,
          dropped: undefined,
        };
      }
      if (answer.status === 422) {
        return {
          kind: 'refused',
          message,
          named: unparsedLines(message, lines),
          othersWritten: undefined,
          dropped: droppedCount(message),
        };
      }
      return common(answer, message);
    },
  };
}

/** InfluxDB 3 lists at most this many refused lines in one answer. */
const V3_LISTED_LINES = 100;

function v3(config: InfluxdbSinkConfig): WriteApi {
  return {
    dialect: 'rust',
    maxStringBytes: 1024 * 1024,
    target: `database "${config.database}"`,
    who: config.token ? 'the token' : 'no token (set token)',
    path: '/api/v3/write_lp',
    query: {
      db: config.database ?? '',
      precision: V3_PRECISION[writePrecision(config)],
      accept_partial: String(config.acceptPartial),
      no_sync: String(config.noSync),
    },
    headers: config.token ? { authorization: `Bearer ${config.token}` } : {},
    interpret(answer, lines) {
      const message = bodyMessage(answer);
      if (answer.status === 400 || answer.status === 422) {
        const data = lineErrors(answer.body);
        if (data) {
          const named = new Map<number, string>();
          for (const e of data.list) {
            const index = e.line_number - 1;
            if (index >= 0 && index < lines.length) named.set(index, redact(e.error_message));
          }
          return {
            kind: 'refused',
            message,
            named,
            othersWritten: data.partial ? (data.list.length < V3_LISTED_LINES ? true : undefined) : false,
            dropped: undefined,
          };
        }
        return { kind: 'refused', message, named: new Map(), othersWritten: undefined, dropped: undefined };
      }
      return common(answer, message);
    },
  };
}

function common(answer: HttpAnswer, message: string): Answer {
  const status = answer.status;
  if (status >= 200 && status < 300) return { kind: 'ok' };
  if (status === 401 || status === 403) return { kind: 'credentials', status, message };
  if (status === 404) return { kind: 'notFound', message };
  if (status === 413)
    return {
      kind: 'tooLarge',
      message: `the request is larger than the server accepts (max-body-size on 1.x): ${message}`,
    };
  if (status === 400 || status === 422)
    return { kind: 'refused', message, named: new Map(), othersWritten: undefined, dropped: undefined };
  return { kind: 'retry', status, message, retryAfterMs: retryAfter(answer.headers['retry-after']) };
}

/** `Retry-After`: seconds, or an HTTP date. */
export function retryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/** The error text of an answer: `error` (1.x, 3) or `message` (2.x) of its JSON, else the text. */
export function bodyMessage(answer: HttpAnswer): string {
  const text = answer.body.trim();
  if (text.startsWith('{')) {
    try {
      const body = JSON.parse(text) as { error?: unknown; message?: unknown };
      const message = body.message ?? body.error;
      if (typeof message === 'string' && message !== '') return redact(message);
    } catch {
      /* not JSON: keep the text */
    }
  }
  return redact(text.slice(0, 1000)) || `HTTP ${answer.status}`;
}

/** `dropped=N` at the end of a partial-write message. */
export function droppedCount(message: string): number | undefined {
  const m = /\bdropped=(\d+)\b/.exec(message);
  return m ? Number(m[1]) : undefined;
}

/** The lines a Go InfluxDB names as `unable to parse '<line>': <why>` (one per line of the message). */
export function unparsedLines(message: string, lines: readonly string[]): Map<number, string> {
  const named = new Map<number, string>();
  if (!message.includes('unable to parse ')) return named;
  const byText = new Map<string, number[]>();
  for (let i = 0; i < lines.length; i++) {
    const list = byText.get(lines[i]!);
    if (list) list.push(i);
    else byText.set(lines[i]!, [i]);
  }
  // Go joins one `unable to parse '<line>': <why>` per refused line with line breaks.
  for (const part of message.split('\nunable to parse ')) {
    const m = /^(?:.*?unable to parse )?'([\s\S]*)': ([\s\S]*?)(?: dropped=\d+)?$/.exec(part);
    if (!m) continue;
    for (const index of byText.get(m[1]!) ?? []) named.set(index, `unable to parse the point: ${m[2]}`);
  }
  return named;
}

interface LineError {
  line_number: number;
  error_message: string;
}

/** InfluxDB 3's per-line errors: a list (partial write) or one object (accept_partial=false). */
function lineErrors(body: string): { partial: boolean; list: LineError[] } | undefined {
  try {
    const parsed = JSON.parse(body) as { data?: unknown };
    const isLine = (v: unknown): v is LineError =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as LineError).line_number === 'number' &&
      typeof (v as LineError).error_message === 'string';
    if (Array.isArray(parsed.data)) return { partial: true, list: parsed.data.filter(isLine) };
    if (isLine(parsed.data)) return { partial: false, list: [parsed.data] };
  } catch {
    /* not JSON */
  }
  return undefined;
}
