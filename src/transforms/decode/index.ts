import { defineTransform } from '../../sdk/index.js';
import { DecodeTransform } from './decode.js';
import { decodeTransformSpec } from './spec.js';

export { decodeTransformConfig, type DecodeTransformConfig } from './spec.js';
export { DecodeTransform } from './decode.js';

export const decodeTransform = defineTransform({
  ...decodeTransformSpec,
  create: (config) => new DecodeTransform(config),
});
