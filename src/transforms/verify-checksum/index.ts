import { defineTransform } from '../../sdk/index.js';
import { verifyChecksumTransformConfig } from './spec.js';
import { VerifyChecksumTransform } from './verify-checksum.js';

export { verifyChecksumTransformConfig, type VerifyChecksumTransformConfig } from './spec.js';
export { VerifyChecksumTransform } from './verify-checksum.js';

export const verifyChecksumTransform = defineTransform({
  type: 'verify-checksum',
  title: 'Verify checksum',
  summary:
    'Recomputes the checksum added by the checksum transform; a message without it or with another value is dead-lettered.',
  config: verifyChecksumTransformConfig,
  examples: [
    { algorithm: 'sha256', strip: true },
    { algorithm: 'hmac-sha256', key: '${env:CHECKSUM_KEY}', userProperty: 'checksum' },
    { algorithm: 'crc32c', field: 'crc' },
  ],
  create: (config) => new VerifyChecksumTransform(config),
});
