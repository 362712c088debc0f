import { FatalError } from '../../src/sdk/index.js';
import type { ChirpstackEvent } from './spec.js';

/**
 * ChirpStack event parsing: detects the format of one MQTT payload (v4 JSON, v3 `json_v3`, v3
 * `json`) and normalises it into one record (README "Record format"). Pure functions; every
 * problem is an EventError whose message is the dead-letter reason.
 */

export type EventFormat = 'v4' | 'v4-protobuf' | 'v3-json_v3' | 'v3-json';

export class EventError extends FatalError {}

export interface Gateway {
  id: string;
  rssi: number;
  snr: number;
  /** null when the gateway has no location: absent, `{}`, or latitude and longitude both 0. */
  location: Location | null;
}

export interface Location {
  latitude: number;
  longitude: number;
  altitude: number;
  source?: string;
  accuracy?: number;
}

/** The fields every record has, whatever the event. */
export interface DeviceFields {
  event: ChirpstackEvent;
  format: EventFormat;
  /**
   * Event time, ISO 8601 in UTC with milliseconds; with microseconds when the event has no time and
   * the time it was received stands in (`2024-07-18T09:40:02.113087Z`).
   */
  time: string;
  deduplicationId: string | null;
  devEui: string;
  deviceName: string | null;
  applicationId: string | null;
  applicationName: string | null;
  tenantId: string | null;
  tenantName: string | null;
  deviceProfileId: string | null;
  deviceProfileName: string | null;
  tags: Record<string, string>;
}

export interface UplinkFields {
  devAddr: string | null;
  fPort: number;
  fCnt: number;
  confirmed: boolean;
  adr: boolean;
  dr: number | null;
  frequency: number | null;
  spreadingFactor: number | null;
  bandwidth: number | null;
  gateway: Gateway | null;
  gatewayCount: number;
  /** The frame payload (FRMPayload), undecoded. */
  bytes: Buffer;
  /** ChirpStack's decoded object, when its device profile has a codec. */
  object: Record<string, unknown> | null;
}

export type ParsedEvent =
  | (DeviceFields & { event: 'up'; uplink: UplinkFields })
  | (DeviceFields & { fields: Record<string, unknown> });

/** Topic levels of the event: what the topic template captured. */
export interface TopicInfo {
  event: string;
  applicationId?: string;
  devEui?: string;
}

type Json = Record<string, unknown>;

const HEX_EUI = /^[0-9a-fA-F]{16}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Strict base64: Buffer.from() silently skips bad characters, which would hide a broken payload. */
export function decodeBase64(value: string, what: string): Buffer {
  if (!BASE64.test(value)) throw new EventError(`${what} is not valid base64: "${clip(value)}"`);
  return Buffer.from(value, 'base64');
}

