import integration from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import common from '@chirpstack/chirpstack-api/common/common_pb.js';
import { errorMessage } from '../../src/sdk/index.js';
import { EventError } from './events.js';
import type { ChirpstackEvent } from './spec.js';

/**
 * ChirpStack v4 binary Protobuf events (`[integration.mqtt] json = false`), decoded with
 * ChirpStack's own API definitions (@chirpstack/chirpstack-api) and turned into the JSON shape the
 * v4 JSON encoding has, so that one parser handles both.
 */

interface ProtoMessage {
  toObject(): Record<string, unknown>;
  getObject?(): { toJavaScript(): Record<string, unknown> } | undefined;
}
interface ProtoClass {
  deserializeBinary(bytes: Uint8Array): ProtoMessage;
}

const CLASSES: Partial<Record<ChirpstackEvent, ProtoClass>> = {
  up: integration.UplinkEvent,
  join: integration.JoinEvent,
  status: integration.StatusEvent,
  ack: integration.AckEvent,
  txack: integration.TxAckEvent,
  log: integration.LogEvent,
  location: integration.LocationEvent,
};

const names = (enumeration: object) =>
  new Map((Object.entries(enumeration) as [string, number][]).map(([name, value]) => [value, name]));
const LOG_LEVELS = names(integration.LogLevel);
const LOG_CODES = names(integration.LogCode);
const LOCATION_SOURCES = names(common.LocationSource);
const TIMESTAMPS = new Set(['time', 'gwTime', 'nsTime']);

/** google-protobuf's toObject() names: `rxInfoList` -> `rxInfo`, `tagsMap` pairs -> an object, Timestamps -> RFC 3339. */
function jsonShape(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => jsonShape(v));
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  if (TIMESTAMPS.has(key) && typeof obj.seconds === 'number')
    return new Date(obj.seconds * 1000 + Math.floor(Number(obj.nanos ?? 0) / 1e6)).toISOString();
  const out: Record<string, unknown> = {};
  if (key === 'location') {
    // As in the JSON mapping of nested messages: an unknown source and a zero accuracy are left out.
    const { source, accuracy, ...rest } = obj;
    if (typeof source === 'number' && source !== 0)
      out.source = LOCATION_SOURCES.get(source) ?? String(source);
    if (typeof accuracy === 'number' && accuracy !== 0) out.accuracy = accuracy;
    return { ...rest, ...out };
  }
  for (const [k, v] of Object.entries(obj)) {
    if (k.endsWith('List') && Array.isArray(v)) out[k.slice(0, -4)] = jsonShape(v);
    else if (k.endsWith('Map') && Array.isArray(v))
      out[k.slice(0, -3)] = Object.fromEntries((v as [string, unknown][]).map(([a, b]) => [a, jsonShape(b)]));
    else out[k] = jsonShape(v, k);
  }
  return out;
}

/** Decodes a binary event of the type the topic names into the v4 JSON shape. Throws EventError. */
export function decodeProtobufEvent(event: ChirpstackEvent, bytes: Uint8Array): Record<string, unknown> {
  const cls = CLASSES[event];
  if (!cls)
    throw new EventError(`ChirpStack ${event} events have no Protobuf definition here; set json = true`);
  let message: ProtoMessage;
  try {
    message = cls.deserializeBinary(bytes);
  } catch (error) {
    throw new EventError(
      `the payload is neither JSON nor a ChirpStack v4 Protobuf ${event} event (${errorMessage(error)})`,
    );
  }
  const body = jsonShape(message.toObject()) as Record<string, unknown>;
  if (event === 'up') {
    // Struct's toObject() is a list of typed fields; toJavaScript() gives the plain object.
    const object = message.getObject?.();
    if (object) body.object = object.toJavaScript();
    else delete body.object;
  }
  if (event === 'log') {
    body.level = LOG_LEVELS.get(body.level as number) ?? String(body.level);
    body.code = LOG_CODES.get(body.code as number) ?? String(body.code);
  }
  return body;
}
