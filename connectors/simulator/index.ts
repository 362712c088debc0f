import { defineSource } from '../../src/sdk/index.js';
import { SimulatorSource } from './source.js';
import { simulatorSourceConfig } from './spec.js';

export {
  simulatorSourceConfig,
  simulatorField,
  defaultFields,
  type SimulatorSourceConfig,
  type SimulatorField,
} from './spec.js';
export { SimulatorSource, MIN_TICK_MS, type TimerStats } from './source.js';

export const simulatorSource = defineSource({
  type: 'simulator',
  title: 'Simulator',
  summary:
    'Generates plausible sensor readings (temperature, humidity, pressure, battery) at a set rate, for demos and tests.',
  config: simulatorSourceConfig,
  examples: [
    { rate: 1, devices: 3 },
    { rate: 1000, devices: 50, count: 100000, seed: 42 },
    {
      rate: 0.2,
      devices: 2,
      fields: {
        flow: { kind: 'sine', min: 0, max: 12.5, period: '10m' },
        energy: { kind: 'counter', min: 0, max: 1000000, step: 0.5 },
        status: { kind: 'constant', value: 'running' },
      },
    },
  ],
  // Generated values are not stored: after a crash the unacknowledged ones are simply never sent.
  delivery: () => 'best-effort',
  create: (config, ctx) => new SimulatorSource(config, ctx),
});
