import { defineTransform } from '../../sdk/index.js';
import { DeadbandTransform } from './deadband.js';
import { deadbandTransformSpec } from './spec.js';

export { deadbandTransformConfig, type DeadbandTransformConfig } from './spec.js';
export { DeadbandTransform } from './deadband.js';

export const deadbandTransform = defineTransform({
  ...deadbandTransformSpec,
  create: (config, ctx) => new DeadbandTransform(config, ctx),
});
