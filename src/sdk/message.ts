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

/** Approximate size in bytes of a message, for batching by bytes and payload limits. */
export function messageSize(message: Message): number {
  const p = message.payload;
  if (p instanceof Uint8Array) return p.byteLength + 64;
  if (typeof p === 'string') return Buffer.byteLength(p) + 64;
  if (typeof p === 'number' || typeof p === 'boolean' || p == null) return 72;
  return Buffer.byteLength(JSON.stringify(p) ?? '') + 64;
}

/** Encodes a payload for transport: bytes as they are, strings as UTF-8, anything else as JSON. */
export function encodePayload(payload: unknown, encoding: 'json' | 'text' | 'bytes' = 'json'): Buffer {
  if (payload instanceof Uint8Array)
    return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (encoding === 'text' && typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (encoding === 'bytes' && typeof payload === 'string') return Buffer.from(payload, 'utf8');
  return Buffer.from(JSON.stringify(payload) ?? 'null', 'utf8');
}
