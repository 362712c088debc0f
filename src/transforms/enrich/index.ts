import { defineTransform } from '../../sdk/index.js';
import { EnrichTransform } from './enrich.js';
import { enrichTransformSpec } from './spec.js';

export { enrichTransformConfig, type EnrichTransformConfig } from './spec.js';
export { EnrichTransform } from './enrich.js';

export const enrichTransform = defineTransform({
  ...enrichTransformSpec,
  create: (config) => new EnrichTransform(config),
});
