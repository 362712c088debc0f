import { carriedJson, storedJsonMessage, type Message } from '../sdk/index.js';

/**
 * Messages to JSON-safe values and back. Bytes (`Uint8Array`, `Buffer`) anywhere in a payload or in
 * meta become `{ "$bytes": base64 }`; NaN, Infinity and -Infinity (which JSON turns into null)
 * become `{ "$num": "NaN" }`, so a sink decides about them the same way behind either outbox; a
 * plain object that itself has the single key `$bytes`, `$num` or `$esc` is wrapped as
 * `{ "$esc": ... }` so that user data never decodes as bytes or numbers. Everything else
 * goes through JSON unchanged (so `undefined` members vanish and a `Date` becomes a string, as in
 * any JSON transport). Encoding copies only the containers that hold bytes; decoding works in
 * place on freshly parsed JSON.
 *
 * An object or array payload that needs none of these markers is stored as its JSON text (`j`), the
 * text the message already carries when it has one (`carriedJson`): it is serialised at most once in
 * the process's life, and a message read back keeps the text and parses it only when its payload is
 * read (`storedJsonMessage`): a sink that writes JSON sends the text as it is and never parses it.
 * Jobs stored before `j` existed (`payload`) still decode.
 */
export type EncodedMessage =
  | { id: string; payload: unknown; meta: unknown; time: number; j?: undefined }
  | { id: string; j: string; meta: unknown; time: number; payload?: undefined };

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function isMarkerKey(key: string): boolean {
  return key === '$bytes' || key === '$num' || key === '$esc';
}

const NON_FINITE: Record<string, number> = { NaN, Infinity, '-Infinity': -Infinity };

/** Returns `value` itself when nothing in it needs encoding, a re-built copy otherwise. */
export function encodeValue(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $num: String(value) };
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) return { $bytes: toBase64(value) };
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const e = encodeValue(v);
      if (e !== v && !out) out = value.slice(0, i);
      if (out) out.push(e);
    }
    return out ?? value;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  const obj = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  let keys = 0;
  let marker = false;
  for (const key in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
    keys++;
    if (isMarkerKey(key)) marker = true;
    const v = obj[key];
    const e = encodeValue(v);
    if (e !== v && !out) {
      out = {};
      for (const k in obj) {
        if (k === key) break;
        if (Object.prototype.hasOwnProperty.call(obj, k)) out[k] = obj[k];
      }
    }
    if (out) out[key] = e;
  }
  const result = out ?? obj;
  return marker && keys === 1 ? { $esc: result } : result;
}

/** Turns `{ $bytes }` back into a Buffer and unwraps `{ $esc }`; mutates parsed JSON in place. */
export function decodeValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = decodeValue(value[i]);
    return value;
  }
  const obj = value as Record<string, unknown>;
  let keys = 0;
  let first: string | undefined;
  for (const key in obj) {
    keys++;
    first ??= key;
    if (keys > 1) break;
  }
  if (keys === 1) {
    if (first === '$bytes' && typeof obj.$bytes === 'string') return Buffer.from(obj.$bytes, 'base64');
    if (first === '$num' && typeof obj.$num === 'string' && obj.$num in NON_FINITE)
      return NON_FINITE[obj.$num];
    if (first === '$esc' && obj.$esc !== null && typeof obj.$esc === 'object') {
      // The escaped object's own keys are literal; its values are still encoded.
      const inner = obj.$esc as Record<string, unknown>;
      for (const key in inner) inner[key] = decodeValue(inner[key]);
      return inner;
    }
  }
  for (const key in obj) obj[key] = decodeValue(obj[key]);
  return obj;
}

/** `meta`: what to store for the meta, when the caller encoded it (or refers to it) already. */
export function encodeMessage(m: Message, meta: unknown = encodeValue(m.meta)): EncodedMessage {
  // Parsed from this text (the source's, or one stored earlier): JSON.parse gives the value back,
  // markers included, since `j` is never read through decodeValue.
  const carried = carriedJson(m);
  if (carried !== undefined) return { id: m.id, j: carried, meta, time: m.time };
  const p = m.payload;
  const payload = encodeValue(p);
  // Nothing inside needs a marker: its own JSON text is exact.
  if (
    payload === p &&
    typeof p === 'object' &&
    p !== null &&
    typeof (p as { toJSON?: unknown }).toJSON !== 'function'
  )
    return { id: m.id, j: JSON.stringify(p), meta, time: m.time };
  return { id: m.id, payload, meta, time: m.time };
}

export function encodeMessages(messages: readonly Message[]): EncodedMessage[] {
  const out = new Array<EncodedMessage>(messages.length);
  for (let i = 0; i < messages.length; i++) out[i] = encodeMessage(messages[i] as Message);
  return out;
}

/**
 * Decodes a message parsed from JSON (mutates it). A `j` payload keeps its text (no re-serialising)
 * and is parsed only when read (`storedJsonMessage`).
 */
export function decodeMessage(e: EncodedMessage): Message {
  if (typeof e.j === 'string')
    return storedJsonMessage(e.id, e.j, (decodeValue(e.meta) ?? {}) as Record<string, unknown>, e.time);
  return {
    id: e.id,
    payload: decodeValue(e.payload),
    meta: (decodeValue(e.meta) ?? {}) as Record<string, unknown>,
    time: e.time,
  };
}

export function decodeMessages(list: EncodedMessage[]): Message[] {
  const out = new Array<Message>(list.length);
  for (let i = 0; i < list.length; i++) out[i] = decodeMessage(list[i] as EncodedMessage);
  return out;
}

