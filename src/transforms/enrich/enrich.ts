import {
  compileTemplate,
  errorMessage,
  type Message,
  type Transform,
  type TransformContext,
} from '../../sdk/index.js';
import { copyObject } from '../shared/field-paths.js';
import type { EnrichTransformConfig } from './spec.js';
import { compileTopicPattern, type TopicPattern } from './topic-pattern.js';

type Value = (m: Message, pipeline: string) => unknown;
type FieldList = [name: string, value: Value, dynamic: boolean][];

/** Adds static or templated fields, place and subject tags, the processing time and topic levels. */
export class EnrichTransform implements Transform {
  /** Everything but the topic levels and the processing time, flattened to one list of writes. */
  private readonly additions: FieldList;
  private readonly topic: TopicPattern | undefined;

  constructor(private readonly config: EnrichTransformConfig) {
    const toMeta = config.target === 'meta';
    this.additions = compileFields(config.fields);
    for (const group of ['place', 'subject'] as const) {
      const list = compileFields(config[group]);
      if (list.length === 0) continue;
      if (toMeta)
        for (const [name, value, dynamic] of list) this.additions.push([`${group}.${name}`, value, dynamic]);
      else if (list.every(([, , dynamic]) => !dynamic)) {
        const constant = deepFreeze(
          Object.fromEntries(list.map(([name, value]) => [name, value(undefined!, '')])),
        );
        this.additions.push([group, () => constant, false]);
      } else
        this.additions.push([
          group,
          (m, pipeline) => Object.fromEntries(list.map(([name, value]) => [name, value(m, pipeline)])),
          true,
        ]);
    }
    this.topic = config.topic === undefined ? undefined : compileTopicPattern(config.topic);
  }

  apply(batch: Message[], ctx: TransformContext): Message[] {
    const { overwrite, processingTime: timeField, target } = this.config;
    const toPayload = target === 'payload';
    const now = Date.now();
    const processingTime = this.config.processingTimeFormat === 'iso' ? new Date(now).toISOString() : now;
    const out: Message[] = [];
    for (const message of batch) {
      if (toPayload && !isPlainObject(message.payload)) {
        ctx.reject(
          message,
          `enrich: the payload is ${describe(message.payload)}, not an object: use target: meta, or map it into an object first`,
        );
        continue;
      }
      const base = toPayload ? (message.payload as Record<string, unknown>) : message.meta;
      // One copy of the payload (or meta) per message, written in place: no intermediate objects.
      // A loop of assignments, not a spread: adding keys to a spread copy is several times slower.
      const merged = copyObject(base);
      // Writes go through `set` (no closure per message: this runs per message in a relay).
      if (this.topic) {
        const topic = message.meta['mqtt.topic'];
        const levels = typeof topic === 'string' ? this.topic.match(topic) : undefined;
        if (levels) for (const key in levels) set(merged, base, overwrite, key, levels[key]);
        else if (this.config.onTopicMismatch === 'reject') {
          ctx.reject(
            message,
            typeof topic === 'string'
              ? `enrich: the topic "${excerpt(topic)}" does not match the pattern "${this.topic.source}"`
              : 'enrich: the message has no MQTT topic (meta mqtt.topic) to match the pattern',
          );
          continue;
        }
      }
      try {
        const additions = this.additions;
        for (let i = 0; i < additions.length; i++) {
          const [key, value] = additions[i]!;
          set(merged, base, overwrite, key, value(message, ctx.pipeline));
        }
      } catch (error) {
        ctx.reject(message, `enrich: ${errorMessage(error)}`);
        continue;
      }
      if (timeField !== undefined) set(merged, base, overwrite, timeField, processingTime);
      out.push(
        toPayload
          ? { id: message.id, payload: merged, meta: message.meta, time: message.time }
          : { id: message.id, payload: message.payload, meta: merged, time: message.time },
      );
    }
    return out;
  }
}

/** Writes `key` into the copy unless the original has it and `overwrite` is off. */
function set(
  merged: Record<string, unknown>,
  base: Record<string, unknown>,
  overwrite: boolean,
  key: string,
  value: unknown,
): void {
  if (overwrite || !(key in base)) merged[key] = value;
}

function compileFields(map: Record<string, unknown> | undefined): FieldList {
  return Object.entries(map ?? {}).map(([name, value]) => {
    if (typeof value === 'string' && value.includes('{{')) {
      const render = compileTemplate(value, { strict: true });
      return [name, (m: Message, pipeline: string) => render(m, { pipeline }), true];
    }
    // Static values are shared by every output message: frozen, so no later transform can change them all.
    const frozen = deepFreeze(value);
    return [name, () => frozen, false];
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  return `a ${typeof value}`;
}

function excerpt(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
