import { defineTransform } from '../../sdk/index.js';
import { PseudonymizeTransform } from './pseudonymize.js';
import { pseudonymizeTransformSpec } from './spec.js';

export { pseudonymizeTransformConfig, type PseudonymizeTransformConfig } from './spec.js';
export { PseudonymizeTransform } from './pseudonymize.js';

export const pseudonymizeTransform = defineTransform({
  ...pseudonymizeTransformSpec,
  create: (config) => new PseudonymizeTransform(config),
});
