import pino, { type DestinationStream } from 'pino';
import { printable, redact, redactValue, type Logger } from '../sdk/index.js';
import { isoTimestamp } from './utc-time.js';

/** `json`: one JSON object per line (for log collectors); `pretty`: one short line per event, for people. */
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  level?: string;
  destination?: number;
  /** Where the lines go (JSON text, whatever the format: `pretty` reformats it). */
  stream?: DestinationStream;
  format?: LogFormat;
  /** Colours in the `pretty` format (default: when stderr is a terminal and NO_COLOR is unset). */
  color?: boolean;
  /**
   * The same warning or error (same message, pipeline and component) repeated within this window
   * is counted, not printed; one line with the count ends the window. 0 turns it off.
   */
  repeatWindowMs?: number;
}

/** The default window of repeated warnings: a broker outage gives one line per 20 s, not a wall. */
export const REPEAT_WINDOW_MS = 20_000;

/**
 * `--log-format`, else PASSERELLE_LOG_FORMAT, else `pretty` on a terminal and `json` otherwise (a
 * container, a pipe, a file).
 */
export function resolveLogFormat(
  option: string | undefined,
  env: Record<string, string | undefined>,
  terminal = Boolean(process.stdout.isTTY && process.stderr.isTTY),
): LogFormat {
  const value = option ?? env.PASSERELLE_LOG_FORMAT;
  if (value === undefined || value === '') return terminal ? 'pretty' : 'json';
  if (value === 'json' || value === 'pretty') return value;
  throw new Error(`log format: expected json or pretty, got "${value}"`);
}

/**
 * Structured logs (pino). Secrets are masked before serialisation: in the message, in every
 * field (nested values and errors included) and in child bindings, so the masking sees strings as
 * they are, not their JSON-escaped form. `json` goes to stdout as before; `pretty` goes to stderr,
 * so that message data a pipeline prints on stdout (the `log` sink) stays apart from the logs.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const redactMessage = (m: unknown): unknown => (typeof m === 'string' ? redact(m) : m);
  const format = options.format ?? 'json';
  const color =
    options.color ?? Boolean(process.stderr.isTTY && !process.env.NO_COLOR && process.env.TERM !== 'dumb');
  const out = options.stream;
  const stream =
    format === 'pretty'
      ? prettyStream(out ? (l) => void out.write(l) : (l) => void process.stderr.write(l), color)
      : (out ?? pino.destination({ dest: options.destination ?? 1, sync: false }));
  const root = pino(
    {
      level: options.level ?? process.env.PASSERELLE_LOG_LEVEL ?? 'info',
      base: { service: 'passerelle' },
      // pino's isoTime, without Date#toISOString (utc-time.ts).
      timestamp: () => `,"time":"${isoTimestamp(Date.now())}"`,
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (bindings) => redactValue(bindings) as Record<string, unknown>,
        log: (object) => redactValue(object) as Record<string, unknown>,
      },
      serializers: {
        // A message pino takes from an error (`logger.error(err)`) skips the log method hook.
        msg: redactMessage,
        // `log` above already made errors plain `{ type, message, stack }` objects.
        err: (err: unknown) => err,
      },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map(redactMessage) as Parameters<typeof method>);
        },
      },
    },
    stream,
  );
  const windowMs = options.repeatWindowMs ?? REPEAT_WINDOW_MS;
  return wrap(root, '', windowMs > 0 ? new RepeatLimiter(windowMs) : undefined);
}

type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * Counts repeats of one warning within a window. The first occurrence is printed at once; at the
 * end of a window with repeats, one line says how many (`... (x37 in 20 s)`) and a new window
 * starts; a window without repeats forgets the key.
 */
export class RepeatLimiter {
  private readonly windows = new Map<string, { count: number; repeat: (count: number) => void }>();

  constructor(
    readonly windowMs: number,
    private readonly maxKeys = 1000,
  ) {}

