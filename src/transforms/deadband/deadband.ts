import {
  compileGetter,
  compileTemplate,
  type ComponentContext,
  type Message,
  type Transform,
  type TransformContext,
} from '../../sdk/index.js';
import { observedText, type Band, type Observation, type Observed } from './decide.js';
import { KEY_SHORTCUTS, type DeadbandTransformConfig } from './spec.js';
import { MemoryState, RedisState, type DeadbandState, type Decision } from './state.js';

/** A key longer than this is refused: it would bloat the state (a payload used as key by mistake). */
const MAX_KEY_LENGTH = 1024;
const AUTO_KEYS = [KEY_SHORTCUTS.nodeId, KEY_SHORTCUTS.devEui, KEY_SHORTCUTS.topic];

type Getter = (m: Message) => unknown;

/** Report by exception: passes a message only when a value changed beyond the band (per key). */
export class DeadbandTransform implements Transform {
  private readonly key: (m: Message) => string | undefined;
  private readonly keyHint: string;
  private readonly keyName: string;
  private readonly fields: [path: string, get: Getter][];
  private readonly status: Getter[];
  private readonly state: DeadbandState;
  /** The memory state (or the Redis state's fallback), for tests and metrics. */
  readonly memory: MemoryState;

  constructor(config: DeadbandTransformConfig, ctx: Omit<ComponentContext, 'setState'>) {
    ({ get: this.key, hint: this.keyHint } = keyResolver(config.key, ctx.pipeline));
    this.keyName = config.key;
    this.fields = (config.fields ?? ['payload']).map((path) => [path, compileGetter(path)]);
    this.status = config.status.map((path) => compileGetter(path));
    const band: Band = {
      absolute: config.absolute,
      percent: config.percent,
      maxSilenceMs: config.maxSilence,
    };
    const evicted = ctx.metrics.counter(
      'passerelle_deadband_evicted_keys_total',
      'Keys forgotten by the deadband in-memory state beyond maxKeys (their next value passes).',
    );
    let warned = false;
    this.memory = new MemoryState(band, config.maxKeys, (count) => {
      evicted.inc(undefined, count);
      if (!warned) {
        warned = true;
        ctx.logger.warn(
          { maxKeys: config.maxKeys },
          'deadband: more keys than maxKeys; the least recently seen are forgotten (raise maxKeys?)',
        );
      }
    });
    if (ctx.redisUrl) {
      const fallbacks = ctx.metrics.counter(
        'passerelle_deadband_fallback_messages_total',
        'Messages the deadband decided from memory because Redis could not be reached.',
      );
      this.state = new RedisState({
        url: ctx.redisUrl,
        prefix: `passerelle:deadband:{${ctx.pipeline}:${ctx.component}}:`,
        band,
        ttlMs: config.stateTtl,
        timeoutMs: config.redisTimeout,
        logger: ctx.logger,
        fallback: this.memory,
        onFallback: (count) => fallbacks.inc(undefined, count),
      });
    } else {
      this.state = this.memory;
    }
  }

  apply(batch: Message[], ctx: TransformContext): Message[] | Promise<Message[]> {
    const items: Decision[] = [];
    const candidates: Message[] = [];
    for (const message of batch) {
      const decision = this.observe(message);
      if (typeof decision === 'string') ctx.reject(message, `deadband: ${decision}`);
      else {
        items.push(decision);
        candidates.push(message);
      }
    }
    const flags = this.state.decide(items);
    if (flags instanceof Promise) return flags.then((f) => candidates.filter((_, i) => f[i]));
    return candidates.filter((_, i) => flags[i]);
  }

  async close(): Promise<void> {
    await this.state.close();
  }

  /** The key and the observed values of a message, or the reason it can not be judged. */
  private observe(message: Message): Decision | string {
    const key = this.key(message);
    if (key === undefined || key === '') return `no key for this message: ${this.keyHint}`;
    if (key.length > MAX_KEY_LENGTH)
      return `the key is ${key.length} characters long (at most ${MAX_KEY_LENGTH}): is key: ${this.keyName} the right key?`;
    if (!Number.isFinite(message.time)) return `the message time is not a number (${String(message.time)})`;
    const values: Record<string, Observed> = {};
    let found = 0;
    for (const [path, get] of this.fields) {
      const value = get(message);
      if (value === undefined) continue;
      const observed = observe(value);
      if (typeof observed === 'string') return `${path} ${observed}`;
      values[path] = observed;
      found++;
    }
    if (found === 0)
      return this.fields.length === 1
        ? `${this.fields[0]![0]} is missing from this message`
        : `none of ${this.fields.map(([p]) => p).join(', ')} is in this message`;
    const observation: Observation = { time: message.time, status: this.statusOf(message), values };
    return { key, observation };
  }

  private statusOf(message: Message): string {
    let values: unknown[] | undefined;
    for (let i = 0; i < this.status.length; i++) {
      const value = this.status[i]!(message);
      if (value === undefined || value === null) continue;
      values ??= new Array<unknown>(this.status.length).fill(null);
      values[i] = value;
    }
    // Most messages carry no status at all: no text to build for them.
    return values ? textOf(values).x : '';
  }
}

function observe(value: unknown): Observed | string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return `is not a finite number (${value})`;
    return { n: value };
  }
  return textOf(value);
}

function textOf(value: unknown): { x: string } {
  if (value instanceof Uint8Array)
    return observedText(`bytes:${Buffer.from(value).toString('hex')}`) as { x: string };
  let text: string;
  try {
    text = JSON.stringify(value, (_k, v: unknown) =>
      typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
    );
  } catch {
    text = String(value);
  }
  return observedText(text) as { x: string };
}

function keyResolver(
  key: string,
  pipeline: string,
): { get: (m: Message) => string | undefined; hint: string } {
  const fromMeta = (names: readonly string[]) => (m: Message) => {
    for (const name of names) {
      const value = m.meta[name];
      if (typeof value === 'string' || typeof value === 'number') return String(value);
    }
    return undefined;
  };
  if (key === 'auto')
    return {
      get: fromMeta(AUTO_KEYS),
      hint: `it has none of the metadata keys ${AUTO_KEYS.join(', ')} (set key: to a template such as "{{ payload.device }}")`,
    };
  if (key in KEY_SHORTCUTS) {
    const name = KEY_SHORTCUTS[key as keyof typeof KEY_SHORTCUTS];
    return {
      get: fromMeta([name]),
      hint: `key: ${key} reads the metadata key ${name}, which it does not have`,
    };
  }
  const render = compileTemplate(key);
  return { get: (m) => render(m, { pipeline }), hint: `the key template "${key}" gave nothing` };
}
