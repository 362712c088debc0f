import type { SinkSpec, SourceSpec, TransformSpec } from '../sdk/index.js';

/**
 * The built-in components by kind and type, each with the import of its spec: the one list of them.
 * `builtinRegistry` (./index.ts) imports every spec; `passerelle run` imports only those its
 * configuration names (./lazy.ts), so that a relay does not keep the code and source text of ~30
 * specs and what they import (Sparkplug's datatypes, Google Sheets' columns, ...) in memory.
 */
export const builtinSpecs: {
  source: Record<string, () => Promise<SourceSpec>>;
  sink: Record<string, () => Promise<SinkSpec>>;
  transform: Record<string, () => Promise<TransformSpec>>;
} = {
  source: {
    mqtt: async () => (await import('../../connectors/mqtt/spec.js')).mqttSourceSpec,
    simulator: async () => (await import('../../connectors/simulator/spec.js')).simulatorSourceSpec,
    chirpstack: async () => (await import('../../connectors/chirpstack/spec.js')).chirpstackSourceSpec,
    opcua: async () => (await import('../../connectors/opcua/spec.js')).opcuaSourceSpec,
    sparkplug: async () => (await import('../../connectors/sparkplug/host-spec.js')).sparkplugSourceSpec,
    'sparkplug-commands': async () =>
      (await import('../../connectors/sparkplug-commands/spec.js')).sparkplugCommandsSourceSpec,
    influxdb: async () => (await import('../../connectors/influxdb/source-spec.js')).influxdbSourceSpec,
  },
  sink: {
    mqtt: async () => (await import('../../connectors/mqtt/spec.js')).mqttSinkSpec,
    log: async () => (await import('../../connectors/log/spec.js')).logSinkSpec,
    influxdb: async () => (await import('../../connectors/influxdb/spec.js')).influxdbSinkSpec,
    'chirpstack-downlink': async () =>
      (await import('../../connectors/chirpstack-downlink/spec.js')).chirpstackDownlinkSinkSpec,
    'opcua-write': async () => (await import('../../connectors/opcua-write/spec.js')).opcuaWriteSinkSpec,
    'google-sheets': async () =>
      (await import('../../connectors/google-sheets/spec.js')).googleSheetsSinkSpec,
    excel: async () => (await import('../../connectors/excel/spec.js')).excelSinkSpec,
    sparkplug: async () => (await import('../../connectors/sparkplug/edge-spec.js')).sparkplugSinkSpec,
  },
  transform: {
    filter: async () => (await import('../transforms/filter/spec.js')).filterTransformSpec,
    map: async () => (await import('../transforms/map/spec.js')).mapTransformSpec,
    pseudonymize: async () => (await import('../transforms/pseudonymize/spec.js')).pseudonymizeTransformSpec,
    redact: async () => (await import('../transforms/redact/spec.js')).redactTransformSpec,
    generalize: async () => (await import('../transforms/generalize/spec.js')).generalizeTransformSpec,
    checksum: async () => (await import('../transforms/checksum/spec.js')).checksumTransformSpec,
    'verify-checksum': async () =>
      (await import('../transforms/verify-checksum/spec.js')).verifyChecksumTransformSpec,
    'unit-convert': async () => (await import('../transforms/unit-convert/spec.js')).unitConvertTransformSpec,
    deadband: async () => (await import('../transforms/deadband/spec.js')).deadbandTransformSpec,
    enrich: async () => (await import('../transforms/enrich/spec.js')).enrichTransformSpec,
    aggregate: async () => (await import('../transforms/aggregate/spec.js')).aggregateTransformSpec,
    decode: async () => (await import('../transforms/decode/spec.js')).decodeTransformSpec,
    encode: async () => (await import('../transforms/encode/spec.js')).encodeTransformSpec,
  },
};
