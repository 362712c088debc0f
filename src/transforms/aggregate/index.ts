import { defineTransform } from '../../sdk/index.js';
import { AggregateTransform } from './aggregate.js';
import { aggregateTransformConfig } from './spec.js';

export { aggregateTransformConfig, type AggregateTransformConfig } from './spec.js';
export { AggregateTransform } from './aggregate.js';

export const aggregateTransform = defineTransform({
  type: 'aggregate',
  title: 'Aggregate (tumbling windows)',
  summary:
    'Downsamples per key into tumbling windows: count, min, max, mean, sum, first and last of chosen fields, emitted when each window ends.',
  config: aggregateTransformConfig,
  examples: [
    { window: '1m', fields: ['payload.temperature'] },
    {
      window: '15m',
      key: '{{ payload.device }}',
      fields: ['payload.temperature', 'payload.humidity'],
      functions: ['min', 'max', 'mean', 'last'],
    },
    { window: '1h', key: 'nodeId', functions: ['mean', 'count'], lateness: '30s' },
  ],
  create: (config, ctx) => new AggregateTransform(config, ctx),
});
