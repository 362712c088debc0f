import { defineTransform } from '../../sdk/index.js';
import { AggregateTransform } from './aggregate.js';
import { aggregateTransformSpec } from './spec.js';

export { aggregateTransformConfig, type AggregateTransformConfig } from './spec.js';
export { AggregateTransform } from './aggregate.js';

export const aggregateTransform = defineTransform({
  ...aggregateTransformSpec,
  create: (config, ctx) => new AggregateTransform(config, ctx),
});
