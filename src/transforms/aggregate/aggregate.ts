import {
  compileGetter,
  compileTemplate,
  type ComponentContext,
  type ComponentGauge,
  type Message,
  type Transform,
  type TransformContext,
} from '../../sdk/index.js';
import type { AggregateFunction, AggregateTransformConfig } from './spec.js';

const MAX_KEY_LENGTH = 1024;
const AUTO_KEYS = ['opcua.nodeId', 'chirpstack.devEui', 'mqtt.topic'];
const META_KEYS: Record<string, string> = {
  topic: 'mqtt.topic',
  nodeId: 'opcua.nodeId',
  devEui: 'chirpstack.devEui',
};
/** A message this far ahead of the host clock (plus one window) would hold its window open: rejected. */
const MAX_AHEAD_MS = 3_600_000;

/** Running figures of one field in one window; the sum is compensated (Neumaier) for long windows. */
interface FieldStats {
  count: number;
  min: number;
  max: number;
  sum: number;
  compensation: number;
  first: number;
  firstTime: number;
  last: number;
  lastTime: number;
}

interface Window {
  key: string;
  start: number;
  firstMessage: Message;
  count: number;
  fields: FieldStats[];
}

/** Tumbling windows per key; a window is emitted by flush() once its end (plus lateness) has passed. */
export class AggregateTransform implements Transform {
  readonly flushEvery: number;
  private readonly windows = new Map<string, Window>();
  private readonly key: (m: Message, pipeline: string) => string | undefined;
  private readonly keyHint: string;
  private readonly keyName: string;
  private readonly fields: { name: string; path: string; get: (m: Message) => unknown }[];
  private readonly openWindows: ComponentGauge;
  private readonly pipeline: string;

  constructor(
    private readonly config: AggregateTransformConfig,
    ctx: Omit<ComponentContext, 'setState'>,
  ) {
    this.pipeline = ctx.pipeline;
    this.flushEvery = Math.min(1000, Math.max(100, Math.floor(config.window / 10)));
    ({ get: this.key, hint: this.keyHint } = keyResolver(config.key));
    this.keyName = config.key;
    this.fields = config.fields.map((path) => ({ name: outputName(path), path, get: compileGetter(path) }));
    this.openWindows = ctx.metrics.gauge(
      'passerelle_aggregate_open_windows',
      'Windows of the aggregate transform holding messages, not yet emitted (lost on a crash).',
    );
  }

  /** Absorbs every message into its window: nothing passes on at once (the engine counts them as filtered). */
  apply(batch: Message[], ctx: TransformContext): Message[] {
    const size = this.config.window;
    const now = Date.now();
    for (const message of batch) {
      const values = this.valuesOf(message, now);
      if (typeof values === 'string') {
        ctx.reject(message, `aggregate: ${values}`);
        continue;
      }
      const key = values.key;
      const start = Math.floor(message.time / size) * size;
      const id = `${start}\u0000${key}`;
      let window = this.windows.get(id);
      if (!window) {
        if (this.windows.size >= this.config.maxWindows) {
          ctx.reject(
            message,
            `aggregate: ${this.windows.size} windows are open already (maxWindows ${this.config.maxWindows}): too many keys, or message times spread too widely`,
          );
          continue;
        }
        window = { key, start, firstMessage: message, count: 0, fields: this.fields.map(() => emptyStats()) };
        this.windows.set(id, window);
      }
      window.count++;
      for (let i = 0; i < values.numbers.length; i++) {
        const v = values.numbers[i];
        if (v !== undefined) add(window.fields[i]!, v, message.time);
      }
    }
    this.openWindows.set(undefined, this.windows.size);
    return [];
  }

  /** Emits the windows whose end plus lateness is past `now`; all of them at stop (`now = Infinity`). */
  flush(now: number): Message[] {
    const size = this.config.window;
    const closing: Window[] = [];
    for (const [id, window] of this.windows) {
      if (window.start + size + this.config.lateness <= now) {
        closing.push(window);
        this.windows.delete(id);
      }
    }
    this.openWindows.set(undefined, this.windows.size);
    closing.sort((a, b) => a.start - b.start);
    // Only at stop can a window go out before its end: it is then partial.
    const wallClock = Number.isFinite(now) ? Infinity : Date.now();
    return closing.map((w) => this.output(w, w.start + size > wallClock));
  }

  async close(): Promise<void> {
    this.windows.clear();
  }

