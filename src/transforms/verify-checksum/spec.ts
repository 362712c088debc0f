import { z } from 'zod';
import { builtSchema, lazySchema } from '../../sdk/index.js';
import { checkChecksumOptions, checksumOptions } from '../shared/digest.js';
import type { TransformSpec } from '../../sdk/index.js';

export const verifyChecksumTransformConfig = lazySchema(() =>
  z
    .strictObject({
      ...checksumOptions,
      strip: z
        .boolean()
        .default(false)
        .describe('Remove the checksum (field or user property) from messages that pass the check.'),
    })
    .superRefine((config, ctx) => checkChecksumOptions(config, ctx)),
);

export type VerifyChecksumTransformConfig = z.output<typeof verifyChecksumTransformConfig>;

export const verifyChecksumTransformSpec: TransformSpec<typeof verifyChecksumTransformConfig> = {
  kind: 'transform',
  type: 'verify-checksum',
  title: 'Verify checksum',
  summary:
    'Recomputes the checksum added by the checksum transform; a message without it or with another value is dead-lettered.',
  get config() {
    return builtSchema(verifyChecksumTransformConfig);
  },
  examples: [
    { algorithm: 'sha256', strip: true },
    { algorithm: 'hmac-sha256', key: '${env:CHECKSUM_KEY}', userProperty: 'checksum' },
    { algorithm: 'crc32c', field: 'crc' },
  ],
  load: async () => (await import('./index.js')).verifyChecksumTransform,
};
