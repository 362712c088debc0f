import { defineSink, defineSource } from '../../src/sdk/index.js';
import { OpcuaWriteSink } from './sink.js';
import { OpcuaSource } from './source.js';
import { opcuaSourceSpec, opcuaWriteSinkSpec } from './spec.js';

export { OpcuaSource, type OpcuaPayload } from './source.js';
export { OpcuaWriteSink } from './sink.js';
export {
  opcuaSourceConfig,
  opcuaWriteSinkConfig,
  type OpcuaSourceConfig,
  type OpcuaWriteSinkConfig,
} from './spec.js';
export {
  startOpcuaSimulator,
  PLANT_NAMESPACE,
  type RunningSimulator,
  type SimulatorOptions,
} from './simulator.js';

// node-opcua is imported lazily by the classes (on connect): defining the components costs nothing.

export const opcuaSource = defineSource({
  ...opcuaSourceSpec,
  create: (config, ctx) => new OpcuaSource(config, ctx),
});

export const opcuaWriteSink = defineSink({
  ...opcuaWriteSinkSpec,
  create: (config, ctx) => new OpcuaWriteSink(config, ctx),
});
