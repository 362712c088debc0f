import { createRequire } from 'node:module';
import common from '@chirpstack/chirpstack-api/common/common_pb.js';
import gw from '@chirpstack/chirpstack-api/gw/gw_pb.js';
import integration from '@chirpstack/chirpstack-api/integration/integration_pb.js';

/**
 * ChirpStack events as its MQTT integration publishes them, for tests and the benchmark. Field
 * names, types and encodings follow the v4 API definitions (integration.proto, JSON mapping,
 * ChirpStack >= 4.1) and the v3 docs and marshalers (json_v3 and json); values are realistic.
 */

export const APP_V4 = '17c82e96-be03-4f38-aef3-f83d48582d97';
export const APP_V3 = '123';

/** Cayenne LPP: temperature 21.7 (ch 1), humidity 63.5 (ch 2), GPS 48.8694, 2.3522, 35 m (ch 4). */
export const LPP_FRAME_BASE64 = 'AWcA2QJofwSIB3T2AFviAA2s';
export const LPP_OBJECT = {
  temperatureSensor: { '1': 21.7 },
  humiditySensor: { '2': 63.5 },
  gpsLocation: { '4': { latitude: 48.8694, longitude: 2.3522, altitude: 35 } },
};

const deviceInfo = (devEui: string) => ({
  tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242',
  tenantName: 'ChirpStack',
  applicationId: APP_V4,
  applicationName: 'Greenhouse',
  deviceProfileId: '14855bf7-d10d-4aee-b618-ebfcb64dc7ad',
  deviceProfileName: 'Cayenne LPP sensors',
  deviceName: 'gh-sensor-01',
  devEui,
  deviceClassEnabled: 'CLASS_A',
  tags: { site: 'north', building: 'B2' },
});

export interface V4UpOptions {
  devEui?: string;
  fCnt?: number;
  deduplicationId?: string;
  data?: string;
  object?: Record<string, unknown> | null;
  rxInfo?: Record<string, unknown>[];
  fPort?: number;
}

export const GATEWAY_A = {
  gatewayId: '0016c001f153a14c',
  uplinkId: 4217106255,
  nsTime: '2024-07-18T09:34:15.612345678+00:00',
  rssi: -87,
  snr: 7.5,
  channel: 2,
  location: { latitude: 48.87, longitude: 2.35, altitude: 41.0 },
  context: 'E3OWOQ==',
  metadata: { region_config_id: 'eu868', region_common_name: 'EU868' },
  crcStatus: 'CRC_OK',
};

export const GATEWAY_B = {
  gatewayId: '0016c001f1500812',
  uplinkId: 1205371392,
  nsTime: '2024-07-18T09:34:15.613302116+00:00',
  rssi: -104,
  snr: -3.25,
  // channel 0 and rfChain 0 are omitted in the JSON mapping of nested messages.
  context: 'ksFfHA==',
  metadata: { region_config_id: 'eu868', region_common_name: 'EU868' },
  crcStatus: 'CRC_OK',
};

/** A v4 `up` event (JSON encoding). */
export function v4Up(o: V4UpOptions = {}): Record<string, unknown> {
  const devEui = o.devEui ?? '0101010101010101';
  const event: Record<string, unknown> = {
    deduplicationId: o.deduplicationId ?? '3ac7e3c4-4401-4b8d-9386-a5c902f9202d',
    time: '2024-07-18T09:34:15.775023242+00:00',
    deviceInfo: deviceInfo(devEui),
    devAddr: '00189440',
    adr: true,
    dr: 5,
    fCnt: o.fCnt ?? 42,
    fPort: o.fPort ?? 1,
    confirmed: false,
    data: o.data ?? LPP_FRAME_BASE64,
    rxInfo: o.rxInfo ?? [GATEWAY_A],
    txInfo: {
      frequency: 867100000,
      modulation: { lora: { bandwidth: 125000, spreadingFactor: 7, codeRate: 'CR_4_5' } },
    },
    regionConfigId: 'eu868',
  };
  const object = o.object === undefined ? LPP_OBJECT : o.object;
  if (object !== null) event.object = object;
  return event;
}

const v4Common = (devEui = '0101010101010101') => ({
  time: '2024-07-18T09:40:02.113087Z',
  deviceInfo: deviceInfo(devEui),
});

