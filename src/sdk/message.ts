import { receptionTime } from './clock.js';

/** One unit of data on its way through a pipeline. */
export interface Message {
  /** Stable for the same source event (a redelivery keeps it), so idempotent sinks can dedupe. */
  id: string;
  /** The decoded value: object, array, number, string, boolean, null, or bytes (Uint8Array). */
  payload: unknown;
  /**
   * Namespaced keys set by components: `mqtt.topic`, `mqtt.qos`, `opcua.nodeId`, ... Read-only once
   * the message is made: several messages may share one meta object (the mqtt source gives
   * consecutive messages of one topic the same one), so a component copies it to change it.
   */
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
 * A message carries its bytes: a source that parsed JSON text keeps the text with the message,
 * with the payload value it gave. While `message.payload` is still that value (no transform
 * replaced it: transforms copy what they change, they never edit a payload in place), the text is
 * the payload's JSON: sinks send it as it came, sizes are measured on it and the Redis outbox stores
 * it without serialising. Private fields of a class rather than a WeakMap or symbols: a WeakMap
 * entry per message costs microseconds and GC work, symbols would show in spreads and deep
 * equality; private fields cost nothing and are invisible (a spread makes a plain message without
 * them, which is serialised when needed). Text, not bytes: a Buffer sliced from a socket read would
 * keep the whole read alive.
 */
class JsonMessage implements Message {
  readonly #of: unknown;
  readonly #text: string;

  constructor(
    public id: string,
    public payload: unknown,
    text: string,
    public meta: Record<string, unknown>,
    public time: number,
  ) {
    this.#of = payload;
    this.#text = text;
  }

  static carried(message: Message): string | undefined {
    if (!(message instanceof JsonMessage)) return undefined;
    return message.#of === message.payload ? message.#text : undefined;
  }
}

const UNPARSED: unique symbol = Symbol('unparsed');

/**
 * A message read back from storage as JSON text: the payload is parsed on its first read, so a sink
 * that writes JSON (it sends the text) never parses it, and no payload object lives through the
 * write. `payload` is an own enumerable property (an accessor), so a spread or `JSON.stringify`
 * of the message reads it like any other; one shared descriptor keeps every instance on one map.
 */
class StoredJsonMessage implements Message {
  declare payload: unknown;
  readonly #text: string;
  #value: unknown = UNPARSED;
  #replaced = false;

  constructor(
    public id: string,
    text: string,
    public meta: Record<string, unknown>,
    public time: number,
  ) {
    this.#text = text;
    Object.defineProperty(this, 'payload', STORED_PAYLOAD);
  }

  static read(m: StoredJsonMessage): unknown {
    if (m.#value === UNPARSED) m.#value = JSON.parse(m.#text);
    return m.#value;
  }

  static write(m: StoredJsonMessage, value: unknown): void {
    m.#value = value;
    m.#replaced = true;
  }

  static carried(message: Message): string | undefined {
    if (!(message instanceof StoredJsonMessage)) return undefined;
    return message.#replaced ? undefined : message.#text;
  }
}

const STORED_PAYLOAD: PropertyDescriptor = {
  get(this: StoredJsonMessage): unknown {
    return StoredJsonMessage.read(this);
  },
  set(this: StoredJsonMessage, value: unknown): void {
    StoredJsonMessage.write(this, value);
  },
  enumerable: true,
  configurable: true,
};

/**
 * A message whose payload is the JSON `text` (as stored by the Redis outbox), parsed on the first
 * read of `payload`; until a new payload is assigned, it carries `text` like `jsonMessage`.
 * `text` must be valid JSON (a read throws what `JSON.parse` throws).
 */
export function storedJsonMessage(
  id: string,
  text: string,
  meta: Record<string, unknown>,
  time: number,
): Message {
  return new StoredJsonMessage(id, text, meta, time);
}

/**
 * A message whose payload was parsed from JSON `text`: sinks that write JSON send `text` as it is
 * while no transform replaced the payload, and the Redis outbox stores it as it is.
 */
export function jsonMessage(
  id: string,
  payload: unknown,
  text: string,
  meta: Record<string, unknown>,
  time: number,
): Message {
  return new JsonMessage(id, payload, text, meta, time);
}

/** The JSON text the message carries for its current payload, if any (never serialises). */
export function carriedJson(message: Message): string | undefined {
  return JsonMessage.carried(message) ?? StoredJsonMessage.carried(message);
}

/**
 * The JSON text of a message's payload: the text it carries (see `jsonMessage`) or
 * `JSON.stringify`. Throws what `JSON.stringify` throws (BigInt, cycles).
 */
export function payloadJson(message: Message): string {
  return carriedJson(message) ?? JSON.stringify(message.payload) ?? 'null';
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
 * About the length of `value`'s JSON without building it: a walk that allocates nothing. Strings
 * count their UTF-16 length (exact for ASCII), numbers 8; a `toJSON` value (Date) 24; bytes as
 * their length. Deeper than 64 levels counts as 64 bytes more.
 */
function jsonLength(value: unknown, depth: number): number {
  if (typeof value === 'string') return value.length + 2;
  if (typeof value === 'number') return 8;
  if (typeof value === 'boolean') return 5;
  if (value === null || value === undefined) return 4;
  if (typeof value !== 'object') return 8;
  if (depth > 64) return 64;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) {
    let n = 2;
    for (let i = 0; i < value.length; i++) n += jsonLength(value[i], depth + 1) + 1;
    return n;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return 24;
  let n = 2;
  const obj = value as Record<string, unknown>;
  for (const key in obj) n += key.length + 4 + jsonLength(obj[key], depth + 1);
  return n;
}

/**
 * Approximate size in bytes of a message (its payload as bytes, UTF-8, or about the length of its
 * JSON, plus a fixed overhead), for batching by bytes and the process's memory budget. Never
 * serialises: the JSON text the message carries is measured, an object without one is walked.
 */
export function messageSize(message: Message): number {
  const text = carriedJson(message);
  if (text !== undefined) return utf8Length(text) + MESSAGE_OVERHEAD_BYTES;
  const p = message.payload;
  if (p instanceof Uint8Array) return p.byteLength + MESSAGE_OVERHEAD_BYTES;
  if (typeof p === 'string') return utf8Length(p) + MESSAGE_OVERHEAD_BYTES;
  if (typeof p === 'number' || typeof p === 'boolean' || p == null) return 8 + MESSAGE_OVERHEAD_BYTES;
  return jsonLength(p, 0) + MESSAGE_OVERHEAD_BYTES;
}

/** Encodes a payload for transport: bytes as they are, strings as UTF-8, anything else as JSON. */
export function encodePayload(payload: unknown, encoding: 'json' | 'text' | 'bytes' = 'json'): Buffer {
  if (payload instanceof Uint8Array)
    return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (encoding === 'text' && typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (encoding === 'bytes' && typeof payload === 'string') return Buffer.from(payload, 'utf8');
  return Buffer.from(JSON.stringify(payload) ?? 'null', 'utf8');
}
