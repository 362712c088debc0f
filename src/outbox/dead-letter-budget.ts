import { boundedCopy, nodeCrypto, type Message } from '../sdk/index.js';
import { encodeMessage, type EncodedMessage } from './codec.js';
import type { DeadLetter, DeadLetterRetention, StoredPayload } from './types.js';

/**
 * The byte budget of the dead letters, shared by the memory and the Redis store: a payload is kept
 * whole up to `maxMessageBytes`; a larger one keeps its first `maxMessageBytes` bytes with its
 * size and SHA-256. A payload nested deeper than MAX_STORED_DEPTH is kept as its JSON text (Redis'
 * Lua JSON decoder stops at 1,000 levels, V8's JSON.stringify a few thousand). Either way the
 * entry says so in `stored`, and it cannot be replayed: it is not the original message.
 */
export const DEFAULT_DEAD_LETTER_MESSAGE_BYTES = 64 * 1024;
export const DEFAULT_DEAD_LETTER_BYTES = 64 * 1024 * 1024;
export const MAX_STORED_DEPTH = 100;
const MAX_REASON_CHARS = 2000;

export function messageBytesOf(retention: DeadLetterRetention): number {
  return retention.maxMessageBytes ?? DEFAULT_DEAD_LETTER_MESSAGE_BYTES;
}

export function totalBytesOf(retention: DeadLetterRetention): number {
  return retention.maxBytes ?? DEFAULT_DEAD_LETTER_BYTES;
}

/** What a store keeps of one dead letter. */
export interface BudgetedEntry {
  entry: Omit<DeadLetter, 'id'>;
  /** The entry's JSON (the outbox codec's form), without its id: see `withId`. */
  json: string;
}

export type StoredEntry = Omit<DeadLetter, 'message'> & { message: EncodedMessage };

/** Bounds one dead letter; never throws, whatever the message holds. */
export function budgetEntry(input: Omit<DeadLetter, 'id'>, maxMessageBytes: number): BudgetedEntry {
  const reason =
    input.reason.length > MAX_REASON_CHARS
      ? `${input.reason.slice(0, MAX_REASON_CHARS)}… (${input.reason.length - MAX_REASON_CHARS} more characters)`
      : input.reason;
  try {
    const { payload, stored } = budgetPayload(input.message.payload, maxMessageBytes);
    const message: Message = stored ? { ...input.message, payload } : input.message;
    const entry: Omit<DeadLetter, 'id'> = { ...input, reason, message, ...(stored ? { stored } : {}) };
    return { entry, json: JSON.stringify({ ...entry, message: encodeMessage(message) }) };
  } catch {
    // Something JSON can not hold (a cycle, a bigint, meta nested too deep): keep a bounded rendering.
    const limits = { maxDepth: MAX_STORED_DEPTH, maxBytes: maxMessageBytes };
    const bytes = Buffer.from(JSON.stringify(boundedCopy(input.message.payload, limits)) ?? 'null', 'utf8');
    const kept = utf8Boundary(bytes, maxMessageBytes);
    const safe: Message = {
      ...input.message,
      payload: bytes.subarray(0, kept).toString('utf8'),
      meta: boundedCopy(input.message.meta, { maxDepth: 20, maxBytes: 16 * 1024 }) as Record<string, unknown>,
    };
    // Not the original in any case: size and hash are those of the rendering.
    const stored: StoredPayload = { ...describe('json', bytes, kept), truncated: true };
    const entry: Omit<DeadLetter, 'id'> = { ...input, reason, message: safe, stored };
    return { entry, json: JSON.stringify({ ...entry, message: encodeMessage(safe) }) };
  }
}

/** The stored JSON of an entry with its id (first, so it reads well in redis-cli). */
export function withId(json: string, id: string): string {
  return `{"id":${JSON.stringify(id)},${json.slice(1)}`;
}

/** The UTF-8 size of a stored entry's JSON: what it costs in Redis (HSTRLEN) and counts against `maxBytes`. */
export function storedSize(json: string): number {
  return Buffer.byteLength(json, 'utf8');
}

/** Why a dead letter cannot be replayed, or undefined when it can. */
export function replayRefusal(entry: Pick<DeadLetter, 'stored'>): string | undefined {
  const stored = entry.stored;
  if (!stored) return undefined;
  if (stored.truncated)
    return `only the first ${stored.kept} of ${stored.size} bytes of its payload are kept (SHA-256 ${stored.sha256}): it is not the original message`;
  return `its payload is nested deeper than ${MAX_STORED_DEPTH} levels and is kept as JSON text: it is not the original message`;
}

