import { decodeByteLayout, decodeCayenneLpp, errorMessage } from '../../src/sdk/index.js';
import { EventError, eventTime, type ParsedEvent } from './events.js';
import type { ChirpstackSourceConfig, DecoderSpec } from './spec.js';

/**
 * Builds the record (the message payload) and its metadata from a parsed event, decoding the
 * frame payload with the configured decoder (README "Record format" and "Decoding").
 */

export type ObjectSource = 'chirpstack' | 'cayenne-lpp' | 'byte-layout' | null;

type RecordOptions = Pick<
  ChirpstackSourceConfig,
  'decoder' | 'decoders' | 'useChirpstackObject' | 'dataEncoding'
>;

export function decoderFor(config: RecordOptions, fPort: number): DecoderSpec {
  return config.decoders?.[String(fPort)] ?? config.decoder;
}

function decode(spec: DecoderSpec, bytes: Buffer, fPort: number): Record<string, unknown> | null {
  try {
    switch (spec.type) {
      case 'none':
        return null;
      case 'cayenne-lpp':
        return decodeCayenneLpp(bytes);
      case 'byte-layout':
        return decodeByteLayout(spec.layout, bytes);
    }
  } catch (error) {
    throw new EventError(`fPort ${fPort}: ${errorMessage(error)}`);
  }
}

/** Dedup key of an event, or undefined when it has no identity to dedupe on. */
export function dedupKey(e: ParsedEvent): string | undefined {
  if (e.deduplicationId) return `${e.event}:${e.deduplicationId}`;
  if ('uplink' in e) return `up:${e.devEui}:${e.uplink.devAddr ?? ''}:${e.uplink.fCnt}`;
  const f = e.fields;
  switch (e.event) {
    case 'log':
      return `log:${e.devEui}:${e.time}:${String(f.code)}`;
    case 'txack':
      return f.downlinkId != null
        ? `txack:${String(f.downlinkId)}`
        : `txack:${e.devEui}:${String(f.fCntDown)}`;
    case 'ack':
      return `ack:${e.devEui}:${String(f.fCntDown)}`;
    default:
      return undefined;
  }
}

export interface BuiltRecord {
  payload: Record<string, unknown>;
  meta: Record<string, unknown>;
  time: number;
}

/** The record for an event; throws EventError when the configured decoder fails. */
export function buildRecord(
  e: ParsedEvent,
  config: RecordOptions,
  counters: { fCntGap: number; fCntReset: boolean },
): BuiltRecord {
  const base = (): Record<string, unknown> => ({
    event: e.event,
    format: e.format,
    time: e.time,
    deduplicationId: e.deduplicationId,
    devEui: e.devEui,
    deviceName: e.deviceName,
    applicationId: e.applicationId,
    applicationName: e.applicationName,
    tenantId: e.tenantId,
    tenantName: e.tenantName,
    deviceProfileId: e.deviceProfileId,
    deviceProfileName: e.deviceProfileName,
    tags: e.tags,
  });
  const meta: Record<string, unknown> = {
    'chirpstack.event': e.event,
    'chirpstack.format': e.format,
    'chirpstack.devEui': e.devEui,
    'chirpstack.applicationId': e.applicationId,
  };
  if (e.deviceName !== null) meta['chirpstack.deviceName'] = e.deviceName;
  if (e.deduplicationId !== null) meta['chirpstack.deduplicationId'] = e.deduplicationId;
  const time = eventTime(e.time);
  if (!('uplink' in e)) return { payload: Object.assign(base(), e.fields), meta, time };

  const u = e.uplink;
  let object: Record<string, unknown> | null = null;
  let objectSource: ObjectSource = null;
  if (u.object && config.useChirpstackObject) {
    object = u.object;
    objectSource = 'chirpstack';
  } else {
    const spec = decoderFor(config, u.fPort);
    object = decode(spec, u.bytes, u.fPort);
    objectSource = object === null ? (u.object ? 'chirpstack' : null) : (spec.type as ObjectSource);
    if (object === null && u.object) object = u.object;
  }
  meta['chirpstack.fPort'] = u.fPort;
  meta['chirpstack.fCnt'] = u.fCnt;
  // One literal, no spread: `{ ...base, 17 more keys }` costs V8 ~30 µs per record (measured).
  return {
    payload: {
      event: e.event,
      format: e.format,
      time: e.time,
      deduplicationId: e.deduplicationId,
      devEui: e.devEui,
      deviceName: e.deviceName,
      applicationId: e.applicationId,
      applicationName: e.applicationName,
      tenantId: e.tenantId,
      tenantName: e.tenantName,
      deviceProfileId: e.deviceProfileId,
      deviceProfileName: e.deviceProfileName,
      tags: e.tags,
      devAddr: u.devAddr,
      fPort: u.fPort,
      fCnt: u.fCnt,
      confirmed: u.confirmed,
      adr: u.adr,
      dr: u.dr,
      frequency: u.frequency,
      spreadingFactor: u.spreadingFactor,
      bandwidth: u.bandwidth,
      gateway: u.gateway,
      gatewayCount: u.gatewayCount,
      data: u.bytes.toString(config.dataEncoding),
      object,
      objectSource,
      fCntGap: counters.fCntGap,
      fCntReset: counters.fCntReset,
    },
    meta,
    time,
  };
}
