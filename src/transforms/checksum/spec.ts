import { z } from 'zod';
import { builtSchema, lazySchema } from '../../sdk/index.js';
import { checkChecksumOptions, checksumOptions } from '../shared/digest.js';
import type { TransformSpec } from '../../sdk/index.js';

export const checksumTransformConfig = lazySchema(() =>
  z.strictObject({ ...checksumOptions }).superRefine((config, ctx) => checkChecksumOptions(config, ctx)),
);

export type ChecksumTransformConfig = z.output<typeof checksumTransformConfig>;

export const checksumTransformSpec: TransformSpec<typeof checksumTransformConfig> = {
  kind: 'transform',
  type: 'checksum',
  title: 'Checksum',
  summary:
    'Adds a CRC-32C, SHA-256 or HMAC-SHA-256 over the canonical payload (RFC 8785 for JSON) to a field or an MQTT 5 user property.',
  get config() {
    return builtSchema(checksumTransformConfig);
  },
  examples: [
    { algorithm: 'sha256' },
    { algorithm: 'hmac-sha256', key: '${env:CHECKSUM_KEY}', userProperty: 'checksum' },
    { algorithm: 'crc32c', field: 'crc' },
  ],
  load: async () => (await import('./index.js')).checksumTransform,
};
