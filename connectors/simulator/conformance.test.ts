import { generatorSourceConformance } from '../../test/conformance/source.js';
import { SimulatorSource } from './source.js';
import { simulatorSourceConfig } from './spec.js';

// 20 messages a second; the slow one emits one every 10 minutes, so only close() ends its second read.
generatorSourceConformance('simulator', () => ({
  create: (ctx) => new SimulatorSource(simulatorSourceConfig.parse({ rate: 20, devices: 2, seed: 1 }), ctx),
  createSlow: (ctx) =>
    new SimulatorSource(simulatorSourceConfig.parse({ rate: 1 / 600, devices: 1, seed: 1 }), ctx),
}));
