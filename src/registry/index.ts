import { logSink } from '../../connectors/log/index.js';
import { mqttSink, mqttSource } from '../../connectors/mqtt/index.js';
import { simulatorSource } from '../../connectors/simulator/index.js';
import { filterTransform } from '../transforms/filter/index.js';
import { mapTransform } from '../transforms/map/index.js';
import type { Registry } from './types.js';

export type { Registry, ComponentKind } from './types.js';
export { findComponent, componentsOf, allComponents } from './types.js';

/** The built-in components, listed explicitly: importing a connector has no side effect. */
export const builtinRegistry: Registry = {
  sources: [mqttSource, simulatorSource],
  sinks: [mqttSink, logSink],
  transforms: [filterTransform, mapTransform],
};