  /** True when the line should be printed now; otherwise it is counted. */
  admit(key: string, repeat: (count: number) => void): boolean {
    const open = this.windows.get(key);
    if (open) {
      open.count++;
      open.repeat = repeat;
      return false;
    }
    // Past this many distinct warnings at once, print them all rather than hold unbounded state.
    if (this.windows.size >= this.maxKeys) return true;
    const window = { count: 0, repeat };
    this.windows.set(key, window);
    const tick = (): void => {
      if (window.count === 0) {
        this.windows.delete(key);
        return;
      }
      const count = window.count;
      window.count = 0;
      window.repeat(count);
      setTimeout(tick, this.windowMs).unref();
    };
    setTimeout(tick, this.windowMs).unref();
    return true;
  }
}

function wrap(logger: pino.Logger, scope: string, limiter: RepeatLimiter | undefined): Logger {
  const limited =
    (level: Level) =>
    (obj: object | string, msg?: string): void => {
      const call = (o: object | string, m?: string): void =>
        m === undefined ? logger[level](o as object) : logger[level](o as object, m);
      const text = typeof obj === 'string' ? obj : msg;
      if (!limiter || text === undefined) return call(obj, msg);
      const fields = typeof obj === 'string' ? {} : (obj as Record<string, unknown>);
      const key = `${level}\u0000${scope}\u0000${String(fields.pipeline)}\u0000${String(fields.component ?? fields.sink)}\u0000${text}`;
      const seconds = Math.round(limiter.windowMs / 1000);
      if (limiter.admit(key, (count) => call(fields, `${text} (x${count} in ${seconds} s)`))) call(obj, msg);
    };
  return {
    debug: logger.debug.bind(logger),
    info: logger.info.bind(logger),
    warn: limited('warn'),
    error: limited('error'),
    // pino serialises a child's bindings once, without the `bindings` formatter: mask them first.
    child: (bindings) => {
      const masked = redactValue(bindings) as pino.Bindings;
      return wrap(logger.child(masked), `${scope}${JSON.stringify(masked)}`, limiter);
    },
  } as Logger;
}

const ANSI = {
  dim: '\u001b[2m',
  reset: '\u001b[0m',
  cyan: '\u001b[36m',
  levels: { debug: '\u001b[90m', info: '\u001b[32m', warn: '\u001b[33m', error: '\u001b[31m' } as Record<
    string,
    string
  >,
};
const OMITTED = new Set(['level', 'time', 'service', 'pipeline', 'component', 'type', 'msg']);

/**
 * pino's JSON lines as one short line per event: `10:29:43 WARN  relay/mqtt  message  key=value`.
 * Values are escaped (no control character from message data reaches the terminal) and long
 * ones cut.
 */
export function prettyStream(write: (line: string) => void, color: boolean): DestinationStream {
  const paint = (code: string, text: string): string => (color ? `${code}${text}${ANSI.reset}` : text);
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) {
        if (line === '') continue;
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          write(`${printable(line)}\n`);
          continue;
        }
        write(`${prettyLine(entry, paint)}\n`);
      }
    },
  };
}

function prettyLine(entry: Record<string, unknown>, paint: (code: string, text: string) => string): string {
  const level = String(entry.level ?? 'info');
  const time = typeof entry.time === 'string' ? new Date(entry.time) : new Date();
  const clock = `${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}`;
  const scope = [entry.pipeline, entry.component].filter((s) => s !== undefined).join('/');
  const parts = [
    paint(ANSI.dim, clock),
    paint(ANSI.levels[level] ?? '', level.toUpperCase().padEnd(5)),
    ...(scope ? [paint(ANSI.cyan, printable(scope))] : []),
    printable(String(entry.msg ?? '')),
  ];
  const fields: string[] = [];
  for (const [key, value] of Object.entries(entry)) {
    if (OMITTED.has(key) || value === undefined) continue;
    fields.push(`${paint(ANSI.dim, `${printable(key)}=`)}${fieldText(key, value)}`);
  }
  return [...parts, ...fields].join(' ');
}

function fieldText(key: string, value: unknown): string {
  let text: string;
  if (key === 'err' && value !== null && typeof value === 'object' && 'message' in value)
    text = String((value as { message: unknown }).message);
  else if (typeof value === 'string') text = value;
  else text = JSON.stringify(value) ?? String(value);
  if (text.length > 200) text = `${text.slice(0, 197)}...`;
  const escaped = printable(text);
  return /[\s"=]/.test(escaped) || escaped === '' ? `"${escaped.replace(/"/g, '\\"')}"` : escaped;
}

const pad = (n: number): string => String(n).padStart(2, '0');