export const v4Join = () => ({
  deduplicationId: 'c9dbe358-2578-4fb7-b295-66b44edc45a6',
  ...v4Common(),
  devAddr: '00189440',
  regionConfigId: 'eu868',
});

export const v4Status = () => ({
  deduplicationId: '9a1e4d2b-8f4f-4b7e-9a55-1a0f8c37b2de',
  ...v4Common(),
  margin: 7,
  externalPowerSource: false,
  batteryLevelUnavailable: false,
  batteryLevel: 87.5,
});

export const v4Ack = () => ({
  deduplicationId: '5c1b2d9e-7a34-4e59-8a9f-0e7a4c3d2b10',
  ...v4Common(),
  queueItemId: '8a2f6d2e-1b5c-4a0e-9c4d-2f3b1a6e7d90',
  acknowledged: true,
  fCntDown: 7,
});

export const v4Txack = () => ({
  downlinkId: 3279568214,
  ...v4Common(),
  queueItemId: '8a2f6d2e-1b5c-4a0e-9c4d-2f3b1a6e7d90',
  fCntDown: 7,
  gatewayId: '0016c001f153a14c',
  txInfo: {
    frequency: 869525000,
    power: 27,
    modulation: {
      lora: { bandwidth: 125000, spreadingFactor: 9, codeRate: 'CR_4_5', polarizationInversion: true },
    },
    timing: { delay: { delay: '1s' } },
    context: 'E3OWOQ==',
  },
});

export const v4Log = () => ({
  ...v4Common(),
  level: 'ERROR',
  code: 'UPLINK_CODEC',
  description: 'Error: temperature out of range',
  context: { deduplication_id: '3ac7e3c4-4401-4b8d-9386-a5c902f9202d' },
});

export const v4Location = () => ({
  deduplicationId: '0e3f1c5a-6b2d-4c8e-9f70-4a1b2c3d4e5f',
  ...v4Common(),
  location: { latitude: 48.8694, longitude: 2.3522, altitude: 35, source: 'GEO_RESOLVER_TDOA', accuracy: 20 },
});

/** A v3 `up` event with the default json_v3 marshaler (hex EUIs, `object`). */
export function v3JsonV3Up(o: { devEui?: string; fCnt?: number; gateways?: Record<string, unknown>[] } = {}) {
  return {
    applicationID: APP_V3,
    applicationName: 'temperature-sensor',
    deviceName: 'garden-sensor',
    // json_v3 (models.go DataUpPayload) names the profile id deviceProfileUUID.
    deviceProfileName: 'cayenne-lpp',
    deviceProfileUUID: 'f4f4cdb5-4d67-4b2b-8e71-0a6a8a3c5d21',
    devEUI: o.devEui ?? '0202020202020202',
    rxInfo: o.gateways ?? [
      {
        gatewayID: '0303030303030303',
        uplinkID: '538c1bd8-48bb-4af6-8614-04807567181a',
        name: 'rooftop-gateway',
        time: '2019-11-08T13:59:25.048445Z',
        rssi: -48,
        loRaSNR: 9,
        location: { latitude: 52.3740364, longitude: 4.9144401, altitude: 10.5 },
      },
    ],
    txInfo: { frequency: 868100000, dr: 5 },
    adr: false,
    fCnt: o.fCnt ?? 10,
    fPort: 5,
    data: 'AWcA+gJoQA==',
    object: { temperatureSensor: { '1': 25 }, humiditySensor: { '2': 32 } },
    tags: { key: 'value' },
  };
}

/** A v3 `up` event with the json marshaler (protobuf JSON mapping: base64 EUIs, `objectJSON`). */
export function v3JsonUp(o: { fCnt?: number } = {}) {
  return {
    applicationID: APP_V3,
    applicationName: 'temperature-sensor',
    deviceName: 'garden-sensor',
    devEUI: 'AgICAgICAgI=',
    rxInfo: [
      {
        gatewayID: 'AwMDAwMDAwM=',
        time: '2019-11-08T13:59:25.048445Z',
        timeSinceGPSEpoch: null,
        rssi: -48,
        loRaSNR: 9,
        channel: 5,
        rfChain: 0,
        board: 0,
        antenna: 0,
        location: { latitude: 52.3740364, longitude: 4.9144401, altitude: 10.5 },
        fineTimestampType: 'NONE',
        context: '9u/uvA==',
        uplinkID: 'U4ce2Ei7SvaGFASAdWcY+g==',
      },
    ],
    txInfo: {
      frequency: 868100000,
      modulation: 'LORA',
      loRaModulationInfo: {
        bandwidth: 125,
        spreadingFactor: 11,
        codeRate: '4/5',
        polarizationInversion: false,
      },
    },
    adr: true,
    dr: 1,
    fCnt: o.fCnt ?? 10,
    fPort: 5,
    data: 'AWcA+gJoQA==',
    objectJSON: '{"temperatureSensor":{"1":25},"humiditySensor":{"2":32}}',
    tags: { key: 'value' },
    confirmedUplink: false,
    devAddr: 'AFE5Qg==',
  };
}

