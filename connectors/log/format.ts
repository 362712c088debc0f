import { printableLines, type Message } from '../../src/sdk/index.js';

/**
 * JSON for any payload, on one line: bytes become base64 strings, bigints decimal strings, cycles
 * "[Circular]". It never throws: a demo sink must not dead-letter data because it looks odd.
 * Control characters JSON leaves raw (DEL, C1, bidi overrides) are escaped too: the line often
 * goes to a terminal. The JSON value is the same.
 */
export function toJsonLine(value: unknown): string {
  return printableLines(jsonLine(value));
}

function jsonLine(value: unknown): string {
  try {
    return JSON.stringify(value, replace) ?? 'null';
  } catch {
    try {
      return JSON.stringify(value, guarded()) ?? 'null';
    } catch (error) {
      // A throwing getter or toJSON: say so rather than fail the batch.
      return JSON.stringify({ unserializable: describe(error) });
    }
  }
}

/** The line for one message: the whole message, or its payload only. */
export function formatMessage(message: Message, fields: 'message' | 'payload'): string {
  if (fields === 'payload') return toJsonLine(message.payload);
  const bytes = ArrayBuffer.isView(message.payload);
  return toJsonLine(
    bytes
      ? {
          id: message.id,
          time: message.time,
          meta: message.meta,
          payload: message.payload,
          payloadEncoding: 'base64',
        }
      : { id: message.id, time: message.time, meta: message.meta, payload: message.payload },
  );
}

// `this[key]` is the value before toJSON ran: a Buffer arrives here already as { type, data }.
function replace(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  if (ArrayBuffer.isView(original))
    return Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64');
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function guarded(): (this: unknown, key: string, value: unknown) => unknown {
  const ancestors: unknown[] = [];
  return function (this: unknown, key: string, value: unknown): unknown {
    const replaced = replace.call(this, key, value);
    if (replaced === null || typeof replaced !== 'object') return replaced;
    // JSON.stringify walks depth-first: drop the ancestors we have left, then look for a cycle.
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
    if (ancestors.includes(replaced)) return '[Circular]';
    ancestors.push(replaced);
    return replaced;
  };
}

function describe(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'unknown error';
  }
}