function budgetPayload(payload: unknown, maxBytes: number): { payload: unknown; stored?: StoredPayload } {
  if (payload instanceof Uint8Array) {
    if (payload.byteLength <= maxBytes) return { payload };
    return {
      payload: Buffer.from(payload.subarray(0, maxBytes)),
      stored: describe('bytes', payload, maxBytes),
    };
  }
  if (typeof payload === 'string') {
    // Cheap bound first: a string of n UTF-16 units has at most 3n UTF-8 bytes.
    if (payload.length * 3 <= maxBytes) return { payload };
    const bytes = Buffer.from(payload, 'utf8');
    if (bytes.byteLength <= maxBytes) return { payload };
    const kept = utf8Boundary(bytes, maxBytes);
    return { payload: bytes.subarray(0, kept).toString('utf8'), stored: describe('text', bytes, kept) };
  }
  if (payload === null || typeof payload !== 'object') return { payload };
  const { text, depth } = toJson(payload);
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.byteLength <= maxBytes && depth <= MAX_STORED_DEPTH) return { payload };
  if (bytes.byteLength <= maxBytes)
    return { payload: text, stored: { ...describe('json', bytes, bytes.byteLength), truncated: false } };
  const kept = utf8Boundary(bytes, maxBytes);
  return { payload: bytes.subarray(0, kept).toString('utf8'), stored: describe('json', bytes, kept) };
}

function describe(form: StoredPayload['form'], whole: Uint8Array, kept: number): StoredPayload {
  return {
    form,
    size: whole.byteLength,
    sha256: nodeCrypto().createHash('sha256').update(whole).digest('hex'),
    kept,
    truncated: kept < whole.byteLength,
  };
}

/** The largest length <= max that does not cut a UTF-8 sequence. */
function utf8Boundary(bytes: Uint8Array, max: number): number {
  let end = Math.min(max, bytes.byteLength);
  while (end > 0 && end < bytes.byteLength && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return end;
}

type Frame =
  | { kind: 'array'; items: unknown[]; index: number }
  | { kind: 'object'; source: Record<string, unknown>; keys: string[]; index: number; written: number };

/**
 * JSON text of a payload as the outbox codec stores it (bytes as `{"$bytes": base64}`, a lone
 * `$bytes`/`$esc` key escaped as `{"$esc": ...}`), built without recursion so any depth works, with
 * the deepest nesting seen. For plain JSON data the text equals JSON.stringify(encodeValue(value)).
 */
export function toJson(value: unknown): { text: string; depth: number } {
  const parts: string[] = [];
  const stack: Frame[] = [];
  const open = new Set<object>();
  let depth = 0;
  // `pending` is the next value to write; containers push a frame and are continued from the loop.
  let pending: unknown = value;
  let hasPending = true;
  for (;;) {
    if (hasPending) {
      hasPending = false;
      const v = jsonValue(pending);
      if (v === undefined) parts.push('null');
      else if (v === null || typeof v !== 'object') parts.push(JSON.stringify(v) ?? 'null');
      else if (v instanceof Uint8Array)
        parts.push(
          `{"$bytes":${JSON.stringify(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'))}}`,
        );
      else if (open.has(v)) throw new TypeError('circular structure');
      else if (Array.isArray(v)) {
        open.add(v);
        parts.push('[');
        stack.push({ kind: 'array', items: v, index: 0 });
      } else {
        const source = v as Record<string, unknown>;
        open.add(source);
        const keys = Object.keys(source);
        const wrap = keys.length === 1 && (keys[0] === '$bytes' || keys[0] === '$esc');
        if (wrap) {
          // As the codec: {"$esc": {...}}, one level more.
          parts.push('{"$esc":');
          stack.push({ kind: 'object', source: { $esc: undefined }, keys: [], index: 0, written: -1 });
        }
        parts.push('{');
        stack.push({ kind: 'object', source, keys, index: 0, written: 0 });
      }
      depth = Math.max(depth, stack.length);
    }
    const frame = stack[stack.length - 1];
    if (!frame) break;
    if (frame.kind === 'array') {
      if (frame.index >= frame.items.length) {
        parts.push(']');
        open.delete(frame.items);
        stack.pop();
        continue;
      }
      if (frame.index > 0) parts.push(',');
      pending = frame.items[frame.index++];
      hasPending = true;
      continue;
    }
    if (frame.written === -1) {
      // The $esc wrapper: its only member was written; close it.
      parts.push('}');
      stack.pop();
      continue;
    }
    let next: string | undefined;
    while (frame.index < frame.keys.length) {
      const key = frame.keys[frame.index++] as string;
      const v = jsonValue(frame.source[key]);
      if (v === undefined) continue; // JSON drops undefined, functions and symbols in objects
      next = key;
      pending = v;
      break;
    }
    if (next === undefined) {
      parts.push('}');
      open.delete(frame.source);
      stack.pop();
      continue;
    }
    parts.push(`${frame.written++ > 0 ? ',' : ''}${JSON.stringify(next)}:`);
    hasPending = true;
  }
  return { text: parts.join(''), depth };
}

/** What JSON.stringify would serialise for `v` (after toJSON), undefined for what it drops. */
function jsonValue(v: unknown): unknown {
  switch (typeof v) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      return v.toString();
    case 'number':
      return Number.isFinite(v) ? v : null;
    case 'object':
      if (v === null || v instanceof Uint8Array || Array.isArray(v)) return v;
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function')
        return (v as { toJSON(): unknown }).toJSON();
      return v;
    default:
      return v;
  }
}
