import { z } from 'zod';
import { parsePath, type Message } from '../../sdk/index.js';

/**
 * Where decode and encode read and write a value: the payload (`payload`), a field in it
 * (`payload.data`, `payload.sensor["raw.value"]`) or a metadata key (`meta.lorawan.raw`: the key is
 * everything after `meta.`, dots included).
 */
export interface Location {
  text: string;
  get(message: Message): unknown;
  /** A copy of the message with the value set; objects on the way are copied, never changed. */
  set(message: Message, value: unknown): Message | string;
}

export function compileLocation(text: string): Location {
  if (text.startsWith('meta.') && text.length > 5) {
    const key = text.slice(5);
    return {
      text,
      get: (m) => m.meta[key],
      set: (m, value) => ({ id: m.id, payload: m.payload, meta: { ...m.meta, [key]: value }, time: m.time }),
    };
  }
  const segments = parsePath(text);
  if (segments[0] !== 'payload') throw new Error(`"${text}" must be payload, payload.<path> or meta.<key>`);
  const path = segments.slice(1);
  return {
    text,
    get(m) {
      let current: unknown = m.payload;
      for (const s of path) {
        if (current === null || typeof current !== 'object' || current instanceof Uint8Array)
          return undefined;
        current = (current as Record<string | number, unknown>)[s];
      }
      return current;
    },
    set(m, value) {
      if (path.length === 0) return { id: m.id, payload: value, meta: m.meta, time: m.time };
      const payload = setIn(m.payload, path, value);
      if (typeof payload === 'string') return `cannot write ${text}: ${payload}`;
      return { id: m.id, payload, meta: m.meta, time: m.time };
    },
  };
}

function setIn(container: unknown, path: (string | number)[], value: unknown): unknown {
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  if (container === undefined) container = typeof head === 'number' ? [] : {};
  if (container === null || typeof container !== 'object' || container instanceof Uint8Array)
    return `the value on the way is ${container === null ? 'null' : typeof container}, not an object`;
  const copy = (Array.isArray(container) ? [...container] : { ...container }) as Record<
    string | number,
    unknown
  >;
  if (rest.length === 0) copy[head] = value;
  else {
    const inner = setIn(copy[head], rest, value);
    if (typeof inner === 'string') return inner;
    copy[head] = inner;
  }
  return copy;
}

export const locationField = (description: string) =>
  z
    .string()
    .superRefine((text, ctx) => {
      try {
        compileLocation(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    })
    .describe(description);

export function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `text of ${value.length} characters`;
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}