/**
 * The data of a stored job (BullMQ serialises it with one `JSON.stringify`): `a` the attempt, `r`
 * one record per message, `t` the metas its records share.
 *
 * A record is an array, `[id, time, meta, j]` (an object or array payload stored as its JSON text
 * `j`, see `encodeMessage`) or `[id, time, meta, 0, payload]` (an encoded payload; no fifth item for
 * `undefined`). `meta` is an index into `t` when the message's meta is flat (strings, booleans, null,
 * finite numbers: what sources set, e.g. `mqtt.topic`, `mqtt.qos`) and equal to another message's
 * of the job, else the encoded meta itself. Messages of one source mostly share their meta, so a
 * job carries it once instead of once per message: about 30 % fewer bytes for the MQTT relay's
 * 100-byte messages, serialised, sent, stored, read back and parsed.
 *
 * Jobs of the earlier form (`m`: one `EncodedMessage` object per message) still decode. The records
 * have a key of their own (`r`, not `m`) so that a replica still running the earlier version fails
 * on such a job (BullMQ retries it, a newer replica takes it) instead of delivering empty messages.
 */
export interface JobData {
  a: number;
  r?: unknown[];
  t?: Record<string, unknown>[];
  /** The earlier form. */
  m?: EncodedMessage[];
}

/** Distinct metas kept per job; past it a meta is stored with its message. */
const META_TABLE_MAX = 32;

/** Own values JSON keeps exactly and no marker: a copy of the parsed object is the original. */
function isFlatMeta(meta: unknown): meta is Record<string, unknown> {
  if (meta === null || typeof meta !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(meta);
  if (proto !== Object.prototype && proto !== null) return false;
  const obj = meta as Record<string, unknown>;
  let keys = 0;
  let marker = false;
  for (const key in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) return false;
    keys++;
    if (isMarkerKey(key)) marker = true;
    const v = obj[key];
    if (typeof v === 'string' || typeof v === 'boolean' || v === null) continue;
    if (typeof v === 'number' && Number.isFinite(v)) continue;
    return false;
  }
  return !(marker && keys === 1);
}

/** Same own keys with the same (flat) values. */
function sameMeta(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  let keys = 0;
  for (const key in a) {
    if (!Object.prototype.hasOwnProperty.call(b, key) || !Object.is(a[key], b[key])) return false;
    keys++;
  }
  for (const _ in b) keys--;
  return keys === 0;
}

/** The data of a job holding `messages` at `attempt`. Throws what JSON would (BigInt, cycles) only when BullMQ serialises it. */
export function encodeJob(messages: readonly Message[], attempt: number): JobData {
  const table: Record<string, unknown>[] = [];
  const m = new Array<unknown>(messages.length);
  let last = -1;
  // The meta object of the last message that went into the table (at `last`): messages of
  // one source share one meta object (the MQTT source's per topic, unit-convert's with units), so
  // the next one usually is the very same object, which needs no walk over its keys (metas are
  // read-only once made, Message.meta).
  let lastObject: unknown;
  for (let i = 0; i < messages.length; i++) {
    const msg = messages[i] as Message;
    let meta: unknown;
    if (last >= 0 && msg.meta === lastObject) {
      meta = last;
    } else if (isFlatMeta(msg.meta)) {
      let idx = last >= 0 && sameMeta(msg.meta, table[last] as Record<string, unknown>) ? last : -1;
      for (let k = 0; idx < 0 && k < table.length; k++)
        if (k !== last && sameMeta(msg.meta, table[k] as Record<string, unknown>)) idx = k;
      if (idx < 0 && table.length < META_TABLE_MAX) idx = table.push(msg.meta) - 1;
      if (idx >= 0) {
        last = idx;
        lastObject = msg.meta;
      }
      meta = idx >= 0 ? idx : msg.meta;
    } else {
      meta = encodeValue(msg.meta);
    }
    const e = encodeMessage(msg, meta);
    m[i] =
      typeof e.j === 'string'
        ? [e.id, e.time, meta, e.j]
        : e.payload === undefined
          ? [e.id, e.time, meta, 0]
          : [e.id, e.time, meta, 0, e.payload];
  }
  return table.length > 0 ? { a: attempt, r: m, t: table } : { a: attempt, r: m };
}

/** Messages of a job's data as parsed from JSON (mutated in place); both record forms. */
export function decodeJob(data: JobData): Message[] {
  const table = data.t ?? [];
  const list: unknown[] = data.r ?? data.m ?? [];
  const out = new Array<Message>(list.length);
  for (let i = 0; i < list.length; i++) {
    const r = list[i];
    if (!Array.isArray(r)) {
      out[i] = decodeMessage(r as EncodedMessage);
      continue;
    }
    // Indexes rather than destructuring, which goes through the array iterator until optimised.
    const id = r[0] as string;
    const time = r[1] as number;
    const metaRef: unknown = r[2];
    const j: unknown = r[3];
    // A copy of a shared meta per message: a sink may change its messages' meta.
    const meta = (
      typeof metaRef === 'number' ? { ...table[metaRef] } : (decodeValue(metaRef) ?? {})
    ) as Record<string, unknown>;
    out[i] =
      typeof j === 'string'
        ? storedJsonMessage(id, j, meta, time)
        : { id, payload: decodeValue(r[4]), meta, time };
  }
  return out;
}

/** The JSON text of a job holding `messages` (what BullMQ stores), for tests and tools. */
export function messagesToJson(messages: readonly Message[]): string {
  return JSON.stringify(encodeJob(messages, 1));
}

export function messagesFromJson(json: string): Message[] {
  return decodeJob(JSON.parse(json) as JobData);
}