const clip = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}...` : s);

/** Reads typed fields with paths in the error messages. */
class Reader {
  constructor(
    private readonly obj: Json,
    private readonly path: string,
  ) {}

  private where(key: string) {
    return this.path ? `${this.path}.${key}` : key;
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  str(key: string): string | null {
    const v = this.obj[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string')
      throw new EventError(`${this.where(key)} must be a string, got ${typeName(v)}`);
    return v;
  }

  requiredStr(key: string): string {
    const v = this.str(key);
    if (v === null || v === '') throw new EventError(`${this.where(key)} is missing`);
    return v;
  }

  num(key: string): number | null {
    const v = this.obj[key];
    if (v === undefined || v === null) return null;
    // uint64 values come as strings in the protobuf JSON mapping.
    if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new EventError(`${this.where(key)} must be a number, got ${typeName(v)}`);
    return v;
  }

  bool(key: string): boolean | null {
    const v = this.obj[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'boolean')
      throw new EventError(`${this.where(key)} must be true or false, got ${typeName(v)}`);
    return v;
  }

  obj_(key: string): Reader | null {
    const v = this.obj[key];
    if (v === undefined || v === null) return null;
    if (!isObject(v)) throw new EventError(`${this.where(key)} must be an object, got ${typeName(v)}`);
    return new Reader(v, this.where(key));
  }

  raw(key: string): unknown {
    return this.obj[key];
  }

  list(key: string): Reader[] {
    const v = this.obj[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new EventError(`${this.where(key)} must be a list, got ${typeName(v)}`);
    return v.map((item, i) => {
      if (!isObject(item)) throw new EventError(`${this.where(key)}[${i}] must be an object`);
      return new Reader(item, `${this.where(key)}[${i}]`);
    });
  }

  tags(key: string): Record<string, string> {
    const v = this.obj[key];
    if (v === undefined || v === null) return {};
    if (!isObject(v)) throw new EventError(`${this.where(key)} must be an object, got ${typeName(v)}`);
    const out: Record<string, string> = {};
    for (const [k, value] of Object.entries(v)) out[k] = typeof value === 'string' ? value : String(value);
    return out;
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `"${clip(v)}"`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

/** v3 and v4 event names to ours; undefined for an unknown type. */
export function eventOf(wireName: string): ChirpstackEvent | undefined {
  switch (wireName) {
    case 'rx':
      return 'up';
    case 'error':
      return 'log';
    case 'up':
    case 'join':
    case 'status':
    case 'ack':
    case 'txack':
    case 'log':
    case 'location':
    case 'integration':
      return wireName;
    default:
      return undefined;
  }
}

/** The format of a JSON event, from its fields. */
export function detectFormat(body: Json): EventFormat {
  if (isObject(body.deviceInfo)) return 'v4';
  const eui = body.devEUI;
  if (typeof eui === 'string') {
    if (HEX_EUI.test(eui) && typeof body.objectJSON !== 'string') return 'v3-json_v3';
    if (BASE64.test(eui) && Buffer.from(eui, 'base64').length === 8) return 'v3-json';
    throw new EventError(
      `devEUI "${clip(eui)}" is neither 16 hex characters (v3 json_v3) nor base64 of 8 bytes (v3 json)`,
    );
  }
  if ('devEui' in body || 'deduplicationId' in body)
    throw new EventError('deviceInfo is missing: a ChirpStack v4 event carries the device in deviceInfo');
  throw new EventError('not a ChirpStack event: it has neither deviceInfo (v4) nor devEUI (v3)');
}

/**
 * Parses a JSON event body. `receivedAt` is the time used when the event has none (v3).
 * Throws EventError with a readable reason.
 */
export function parseEvent(
  body: unknown,
  topic: TopicInfo,
  receivedAt: number,
  protobuf = false,
): ParsedEvent {
  if (!isObject(body)) throw new EventError(`an event is a JSON object, got ${typeName(body)}`);
  const event = eventOf(topic.event);
  if (!event) throw new EventError(`unknown event type "${topic.event}"`);
  const format = detectFormat(body);
  const parsed =
    format === 'v4'
      ? parseV4(new Reader(body, ''), event, receivedAt, protobuf ? 'v4-protobuf' : 'v4')
      : parseV3(new Reader(body, ''), event, format, receivedAt);
  if (topic.devEui !== undefined && topic.devEui.toLowerCase() !== parsed.devEui)
    throw new EventError(`the topic names device ${topic.devEui} but the event is about ${parsed.devEui}`);
  return parsed;
}

function isoTime(value: string | null, what: string, fallback: number): string {
  if (value === null || value === '') return isoMicros(fallback);
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new EventError(`${what} is not a valid time: "${clip(value)}"`);
  return new Date(t).toISOString();
}

/** A time in milliseconds with a microsecond fraction, as ISO 8601 with six decimals. */
export function isoMicros(time: number): string {
  const ms = Math.floor(time);
  const micros = Math.round((time - ms) * 1000);
  const iso = new Date(ms + (micros === 1000 ? 1 : 0)).toISOString();
  return `${iso.slice(0, -1)}${String(micros % 1000).padStart(3, '0')}Z`;
}

/** The time of an event's ISO 8601 text in milliseconds, with the microseconds isoMicros wrote. */
export function eventTime(iso: string): number {
  const ms = Date.parse(iso);
  const micros = /\.\d{3}(\d{3})Z$/.exec(iso)?.[1];
  return micros === undefined ? ms : (ms * 1000 + Number(micros)) / 1000;
}

/**
 * A location, or null when there is none. ChirpStack sends a gateway without a location as `{}`
 * (the JSON mapping leaves zero values out of nested messages) or as 0/0 (v3): not "Null Island".
 */
function location(r: Reader | null): Location | null {
  if (!r) return null;
  const latitude = r.num('latitude') ?? 0;
  const longitude = r.num('longitude') ?? 0;
  if (latitude === 0 && longitude === 0) return null;
  const loc: Location = { latitude, longitude, altitude: r.num('altitude') ?? 0 };
  const source = r.str('source');
  if (source !== null) loc.source = source;
  const accuracy = r.num('accuracy');
  if (accuracy !== null) loc.accuracy = accuracy;
  return loc;
}

/** Best gateway: highest SNR (the demodulation margin), then highest RSSI. */
function bestGateway(gateways: Gateway[]): Gateway | null {
  let best: Gateway | null = null;
  for (const g of gateways)
    if (!best || g.snr > best.snr || (g.snr === best.snr && g.rssi > best.rssi)) best = g;
  return best;
}

function v4Device(r: Reader, event: ChirpstackEvent, receivedAt: number, format: EventFormat): DeviceFields {
  const info = r.obj_('deviceInfo') as Reader;
  const eui = info.requiredStr('devEui');
  if (!HEX_EUI.test(eui)) throw new EventError(`deviceInfo.devEui "${clip(eui)}" is not 16 hex characters`);
  return {
    event,
    format,
    time: isoTime(r.str('time'), 'time', receivedAt),
    deduplicationId: r.str('deduplicationId'),
    devEui: eui.toLowerCase(),
    deviceName: info.str('deviceName'),
    applicationId: info.str('applicationId'),
    applicationName: info.str('applicationName'),
    tenantId: info.str('tenantId'),
    tenantName: info.str('tenantName'),
    deviceProfileId: info.str('deviceProfileId'),
    deviceProfileName: info.str('deviceProfileName'),
    tags: info.tags('tags'),
  };
}

function parseV4(r: Reader, event: ChirpstackEvent, receivedAt: number, format: EventFormat): ParsedEvent {
  const device = v4Device(r, event, receivedAt, format);
  if (event === 'up') {
    // Nested gateway messages omit zero values (ChirpStack >= 4.1 emits only top-level defaults): missing is 0.
    const gateways = r.list('rxInfo').map((g) => {
      const gw: Gateway = {
        id: g.requiredStr('gatewayId'),
        rssi: g.num('rssi') ?? 0,
        snr: g.num('snr') ?? 0,
        location: location(g.obj_('location')),
      };
      return gw;
    });
    const tx = r.obj_('txInfo');
    const lora = tx?.obj_('modulation')?.obj_('lora') ?? null;
    const object = r.raw('object');
    if (object !== undefined && object !== null && !isObject(object))
      throw new EventError(`object must be an object, got ${typeName(object)}`);
    const data = r.str('data');
    return {
      ...device,
      event: 'up',
      uplink: {
        devAddr: r.str('devAddr'),
        fPort: r.num('fPort') ?? 0,
        fCnt: r.num('fCnt') ?? 0,
        confirmed: r.bool('confirmed') ?? false,
        adr: r.bool('adr') ?? false,
        dr: r.num('dr') ?? 0,
        frequency: tx?.num('frequency') ?? null,
        spreadingFactor: lora?.num('spreadingFactor') ?? null,
        bandwidth: lora?.num('bandwidth') ?? null,
        gateway: bestGateway(gateways),
        gatewayCount: gateways.length,
        bytes: data === null ? Buffer.alloc(0) : decodeBase64(data, 'data'),
        object: (object as Record<string, unknown> | undefined) ?? null,
      },
    };
  }
  return { ...device, fields: v4Fields(r, event) };
}

function v4Fields(r: Reader, event: ChirpstackEvent): Record<string, unknown> {
  switch (event) {
    case 'join':
      return { devAddr: r.str('devAddr') };
    case 'status':
      return {
        margin: r.num('margin') ?? 0,
        externalPowerSource: r.bool('externalPowerSource') ?? false,
        batteryLevelUnavailable: r.bool('batteryLevelUnavailable') ?? false,
        batteryLevel: r.num('batteryLevel') ?? 0,
      };
    case 'ack':
      return {
        queueItemId: r.str('queueItemId'),
        acknowledged: r.bool('acknowledged') ?? false,
        fCntDown: r.num('fCntDown') ?? 0,
      };
    case 'txack':
      return {
        downlinkId: r.num('downlinkId'),
        queueItemId: r.str('queueItemId'),
        fCntDown: r.num('fCntDown') ?? 0,
        gatewayId: r.str('gatewayId'),
      };
    case 'log':
      return {
        level: r.str('level') ?? 'INFO',
        code: r.str('code') ?? 'UNKNOWN',
        description: r.str('description') ?? '',
        context: r.tags('context'),
      };
    case 'location': {
      const loc = location(r.obj_('location'));
      if (!loc) throw new EventError('location is missing or empty (no latitude and longitude)');
      return { location: loc };
    }
    case 'integration':
      return {
        integrationName: r.str('integrationName'),
        eventType: r.str('eventType'),
        object: r.raw('object') ?? null,
      };
    case 'up':
      return {};
  }
}

function euiOf(value: string, format: EventFormat, what: string): string {
  if (format === 'v3-json_v3') {
    if (!HEX_EUI.test(value)) throw new EventError(`${what} "${clip(value)}" is not 16 hex characters`);
    return value.toLowerCase();
  }
  const bytes = decodeBase64(value, what);
  if (bytes.length !== 8) throw new EventError(`${what} is ${bytes.length} bytes, an EUI is 8`);
  return bytes.toString('hex');
}

/** v3 json: `devAddr` is base64 bytes; json_v3: hex. */
function devAddrOf(value: string | null, format: EventFormat): string | null {
  if (value === null) return null;
  return format === 'v3-json' ? decodeBase64(value, 'devAddr').toString('hex') : value.toLowerCase();
}

function parseV3(r: Reader, event: ChirpstackEvent, format: EventFormat, receivedAt: number): ParsedEvent {
  const rx = r.list('rxInfo');
  const device: DeviceFields = {
    event,
    format,
    time: isoTime(r.str('publishedAt') ?? rx[0]?.str('time') ?? null, 'time', receivedAt),
    deduplicationId: null,
    devEui: euiOf(r.requiredStr('devEUI'), format, 'devEUI'),
    deviceName: r.str('deviceName'),
    applicationId: r.has('applicationID') ? String(r.raw('applicationID')) : null,
    applicationName: r.str('applicationName'),
    tenantId: null,
    tenantName: null,
    // json_v3 says deviceProfileUUID (models.go), the v3 json marshaler deviceProfileID.
    deviceProfileId: r.str('deviceProfileUUID') ?? r.str('deviceProfileID'),
    deviceProfileName: r.str('deviceProfileName'),
    tags: r.tags('tags'),
  };
  if (event === 'up') {
    const gateways = rx.map((g) => {
      const gw: Gateway = {
        id: euiOf(g.requiredStr('gatewayID'), format, 'rxInfo.gatewayID'),
        rssi: g.num('rssi') ?? 0,
        snr: g.num('loRaSNR') ?? 0,
        location: location(g.obj_('location')),
      };
      return gw;
    });
    const tx = r.obj_('txInfo');
    const lora = tx?.obj_('loRaModulationInfo') ?? null;
    let object: unknown = null;
    if (format === 'v3-json') {
      const text = r.str('objectJSON');
      if (text) {
        try {
          object = JSON.parse(text);
        } catch {
          throw new EventError(`objectJSON is not valid JSON: "${clip(text)}"`);
        }
      }
    } else {
      object = r.raw('object') ?? null;
    }
    if (object !== null && !isObject(object))
      throw new EventError(`object must be an object, got ${typeName(object)}`);
    const data = r.str('data');
    const bandwidthKhz = lora?.num('bandwidth') ?? null;
    return {
      ...device,
      event: 'up',
      uplink: {
        devAddr: devAddrOf(r.str('devAddr'), format),
        fPort: r.num('fPort') ?? 0,
        fCnt: r.num('fCnt') ?? 0,
        confirmed: r.bool('confirmedUplink') ?? false,
        adr: r.bool('adr') ?? false,
        dr: r.num('dr') ?? tx?.num('dr') ?? null,
        frequency: tx?.num('frequency') ?? null,
        spreadingFactor: lora?.num('spreadingFactor') ?? null,
        bandwidth: bandwidthKhz === null ? null : bandwidthKhz * 1000,
        gateway: bestGateway(gateways),
        gatewayCount: gateways.length,
        bytes: data === null ? Buffer.alloc(0) : decodeBase64(data, 'data'),
        object: object as Record<string, unknown> | null,
      },
    };
  }
  return { ...device, fields: v3Fields(r, event, format) };
}

function v3Fields(r: Reader, event: ChirpstackEvent, format: EventFormat): Record<string, unknown> {
  switch (event) {
    case 'join':
      return { devAddr: devAddrOf(r.str('devAddr'), format) };
    case 'status':
      return {
        margin: r.num('margin') ?? 0,
        externalPowerSource: r.bool('externalPowerSource') ?? false,
        batteryLevelUnavailable: r.bool('batteryLevelUnavailable') ?? false,
        batteryLevel: r.num('batteryLevel') ?? 0,
      };
    case 'ack':
      return {
        queueItemId: null,
        acknowledged: r.bool('acknowledged') ?? false,
        fCntDown: r.num('fCnt') ?? 0,
      };
    case 'txack': {
      const gw = r.str('gatewayID');
      return {
        downlinkId: null,
        queueItemId: null,
        fCntDown: r.num('fCnt') ?? 0,
        gatewayId: gw === null ? null : euiOf(gw, format, 'gatewayID'),
      };
    }
    case 'log':
      // v3 `error` events: type (e.g. UPLINK_CODEC), error text, and the frame counter of the
      // uplink it is about (left out by the marshalers when 0 or not about an uplink: null).
      return {
        level: 'ERROR',
        code: r.str('type') ?? 'UNKNOWN',
        description: r.str('error') ?? '',
        context: {},
        fCnt: r.num('fCnt'),
      };
    case 'location': {
      const loc = location(r.obj_('location'));
      if (!loc) throw new EventError('location is missing or empty (no latitude and longitude)');
      return { location: loc };
    }
    case 'integration':
      return {
        integrationName: r.str('integrationName'),
        eventType: r.str('eventType'),
        object: r.raw('object') ?? null,
      };
    case 'up':
      return {};
  }
}
