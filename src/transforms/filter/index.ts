import { defineTransform } from '../../sdk/index.js';
import { FilterTransform } from './filter.js';
import { filterTransformSpec } from './spec.js';

export { filterTransformConfig, type FilterTransformConfig } from './spec.js';
export { FilterTransform } from './filter.js';

export const filterTransform = defineTransform({
  ...filterTransformSpec,
  create: (config) => new FilterTransform(config),
});
