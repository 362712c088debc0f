import { defineTransform } from '../../sdk/index.js';
import { verifyChecksumTransformSpec } from './spec.js';
import { VerifyChecksumTransform } from './verify-checksum.js';

export { verifyChecksumTransformConfig, type VerifyChecksumTransformConfig } from './spec.js';
export { VerifyChecksumTransform } from './verify-checksum.js';

export const verifyChecksumTransform = defineTransform({
  ...verifyChecksumTransformSpec,
  create: (config) => new VerifyChecksumTransform(config),
});
