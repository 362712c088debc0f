import { defineSource } from '../../src/sdk/index.js';
import { OpcuaReader } from './reader.js';
import { OpcuaSource } from './source.js';
import { opcuaSourceSpec } from './spec.js';

export { OpcuaSource, type OpcuaPayload } from './source.js';
export { OpcuaReader } from './reader.js';
export { opcuaSourceConfig, type OpcuaSourceConfig } from './spec.js';
export {
  startOpcuaSimulator,
  PLANT_NAMESPACE,
  type RunningSimulator,
  type SimulatorOptions,
} from './simulator.js';

// node-opcua is imported lazily by the classes (on connect): defining the component costs nothing.

export const opcuaSource = defineSource({
  ...opcuaSourceSpec,
  create: (config, ctx) => new OpcuaSource(config, ctx),
  createReader: (config, ctx) => new OpcuaReader(config, ctx),
});
