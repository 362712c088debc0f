import { defineTransform } from '../../sdk/index.js';
import { EncodeTransform } from './encode.js';
import { encodeTransformSpec } from './spec.js';

export { encodeTransformConfig, type EncodeTransformConfig } from './spec.js';
export { EncodeTransform } from './encode.js';

export const encodeTransform = defineTransform({
  ...encodeTransformSpec,
  create: (config) => new EncodeTransform(config),
});
