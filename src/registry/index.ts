import { chirpstackSource } from '../../connectors/chirpstack/index.js';
import { chirpstackDownlinkSink } from '../../connectors/chirpstack-downlink/index.js';
import { excelSink } from '../../connectors/excel/index.js';
import { googleSheetsSink } from '../../connectors/google-sheets/index.js';
import { influxdbSink } from '../../connectors/influxdb/index.js';
import { logSink } from '../../connectors/log/index.js';
import { mqttSink, mqttSource } from '../../connectors/mqtt/index.js';
import { opcuaSource, opcuaWriteSink } from '../../connectors/opcua/index.js';
import { simulatorSource } from '../../connectors/simulator/index.js';
import { sparkplugSource } from '../../connectors/sparkplug/index.js';
import { filterTransform } from '../transforms/filter/index.js';
import { mapTransform } from '../transforms/map/index.js';
import { checksumTransform } from '../transforms/checksum/index.js';
import { generalizeTransform } from '../transforms/generalize/index.js';
import { pseudonymizeTransform } from '../transforms/pseudonymize/index.js';
import { redactTransform } from '../transforms/redact/index.js';
import { unitConvertTransform } from '../transforms/unit-convert/index.js';
import { verifyChecksumTransform } from '../transforms/verify-checksum/index.js';
import { deadbandTransform } from '../transforms/deadband/index.js';
import { enrichTransform } from '../transforms/enrich/index.js';
import { aggregateTransform } from '../transforms/aggregate/index.js';
import { decodeTransform } from '../transforms/decode/index.js';
import { encodeTransform } from '../transforms/encode/index.js';
import type { Registry } from './types.js';

export type { Registry, ComponentKind } from './types.js';
export { findComponent, componentsOf, allComponents } from './types.js';

/** The built-in components, listed explicitly: importing a connector has no side effect. */
export const builtinRegistry: Registry = {
  sources: [mqttSource, simulatorSource, chirpstackSource, opcuaSource, sparkplugSource],
  sinks: [
    mqttSink,
    logSink,
    influxdbSink,
    chirpstackDownlinkSink,
    opcuaWriteSink,
    googleSheetsSink,
    excelSink,
  ],
  transforms: [
    filterTransform,
    mapTransform,
    pseudonymizeTransform,
    redactTransform,
    generalizeTransform,
    checksumTransform,
    verifyChecksumTransform,
    unitConvertTransform,
    deadbandTransform,
    enrichTransform,
    aggregateTransform,
    decodeTransform,
    encodeTransform,
  ],
};
