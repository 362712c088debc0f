import { carriedJson, type Message } from '../../src/sdk/index.js';
import type { PayloadEncoding } from './spec.js';

/** `text`: the JSON text `value` was parsed from (kept with the message, see `jsonMessage`). */
export type Decoded = { ok: true; value: unknown; text?: string } | { ok: false; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function describeJsonError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // V8 quotes the whole input in its message; keep the reason readable for large payloads.
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

/** Decodes a received payload; a failure carries the reason given to the dead letters. */
export function decodePayload(bytes: Uint8Array, encoding: PayloadEncoding, maxBytes: number): Decoded {
  if (bytes.byteLength > maxBytes)
    return { ok: false, reason: `payload of ${bytes.byteLength} bytes exceeds maxPayloadBytes ${maxBytes}` };
  if (encoding === 'bytes') return { ok: true, value: bytes };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: `invalid UTF-8 in the payload (${bytes.byteLength} bytes)` };
  }
  if (encoding === 'text') return { ok: true, value: text };
  try {
    const value: unknown = JSON.parse(text);
    // An object or array keeps its text: sent as it came while no transform replaces it.
    return typeof value === 'object' && value !== null ? { ok: true, value, text } : { ok: true, value };
  } catch (error) {
    return { ok: false, reason: `invalid JSON: ${describeJsonError(error)}` };
  }
}

/**
 * Encodes a message's payload to publish, serialising an object at most once: JSON text the source
 * received or the outbox stored is sent as it is when no transform replaced the payload. JSON stays
 * a string: mqtt.js writes it to the socket as UTF-8 without a Buffer per message in between.
 */
export function encodeMessagePayload(message: Message, encoding: PayloadEncoding): string | Buffer {
  if (encoding === 'json') {
    const carried = carriedJson(message);
    if (carried !== undefined) return carried;
    if (!(message.payload instanceof Uint8Array)) return jsonText(message.payload);
  }
  return encodePayload(message.payload, encoding);
}

function jsonText(payload: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (error) {
    throw new Error(
      `payload can not be encoded as JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return text ?? 'null';
}

/** Encodes a payload to publish; throws a readable error when it can not be encoded. */
export function encodePayload(payload: unknown, encoding: PayloadEncoding): Buffer {
  if (payload instanceof Uint8Array)
    return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  switch (encoding) {
    case 'json':
      return Buffer.from(jsonText(payload), 'utf8');
    case 'text':
      if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
      if (typeof payload === 'number' || typeof payload === 'boolean' || typeof payload === 'bigint')
        return Buffer.from(String(payload), 'utf8');
      throw new Error(
        `payload encoding text needs a string, number or boolean payload, got ${describeType(payload)}`,
      );
    case 'bytes':
      if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
      throw new Error(`payload encoding bytes needs a bytes or string payload, got ${describeType(payload)}`);
  }
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