/** v3 json_v3 `status`, `ack`, `error` and `location` events. */
export const v3Status = () => ({
  applicationID: APP_V3,
  applicationName: 'temperature-sensor',
  deviceName: 'garden-sensor',
  devEUI: '0202020202020202',
  margin: 6,
  externalPowerSource: false,
  batteryLevelUnavailable: false,
  batteryLevel: 75.5,
  tags: { key: 'value' },
});

export const v3Error = () => ({
  applicationID: APP_V3,
  applicationName: 'temperature-sensor',
  deviceName: 'garden-sensor',
  devEUI: '0202020202020202',
  type: 'UPLINK_CODEC',
  error: 'invalid payload',
  fCnt: 10,
  tags: { key: 'value' },
});

/* eslint-disable @typescript-eslint/no-explicit-any -- google-protobuf ships no type declarations */
const requireCjs = createRequire(import.meta.url);
const { Timestamp } = requireCjs('google-protobuf/google/protobuf/timestamp_pb.js') as any;
const { Struct } = requireCjs('google-protobuf/google/protobuf/struct_pb.js') as any;

function protoDeviceInfo(devEui: string): any {
  const info = deviceInfo(devEui);
  const di: any = new integration.DeviceInfo();
  di.setTenantId(info.tenantId);
  di.setTenantName(info.tenantName);
  di.setApplicationId(info.applicationId);
  di.setApplicationName(info.applicationName);
  di.setDeviceProfileId(info.deviceProfileId);
  di.setDeviceProfileName(info.deviceProfileName);
  di.setDeviceName(info.deviceName);
  di.setDevEui(info.devEui);
  for (const [k, v] of Object.entries(info.tags)) di.getTagsMap().set(k, v);
  return di;
}

/** The v4Up() event in ChirpStack's binary Protobuf encoding (`json = false`), built with its API definitions. */
export function v4UpProtobuf(o: V4UpOptions = {}): Buffer {
  const json = v4Up(o);
  const ev: any = new integration.UplinkEvent();
  ev.setDeduplicationId(json.deduplicationId);
  ev.setTime(Timestamp.fromDate(new Date('2024-07-18T09:34:15.775Z')));
  ev.setDeviceInfo(protoDeviceInfo(o.devEui ?? '0101010101010101'));
  ev.setDevAddr(json.devAddr);
  ev.setAdr(json.adr);
  ev.setDr(json.dr);
  ev.setFCnt(json.fCnt);
  ev.setFPort(json.fPort);
  ev.setConfirmed(json.confirmed);
  ev.setData(Buffer.from(json.data as string, 'base64'));
  if (json.object) ev.setObject(Struct.fromJavaScript(json.object));
  const rx: any = new gw.UplinkRxInfo();
  rx.setGatewayId(GATEWAY_A.gatewayId);
  rx.setUplinkId(GATEWAY_A.uplinkId);
  rx.setRssi(GATEWAY_A.rssi);
  rx.setSnr(GATEWAY_A.snr);
  rx.setChannel(GATEWAY_A.channel);
  const loc: any = new common.Location();
  loc.setLatitude(GATEWAY_A.location.latitude);
  loc.setLongitude(GATEWAY_A.location.longitude);
  loc.setAltitude(GATEWAY_A.location.altitude);
  rx.setLocation(loc);
  rx.getMetadataMap().set('region_config_id', 'eu868');
  rx.setCrcStatus(gw.CRCStatus.CRC_OK);
  ev.setRxInfoList([rx]);
  const lora: any = new gw.LoraModulationInfo();
  lora.setBandwidth(125000);
  lora.setSpreadingFactor(7);
  lora.setCodeRate(gw.CodeRate.CR_4_5);
  const modulation: any = new gw.Modulation();
  modulation.setLora(lora);
  const tx: any = new gw.UplinkTxInfo();
  tx.setFrequency(867100000);
  tx.setModulation(modulation);
  ev.setTxInfo(tx);
  ev.setRegionConfigId('eu868');
  return Buffer.from(ev.serializeBinary());
}

