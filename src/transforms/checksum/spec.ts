import { z } from 'zod';
import { checkChecksumOptions, checksumOptions } from '../shared/digest.js';

export const checksumTransformConfig = z
  .strictObject({ ...checksumOptions })
  .superRefine((config, ctx) => checkChecksumOptions(config, ctx));

export type ChecksumTransformConfig = z.output<typeof checksumTransformConfig>;
