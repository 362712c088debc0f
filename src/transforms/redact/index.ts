import { defineTransform } from '../../sdk/index.js';
import { RedactTransform } from './redact.js';
import { redactTransformSpec } from './spec.js';

export { redactTransformConfig, type RedactTransformConfig } from './spec.js';
export { RedactTransform } from './redact.js';

export const redactTransform = defineTransform({
  ...redactTransformSpec,
  create: (config) => new RedactTransform(config),
});
