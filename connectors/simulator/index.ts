import { defineSource } from '../../src/sdk/index.js';
import { SimulatorReader } from './reader.js';
import { SimulatorSource } from './source.js';
import { simulatorSourceSpec } from './spec.js';

export {
  simulatorSourceConfig,
  simulatorField,
  defaultFields,
  type SimulatorSourceConfig,
  type SimulatorField,
} from './spec.js';
export { SimulatorSource, MIN_TICK_MS, type TimerStats } from './source.js';
export { SimulatorReader } from './reader.js';

export const simulatorSource = defineSource({
  ...simulatorSourceSpec,
  create: (config, ctx) => new SimulatorSource(config, ctx),
  createReader: (config, ctx) => new SimulatorReader(config, ctx),
});
