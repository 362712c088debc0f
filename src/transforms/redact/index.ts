import { defineTransform } from '../../sdk/index.js';
import { RedactTransform } from './redact.js';
import { redactTransformConfig } from './spec.js';

export { redactTransformConfig, type RedactTransformConfig } from './spec.js';
export { RedactTransform } from './redact.js';

export const redactTransform = defineTransform({
  type: 'redact',
  title: 'Redact',
  summary: 'Removes (or blanks) payload fields and metadata keys.',
  config: redactTransformConfig,
  examples: [
    { fields: ['payload.operator', 'payload.devices[*].serial'] },
    { fields: ['payload.*.phone'], meta: ['mqtt.userProperties'], mode: 'blank', blank: '' },
  ],
  create: (config) => new RedactTransform(config),
});