/** The v4Log() event in binary Protobuf. */
export function v4LogProtobuf(): Buffer {
  const ev: any = new integration.LogEvent();
  ev.setTime(Timestamp.fromDate(new Date('2024-07-18T09:40:02.113Z')));
  ev.setDeviceInfo(protoDeviceInfo('0101010101010101'));
  ev.setLevel(integration.LogLevel.ERROR);
  ev.setCode(integration.LogCode.UPLINK_CODEC);
  ev.setDescription('Error: temperature out of range');
  ev.getContextMap().set('deduplication_id', '3ac7e3c4-4401-4b8d-9386-a5c902f9202d');
  return Buffer.from(ev.serializeBinary());
}

const protoTime = (iso: string) => Timestamp.fromDate(new Date(iso));

/** The v4Join() event in binary Protobuf. */
export function v4JoinProtobuf(): Buffer {
  const json = v4Join();
  const ev: any = new integration.JoinEvent();
  ev.setDeduplicationId(json.deduplicationId);
  ev.setTime(protoTime(json.time));
  ev.setDeviceInfo(protoDeviceInfo('0101010101010101'));
  ev.setDevAddr(json.devAddr);
  ev.setRegionConfigId(json.regionConfigId);
  return Buffer.from(ev.serializeBinary());
}

/** The v4Status() event in binary Protobuf. */
export function v4StatusProtobuf(): Buffer {
  const json = v4Status();
  const ev: any = new integration.StatusEvent();
  ev.setDeduplicationId(json.deduplicationId);
  ev.setTime(protoTime(json.time));
  ev.setDeviceInfo(protoDeviceInfo('0101010101010101'));
  ev.setMargin(json.margin);
  ev.setExternalPowerSource(json.externalPowerSource);
  ev.setBatteryLevelUnavailable(json.batteryLevelUnavailable);
  ev.setBatteryLevel(json.batteryLevel);
  return Buffer.from(ev.serializeBinary());
}

/** The v4Ack() event in binary Protobuf. */
export function v4AckProtobuf(): Buffer {
  const json = v4Ack();
  const ev: any = new integration.AckEvent();
  ev.setDeduplicationId(json.deduplicationId);
  ev.setTime(protoTime(json.time));
  ev.setDeviceInfo(protoDeviceInfo('0101010101010101'));
  ev.setQueueItemId(json.queueItemId);
  ev.setAcknowledged(json.acknowledged);
  ev.setFCntDown(json.fCntDown);
  return Buffer.from(ev.serializeBinary());
}

/** The v4Txack() event in binary Protobuf. */
export function v4TxackProtobuf(): Buffer {
  const json = v4Txack();
  const ev: any = new integration.TxAckEvent();
  ev.setDownlinkId(json.downlinkId);
  ev.setTime(protoTime(json.time));
  ev.setDeviceInfo(protoDeviceInfo('0101010101010101'));
  ev.setQueueItemId(json.queueItemId);
  ev.setFCntDown(json.fCntDown);
  ev.setGatewayId(json.gatewayId);
  return Buffer.from(ev.serializeBinary());
}

/** The v4Location() event in binary Protobuf. */
export function v4LocationProtobuf(): Buffer {
  const json = v4Location();
  const ev: any = new integration.LocationEvent();
  ev.setDeduplicationId(json.deduplicationId);
  ev.setTime(protoTime(json.time));
  ev.setDeviceInfo(protoDeviceInfo('0101010101010101'));
  const loc: any = new common.Location();
  loc.setLatitude(json.location.latitude);
  loc.setLongitude(json.location.longitude);
  loc.setAltitude(json.location.altitude);
  loc.setSource(common.LocationSource.GEO_RESOLVER_TDOA);
  loc.setAccuracy(json.location.accuracy);
  ev.setLocation(loc);
  return Buffer.from(ev.serializeBinary());
}
