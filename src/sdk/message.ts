import { receptionTime } from './clock.js';

/** One unit of data on its way through a pipeline. */
export interface Message {
  /** Stable for the same source event (a redelivery keeps it), so idempotent sinks can dedupe. */
  id: string;
  /** The decoded value: object, array, number, string, boolean, null, or bytes (Uint8Array). */
  payload: unknown;
  /** Namespaced keys set by components: `mqtt.topic`, `mqtt.qos`, `opcua.nodeId`, ... */
  meta: Record<string, unknown>;
  /**
   * Event time in milliseconds since the epoch, possibly with a fraction at microsecond resolution.
   * Sources that stamp the reception time use `receptionTime()`: unique and increasing within a
   * process, so messages received in the same millisecond keep distinct times.
   */
  time: number;
}

export type Batch = Message[];

/** A message; `meta` defaults to `{}` and `time` to `receptionTime()`. */
export function createMessage(init: Partial<Message> & Pick<Message, 'id' | 'payload'>): Message {
  return { meta: {}, ...init, time: init.time ?? receptionTime() };
}

/** Bytes counted per message on top of its payload: id, meta and the object itself. */
export const MESSAGE_OVERHEAD_BYTES = 64;

/*
 * A message carries its bytes: the JSON text of an object payload is kept with the payload value
 * (keyed by the value itself, so a transform that builds a new payload, or sets `message.payload`,
 * never meets a stale text). A source that parsed the text remembers it; otherwise the first
 * serialisation (for the size, for storage, or by a sink) is the only one. Payload objects are not
 * modified in place once created (transforms copy what they change), which is what keeps it exact.
 * Text, not bytes: a Buffer sliced from a socket read would keep the whole read alive.
 */
const jsonTexts = new WeakMap<object, string>();
/** Messages whose payload is still only JSON text (from the Redis outbox): decoded on first access. */
const undecoded = new WeakMap<object, string>();

function isObjectPayload(p: unknown): p is object {
  return typeof p === 'object' && p !== null && !(p instanceof Uint8Array);
}

/**
 * Records that `text` is the JSON text of `value` (a source that just parsed it). Sinks that write
 * JSON then send these bytes as they came, and the outboxes count and store them without
 * serialising the value again. No effect for a value that is not an object or array.
 */
export function rememberJson(value: unknown, text: string): void {
  if (isObjectPayload(value)) jsonTexts.set(value, text);
}

/**
 * The JSON text of a message's payload, serialised at most once per payload value: the text the
 * source received when no transform replaced the payload, the text the outbox stored, or
 * `JSON.stringify` (then remembered). Throws what `JSON.stringify` throws (BigInt, cycles).
 */
export function payloadJson(message: Message): string {
  const pending = undecoded.get(message);
  if (pending !== undefined) return pending;
  const p = message.payload;
  if (!isObjectPayload(p)) return JSON.stringify(p) ?? 'null';
  const known = jsonTexts.get(p);
  if (known !== undefined) return known;
  const text = JSON.stringify(p) ?? 'null';
  jsonTexts.set(p, text);
  return text;
}

/**
 * A message whose payload is JSON text not parsed yet: `decode` runs on the first read of
 * `payload`, so a sink that only needs the bytes (`payloadJson`) never parses it. The text must be
 * the payload's own JSON (`decode(text)` gives the value, and its JSON is `text`). `payload`, `id`, `meta` and `time` are ordinary enumerable properties (a spread copies
 * the decoded payload).
 */
export function lazyMessage(
  id: string,
  text: string,
  decode: (text: string) => unknown,
  meta: Record<string, unknown>,
  time: number,
): Message {
  let value: unknown;
  let decoded = false;
  const message: Message = {
    id,
    get payload(): unknown {
      if (!decoded) {
        value = decode(text);
        decoded = true;
        undecoded.delete(message);
        rememberJson(value, text);
      }
      return value;
    },
    set payload(v: unknown) {
      value = v;
      decoded = true;
      undecoded.delete(message);
    },
    meta,
    time,
  };
  undecoded.set(message, text);
  return message;
}

/** The JSON text of a lazy message's payload when it was not parsed yet (for the outbox codec). */
export function pendingJson(message: Message): string | undefined {
  return undecoded.get(message);
}

/** UTF-8 length of a string without encoding it (one pass, no allocation). */
function utf8Length(s: string): number {
  const n = s.length;
  if (n < 256) {
    // Short strings: counting in JS beats the native call.
    let bytes = n;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) continue;
      if (c < 0x800) bytes += 1;
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        bytes += 2;
        i++;
      } else bytes += 2;
    }
    return bytes;
  }
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Approximate size in bytes of a message (its payload as bytes, UTF-8 or JSON, plus a fixed
 * overhead), for batching by bytes, payload limits and the process's memory budget. An object
 * payload is serialised at most once (see `payloadJson`). Throws on values JSON can not carry.
 */
export function messageSize(message: Message): number {
  const pending = undecoded.get(message);
  if (pending !== undefined) return utf8Length(pending) + MESSAGE_OVERHEAD_BYTES;
  const p = message.payload;
  if (p instanceof Uint8Array) return p.byteLength + MESSAGE_OVERHEAD_BYTES;
  if (typeof p === 'string') return utf8Length(p) + MESSAGE_OVERHEAD_BYTES;
  if (typeof p === 'number' || typeof p === 'boolean' || p == null) return 8 + MESSAGE_OVERHEAD_BYTES;
  return utf8Length(payloadJson(message)) + MESSAGE_OVERHEAD_BYTES;
}

/** Encodes a payload for transport: bytes as they are, strings as UTF-8, anything else as JSON. */
export function encodePayload(payload: unknown, encoding: 'json' | 'text' | 'bytes' = 'json'): Buffer {
  if (payload instanceof Uint8Array)
    return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (encoding === 'text' && typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (encoding === 'bytes' && typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (isObjectPayload(payload)) {
    const known = jsonTexts.get(payload);
    if (known !== undefined) return Buffer.from(known, 'utf8');
  }
  return Buffer.from(JSON.stringify(payload) ?? 'null', 'utf8');
}
