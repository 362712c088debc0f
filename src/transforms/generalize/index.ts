import { defineTransform } from '../../sdk/index.js';
import { GeneralizeTransform } from './generalize.js';
import { generalizeTransformConfig } from './spec.js';

export { generalizeTransformConfig, type GeneralizeTransformConfig } from './spec.js';
export { GeneralizeTransform } from './generalize.js';

export const generalizeTransform = defineTransform({
  type: 'generalize',
  title: 'Generalize',
  summary: 'Rounds numbers to a step, coarsens coordinates and truncates timestamps and the message time.',
  config: generalizeTransformConfig,
  examples: [
    { numbers: [{ path: 'payload.power', step: 100 }], time: { truncate: 'minute' } },
    {
      locations: [{ at: 'payload.gps', geohash: 6 }],
      timestamps: [{ path: 'payload.doorOpenedAt', truncate: 'hour' }],
      time: { truncate: 'hour', jitter: '10m' },
      timeZone: 'Europe/Paris',
    },
    { locations: [{ at: 'payload', latitude: 'latitude', longitude: 'longitude', decimals: 2 }] },
  ],
  create: (config) => new GeneralizeTransform(config),
});
