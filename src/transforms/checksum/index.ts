import { defineTransform } from '../../sdk/index.js';
import { ChecksumTransform } from './checksum.js';
import { checksumTransformSpec } from './spec.js';

export { checksumTransformConfig, type ChecksumTransformConfig } from './spec.js';
export { ChecksumTransform } from './checksum.js';

export const checksumTransform = defineTransform({
  ...checksumTransformSpec,
  create: (config) => new ChecksumTransform(config),
});
