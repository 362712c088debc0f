import { chirpstackSourceSpec } from '../../connectors/chirpstack/spec.js';
import { chirpstackDownlinkSinkSpec } from '../../connectors/chirpstack-downlink/spec.js';
import { excelSinkSpec } from '../../connectors/excel/spec.js';
import { googleSheetsSinkSpec } from '../../connectors/google-sheets/spec.js';
import { influxdbSinkSpec } from '../../connectors/influxdb/spec.js';
import { influxdbSourceSpec } from '../../connectors/influxdb/source-spec.js';
import { logSinkSpec } from '../../connectors/log/spec.js';
import { mqttSinkSpec, mqttSourceSpec } from '../../connectors/mqtt/spec.js';
import { opcuaSourceSpec } from '../../connectors/opcua/spec.js';
import { opcuaWriteSinkSpec } from '../../connectors/opcua-write/spec.js';
import { simulatorSourceSpec } from '../../connectors/simulator/spec.js';
import { sparkplugSinkSpec } from '../../connectors/sparkplug/edge-spec.js';
import { sparkplugCommandsSourceSpec } from '../../connectors/sparkplug-commands/spec.js';
import { sparkplugSourceSpec } from '../../connectors/sparkplug/host-spec.js';
import { filterTransformSpec } from '../transforms/filter/spec.js';
import { mapTransformSpec } from '../transforms/map/spec.js';
import { checksumTransformSpec } from '../transforms/checksum/spec.js';
import { generalizeTransformSpec } from '../transforms/generalize/spec.js';
import { pseudonymizeTransformSpec } from '../transforms/pseudonymize/spec.js';
import { redactTransformSpec } from '../transforms/redact/spec.js';
import { unitConvertTransformSpec } from '../transforms/unit-convert/spec.js';
import { verifyChecksumTransformSpec } from '../transforms/verify-checksum/spec.js';
import { deadbandTransformSpec } from '../transforms/deadband/spec.js';
import { enrichTransformSpec } from '../transforms/enrich/spec.js';
import { aggregateTransformSpec } from '../transforms/aggregate/spec.js';
import { decodeTransformSpec } from '../transforms/decode/spec.js';
import { encodeTransformSpec } from '../transforms/encode/spec.js';
import type { Registry } from './types.js';

export type { Registry, ComponentKind } from './types.js';
export { findComponent, componentsOf, allComponents, loadComponent } from './types.js';

/**
 * The built-in components, listed explicitly as specs (each folder's spec.ts): listing, validating
 * and documenting them loads no implementation. `loadComponent()` (done by `toPlan`) imports the
 * implementation of the components a pipeline uses, when it is about to run. See src/sdk/define.ts.
 */
export const builtinRegistry: Registry = {
  sources: [
    mqttSourceSpec,
    simulatorSourceSpec,
    chirpstackSourceSpec,
    opcuaSourceSpec,
    sparkplugSourceSpec,
    sparkplugCommandsSourceSpec,
    influxdbSourceSpec,
  ],
  sinks: [
    mqttSinkSpec,
    logSinkSpec,
    influxdbSinkSpec,
    chirpstackDownlinkSinkSpec,
    opcuaWriteSinkSpec,
    googleSheetsSinkSpec,
    excelSinkSpec,
    sparkplugSinkSpec,
  ],
  transforms: [
    filterTransformSpec,
    mapTransformSpec,
    pseudonymizeTransformSpec,
    redactTransformSpec,
    generalizeTransformSpec,
    checksumTransformSpec,
    verifyChecksumTransformSpec,
    unitConvertTransformSpec,
    deadbandTransformSpec,
    enrichTransformSpec,
    aggregateTransformSpec,
    decodeTransformSpec,
    encodeTransformSpec,
  ],
};
