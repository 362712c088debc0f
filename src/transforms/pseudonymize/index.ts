import { defineTransform } from '../../sdk/index.js';
import { PseudonymizeTransform } from './pseudonymize.js';
import { pseudonymizeTransformConfig } from './spec.js';

export { pseudonymizeTransformConfig, type PseudonymizeTransformConfig } from './spec.js';
export { PseudonymizeTransform } from './pseudonymize.js';

export const pseudonymizeTransform = defineTransform({
  type: 'pseudonymize',
  title: 'Pseudonymize',
  summary:
    'Replaces identifiers in the payload, topic levels and metadata with keyed HMAC-SHA-256 pseudonyms.',
  config: pseudonymizeTransformConfig,
  examples: [
    { key: '${env:PSEUDONYM_KEY}', keyId: 'k1', fields: ['payload.deviceId', 'payload.operator.badge'] },
    {
      key: '${env:PSEUDONYM_KEY}',
      keyId: 'k2',
      fields: ['payload.devices[*].id'],
      topicLevels: [2],
      meta: ['chirpstack.devEui'],
      encoding: 'base32',
      bits: 80,
      missing: 'reject',
    },
  ],
  create: (config) => new PseudonymizeTransform(config),
});
