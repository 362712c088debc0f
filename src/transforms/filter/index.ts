import { defineTransform } from '../../sdk/index.js';
import { FilterTransform } from './filter.js';
import { filterTransformConfig } from './spec.js';

export { filterTransformConfig, type FilterTransformConfig } from './spec.js';
export { FilterTransform } from './filter.js';

export const filterTransform = defineTransform({
  type: 'filter',
  title: 'Filter',
  summary: 'Keeps the messages for which a JSONata expression is true.',
  config: filterTransformConfig,
  examples: [
    { expression: 'payload.temperature != null' },
    { expression: 'payload.temperature > 25' },
    { expression: '$contains(meta.`mqtt.topic`, /^plant\\/a\\//)', onError: 'drop' },
  ],
  create: (config) => new FilterTransform(config),
});
