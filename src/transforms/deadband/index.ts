import { defineTransform } from '../../sdk/index.js';
import { DeadbandTransform } from './deadband.js';
import { deadbandTransformConfig } from './spec.js';

export { deadbandTransformConfig, type DeadbandTransformConfig } from './spec.js';
export { DeadbandTransform } from './deadband.js';

export const deadbandTransform = defineTransform({
  type: 'deadband',
  title: 'Deadband (report by exception)',
  summary:
    'Passes a value only when it changed beyond a band since the last one passed, per key; heartbeats after maxSilence; status changes always pass.',
  config: deadbandTransformConfig,
  examples: [
    {},
    { fields: ['payload.temperature', 'payload.humidity'], absolute: 0.5, maxSilence: '15m' },
    { key: 'nodeId', percent: 2, maxSilence: '1h' },
    { key: '{{ payload.device }}', fields: ['payload.state'] },
  ],
  create: (config, ctx) => new DeadbandTransform(config, ctx),
});
