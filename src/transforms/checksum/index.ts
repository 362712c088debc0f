import { defineTransform } from '../../sdk/index.js';
import { ChecksumTransform } from './checksum.js';
import { checksumTransformConfig } from './spec.js';

export { checksumTransformConfig, type ChecksumTransformConfig } from './spec.js';
export { ChecksumTransform } from './checksum.js';

export const checksumTransform = defineTransform({
  type: 'checksum',
  title: 'Checksum',
  summary:
    'Adds a CRC-32C, SHA-256 or HMAC-SHA-256 over the canonical payload (RFC 8785 for JSON) to a field or an MQTT 5 user property.',
  config: checksumTransformConfig,
  examples: [
    { algorithm: 'sha256' },
    { algorithm: 'hmac-sha256', key: '${env:CHECKSUM_KEY}', userProperty: 'checksum' },
    { algorithm: 'crc32c', field: 'crc' },
  ],
  create: (config) => new ChecksumTransform(config),
});
