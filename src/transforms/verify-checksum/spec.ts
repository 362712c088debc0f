import { z } from 'zod';
import { checkChecksumOptions, checksumOptions } from '../shared/digest.js';

export const verifyChecksumTransformConfig = z
  .strictObject({
    ...checksumOptions,
    strip: z
      .boolean()
      .default(false)
      .describe('Remove the checksum (field or user property) from messages that pass the check.'),
  })
  .superRefine((config, ctx) => checkChecksumOptions(config, ctx));

export type VerifyChecksumTransformConfig = z.output<typeof verifyChecksumTransformConfig>;
