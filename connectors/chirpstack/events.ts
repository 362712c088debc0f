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
  /** `parent`, `key` and `index` name where the object is in the event, for error messages only. */
  constructor(
    private readonly obj: Json,
    private readonly parent?: Reader,
    private readonly key?: string,
    private readonly index?: number,
  ) {}

  /** Built when an error needs it: a path string per nested object and event was garbage. */
  private get path(): string {
    if (!this.parent) return '';
    const at = this.parent.where(this.key as string);
    return this.index === undefined ? at : `${at}[${this.index}]`;
  }

  private where(key: string) {
    const path = this.path;
    return path ? `${path}.${key}` : key;
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
    return new Reader(v, this, key);
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
      return new Reader(item, this, key, i);
    });
  }

  tags(key: string): Record<string, string> {
    const v = this.obj[key];
    if (v === undefined || v === null) return {};
    if (!isObject(v)) throw new EventError(`${this.where(key)} must be an object, got ${typeName(v)}`);
    const out: Record<string, string> = {};
    // for-in rather than Object.entries: no array of pairs per event (JSON objects have no inherited keys).
    for (const k in v) {
      const value = v[k];
      out[k] = typeof value === 'string' ? value : String(value);
    }
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
  const detected = detectFormat(body);
  const format = detected === 'v4' && protobuf ? 'v4-protobuf' : detected;
  const parsed = parseWith(DIALECTS[format], new Reader(body), event, format, receivedAt);
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

/**
 * What differs between the formats, as data: field names, how EUIs and device addresses are
 * written, where the device fields live. One parser (`parseWith`) reads every format through it.
 */
interface Dialect {
  /** The device fields: v4 nests them in deviceInfo, v3 has them at the top level. */
  device(r: Reader, event: ChirpstackEvent, format: EventFormat, receivedAt: number): DeviceFields;
  /** Field names: `gatewayId`/`gatewayID`, `snr`/`loRaSNR`, `confirmed`/`confirmedUplink`, `fCntDown`/`fCnt`. */
  keys: { gatewayId: string; snr: string; confirmed: string; fCntDown: string };
  /** A gateway EUI as written in this format, as 16 lower-case hex characters (v4: as it is). */
  gatewayEui(value: string, what: string): string;
  devAddr(value: string | null): string | null;
  /** v4 events name the downlink (queue item id, downlink id); v3 events do not. */
  downlinkIds: boolean;
  lora(tx: Reader | null): Reader | null;
  /** Hz per unit of the bandwidth field: 1 (v4, Hz) or 1,000 (v3, kHz). */
  bandwidthScale: number;
  /** The data rate when the event has none: 0 (v4 omits zero values) or the txInfo's (v3). */
  defaultDr(tx: Reader | null): number | null;
  /** ChirpStack's decoded object, unchecked. */
  object(r: Reader): unknown;
  log(r: Reader): Record<string, unknown>;
}

const V4: Dialect = {
  device: (r, event, format, receivedAt) => {
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
  },
  keys: { gatewayId: 'gatewayId', snr: 'snr', confirmed: 'confirmed', fCntDown: 'fCntDown' },
  gatewayEui: (value) => value,
  devAddr: (value) => value,
  downlinkIds: true,
  lora: (tx) => tx?.obj_('modulation')?.obj_('lora') ?? null,
  bandwidthScale: 1,
  // Nested gateway messages omit zero values (ChirpStack >= 4.1 emits only top-level defaults): missing is 0.
  defaultDr: () => 0,
  object: (r) => r.raw('object'),
  log: (r) => ({
    level: r.str('level') ?? 'INFO',
    code: r.str('code') ?? 'UNKNOWN',
    description: r.str('description') ?? '',
    context: r.tags('context'),
  }),
};

function euiOf(value: string, format: EventFormat, what: string): string {
  if (format === 'v3-json_v3') {
    if (!HEX_EUI.test(value)) throw new EventError(`${what} "${clip(value)}" is not 16 hex characters`);
    return value.toLowerCase();
  }
  const bytes = decodeBase64(value, what);
  if (bytes.length !== 8) throw new EventError(`${what} is ${bytes.length} bytes, an EUI is 8`);
  return bytes.toString('hex');
}

/** v3 `json_v3` (hex EUIs and devAddr, `object`) or `json` (base64 EUIs and devAddr, `objectJSON` text). */
function v3(format: 'v3-json_v3' | 'v3-json'): Dialect {
  return {
    device: (r, event, _format, receivedAt) => ({
      event,
      format,
      time: isoTime(r.str('publishedAt') ?? r.list('rxInfo')[0]?.str('time') ?? null, 'time', receivedAt),
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
    }),
    keys: { gatewayId: 'gatewayID', snr: 'loRaSNR', confirmed: 'confirmedUplink', fCntDown: 'fCnt' },
    gatewayEui: (value, what) => euiOf(value, format, what),
    devAddr: (value) =>
      value === null
        ? null
        : format === 'v3-json'
          ? decodeBase64(value, 'devAddr').toString('hex')
          : value.toLowerCase(),
    downlinkIds: false,
    lora: (tx) => tx?.obj_('loRaModulationInfo') ?? null,
    bandwidthScale: 1000,
    defaultDr: (tx) => tx?.num('dr') ?? null,
    object: (r) => {
      if (format !== 'v3-json') return r.raw('object');
      const text = r.str('objectJSON');
      if (!text) return null;
      try {
        return JSON.parse(text);
      } catch {
        throw new EventError(`objectJSON is not valid JSON: "${clip(text)}"`);
      }
    },
    // v3 `error` events: type (e.g. UPLINK_CODEC), error text, and the frame counter of the
    // uplink it is about (left out by the marshalers when 0 or not about an uplink: null).
    log: (r) => ({
      level: 'ERROR',
      code: r.str('type') ?? 'UNKNOWN',
      description: r.str('error') ?? '',
      context: {},
      fCnt: r.num('fCnt'),
    }),
  };
}

const DIALECTS: Record<EventFormat, Dialect> = {
  v4: V4,
  'v4-protobuf': V4,
  'v3-json_v3': v3('v3-json_v3'),
  'v3-json': v3('v3-json'),
};

function parseWith(
  d: Dialect,
  r: Reader,
  event: ChirpstackEvent,
  format: EventFormat,
  receivedAt: number,
): ParsedEvent {
  // The device fields' object becomes the event (no copy: one object fewer per event).
  const device = d.device(r, event, format, receivedAt);
  if (event !== 'up') {
    const other = device as DeviceFields & { fields: Record<string, unknown> };
    other.fields = eventFields(d, r, event);
    return other;
  }
  const { gatewayId, snr, confirmed } = d.keys;
  const gateways = r.list('rxInfo').map((g) => {
    const gw: Gateway = {
      id: d.gatewayEui(g.requiredStr(gatewayId), `rxInfo.${gatewayId}`),
      rssi: g.num('rssi') ?? 0,
      snr: g.num(snr) ?? 0,
      location: location(g.obj_('location')),
    };
    return gw;
  });
  const tx = r.obj_('txInfo');
  const lora = d.lora(tx);
  const object = d.object(r) ?? null;
  if (object !== null && !isObject(object))
    throw new EventError(`object must be an object, got ${typeName(object)}`);
  const data = r.str('data');
  const bandwidth = lora?.num('bandwidth') ?? null;
  const up = device as DeviceFields & { event: 'up'; uplink: UplinkFields };
  up.uplink = {
    devAddr: d.devAddr(r.str('devAddr')),
    fPort: r.num('fPort') ?? 0,
    fCnt: r.num('fCnt') ?? 0,
    confirmed: r.bool(confirmed) ?? false,
    adr: r.bool('adr') ?? false,
    dr: r.num('dr') ?? d.defaultDr(tx),
    frequency: tx?.num('frequency') ?? null,
    spreadingFactor: lora?.num('spreadingFactor') ?? null,
    bandwidth: bandwidth === null ? null : bandwidth * d.bandwidthScale,
    gateway: bestGateway(gateways),
    gatewayCount: gateways.length,
    bytes: data === null ? Buffer.alloc(0) : decodeBase64(data, 'data'),
    object: object as Record<string, unknown> | null,
  };
  return up;
}

function eventFields(d: Dialect, r: Reader, event: ChirpstackEvent): Record<string, unknown> {
  switch (event) {
    case 'join':
      return { devAddr: d.devAddr(r.str('devAddr')) };
    case 'status':
      return {
        margin: r.num('margin') ?? 0,
        externalPowerSource: r.bool('externalPowerSource') ?? false,
        batteryLevelUnavailable: r.bool('batteryLevelUnavailable') ?? false,
        batteryLevel: r.num('batteryLevel') ?? 0,
      };
    case 'ack':
      return {
        queueItemId: d.downlinkIds ? r.str('queueItemId') : null,
        acknowledged: r.bool('acknowledged') ?? false,
        fCntDown: r.num(d.keys.fCntDown) ?? 0,
      };
    case 'txack': {
      const gw = r.str(d.keys.gatewayId);
      return {
        downlinkId: d.downlinkIds ? r.num('downlinkId') : null,
        queueItemId: d.downlinkIds ? r.str('queueItemId') : null,
        fCntDown: r.num(d.keys.fCntDown) ?? 0,
        gatewayId: gw === null ? null : d.gatewayEui(gw, d.keys.gatewayId),
      };
    }
    case 'log':
      return d.log(r);
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