  private output(window: Window, partial: boolean): Message {
    const end = window.start + this.config.window;
    const payload: Record<string, unknown> = {
      key: window.key,
      windowStart: new Date(window.start).toISOString(),
      windowEnd: new Date(end).toISOString(),
      count: window.count,
    };
    this.fields.forEach((field, i) => {
      const stats = window.fields[i]!;
      const out: Record<string, number | null> = {};
      for (const fn of this.config.functions) out[fn] = result(stats, fn);
      payload[field.name] = out;
    });
    const first = window.firstMessage;
    return {
      id: `${first.id}~${window.start}`,
      payload,
      meta: {
        ...first.meta,
        'aggregate.key': window.key,
        'aggregate.windowStart': window.start,
        'aggregate.windowEnd': end,
        'aggregate.count': window.count,
        ...(partial ? { 'aggregate.partial': true } : {}),
      },
      time: window.start,
    };
  }

  private valuesOf(message: Message, now: number): { key: string; numbers: (number | undefined)[] } | string {
    const key = this.key(message, this.pipeline);
    if (key === undefined || key === '') return `no key for this message: ${this.keyHint}`;
    if (key.length > MAX_KEY_LENGTH)
      return `the key is ${key.length} characters long (at most ${MAX_KEY_LENGTH}): is key: ${this.keyName} the right key?`;
    if (!Number.isFinite(message.time)) return `the message time is not a number (${String(message.time)})`;
    if (message.time > now + MAX_AHEAD_MS + this.config.window)
      return `the message time ${new Date(message.time).toISOString()} is more than 1h ahead of this host\u2019s clock (its window would stay open until then): check the device clock`;
    const numbers: (number | undefined)[] = [];
    let found = 0;
    for (const field of this.fields) {
      const value = field.get(message);
      if (value === undefined || value === null) {
        numbers.push(undefined);
        continue;
      }
      if (typeof value !== 'number') return `${field.path} is ${describe(value)}, not a number`;
      if (!Number.isFinite(value)) return `${field.path} is not a finite number (${value})`;
      numbers.push(value);
      found++;
    }
    if (found === 0)
      return this.fields.length === 1
        ? `${this.fields[0]!.path} is missing from this message`
        : `none of ${this.fields.map((f) => f.path).join(', ')} is in this message`;
    return { key, numbers };
  }
}

function emptyStats(): FieldStats {
  return {
    count: 0,
    min: Infinity,
    max: -Infinity,
    sum: 0,
    compensation: 0,
    first: 0,
    firstTime: Infinity,
    last: 0,
    lastTime: -Infinity,
  };
}

function add(s: FieldStats, v: number, time: number): void {
  s.count++;
  if (v < s.min) s.min = v;
  if (v > s.max) s.max = v;
  const t = s.sum + v;
  s.compensation += Math.abs(s.sum) >= Math.abs(v) ? s.sum - t + v : v - t + s.sum;
  s.sum = t;
  // Ties keep arrival order: first is the earliest arrival at the earliest time, last the latest.
  if (time < s.firstTime) {
    s.first = v;
    s.firstTime = time;
  }
  if (time >= s.lastTime) {
    s.last = v;
    s.lastTime = time;
  }
}

function result(s: FieldStats, fn: AggregateFunction): number | null {
  if (fn === 'count') return s.count;
  if (s.count === 0) return null;
  switch (fn) {
    case 'min':
      return s.min;
    case 'max':
      return s.max;
    case 'sum':
      return s.sum + s.compensation;
    case 'mean':
      return (s.sum + s.compensation) / s.count;
    case 'first':
      return s.first;
    default:
      return s.last;
  }
}

/** `payload.temperature` -> `temperature`, `payload` -> `value`, `meta.x` -> `meta.x`. */
function outputName(path: string): string {
  if (path === 'payload') return 'value';
  return path.startsWith('payload.') ? path.slice('payload.'.length) : path;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  if (typeof value === 'string')
    return `a string ("${value.length > 40 ? `${value.slice(0, 40)}…` : value}")`;
  return `a ${typeof value}`;
}

function keyResolver(key: string): {
  get: (m: Message, pipeline: string) => string | undefined;
  hint: string;
} {
  const fromMeta = (names: string[]) => (m: Message) => {
    for (const name of names) {
      const value = m.meta[name];
      if (typeof value === 'string' || typeof value === 'number') return String(value);
    }
    return undefined;
  };
  if (key === 'none') return { get: () => '*', hint: '' };
  if (key === 'auto')
    return {
      get: fromMeta(AUTO_KEYS),
      hint: `it has none of the metadata keys ${AUTO_KEYS.join(', ')} (set key: to a template such as "{{ payload.device }}", or none)`,
    };
  const name = META_KEYS[key];
  if (name)
    return {
      get: fromMeta([name]),
      hint: `key: ${key} reads the metadata key ${name}, which it does not have`,
    };
  const render = compileTemplate(key);
  return { get: (m, pipeline) => render(m, { pipeline }), hint: `the key template "${key}" gave nothing` };
}
