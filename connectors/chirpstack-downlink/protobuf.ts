import { createHash } from 'node:crypto';
import { chirpstackType } from '../chirpstack/protobuf.js';

/**
 * Downlink commands in ChirpStack's binary encoding (`[integration.mqtt] json = false`): the JSON
 * command body turned into an `integration.DownlinkCommand` of ChirpStack's own definitions
 * (connectors/chirpstack/proto-definitions.ts, v4.19.0), so both encodings carry the same command.
 */

const downlinkCommand = chirpstackType('integration.DownlinkCommand');

/** The v4 JSON command body, as the sink builds it. */
export interface CommandBody {
  id?: string;
  devEui: string;
  confirmed: boolean;
  fPort: number;
  data?: string;
  object?: Record<string, unknown>;
  expiresAt?: string;
}

type StructValue =
  | { nullValue: 0 }
  | { numberValue: number }
  | { stringValue: string }
  | { boolValue: boolean }
  | { structValue: { fields: Record<string, StructValue> } }
  | { listValue: { values: StructValue[] } };

/** A JSON value as google.protobuf.Value. Keys go in a null-prototype object: `__proto__` stays a key. */
function structValue(value: unknown): StructValue {
  if (value === null) return { nullValue: 0 };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(structValue) } };
  return { structValue: structOf(value as Record<string, unknown>) };
}

function structOf(object: Record<string, unknown>): { fields: Record<string, StructValue> } {
  const fields = Object.create(null) as Record<string, StructValue>;
  for (const [key, value] of Object.entries(object)) fields[key] = structValue(value);
  return { fields };
}

/** Encodes a command body; `object` goes through JSON first so both encodings see the same values. */
export function encodeDownlinkCommand(body: CommandBody): Buffer {
  const message: Record<string, unknown> = {
    id: body.id ?? '',
    devEui: body.devEui,
    confirmed: body.confirmed,
    fPort: body.fPort,
  };
  if (body.data !== undefined) message.data = Buffer.from(body.data, 'base64');
  if (body.object !== undefined)
    message.object = structOf(JSON.parse(JSON.stringify(body.object)) as Record<string, unknown>);
  if (body.expiresAt !== undefined) {
    const ms = Date.parse(body.expiresAt);
    message.expiresAt = { seconds: Math.floor(ms / 1000), nanos: (((ms % 1000) + 1000) % 1000) * 1e6 };
  }
  return Buffer.from(downlinkCommand.encode(message).finish());
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The namespace of passerelle's command ids (a random UUID, fixed once). */
const NAMESPACE = Buffer.from('6f1d2c4e8a3b4f0e9c7d5b2a1e0f3c48', 'hex');

/**
 * A UUID for `name`: the name itself when it is a UUID, else a name-based UUID (RFC 9562 version
 * 5, SHA-1) of it, so the same name always gives the same id.
 */
export function commandUuid(name: string): string {
  if (UUID.test(name)) return name.toLowerCase();
  const hash = createHash('sha1').update(NAMESPACE).update(name, 'utf8').digest();
  hash[6] = ((hash[6] as number) & 0x0f) | 0x50;
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
