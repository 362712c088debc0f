import { defineTransform } from '../../sdk/index.js';
import { GeneralizeTransform } from './generalize.js';
import { generalizeTransformSpec } from './spec.js';

export { generalizeTransformConfig, type GeneralizeTransformConfig } from './spec.js';
export { GeneralizeTransform } from './generalize.js';

export const generalizeTransform = defineTransform({
  ...generalizeTransformSpec,
  create: (config) => new GeneralizeTransform(config),
});
