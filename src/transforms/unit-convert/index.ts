import { defineTransform } from '../../sdk/index.js';
import { unitConvertTransformSpec } from './spec.js';
import { UnitConvertTransform } from './unit-convert.js';

export { unitConvertTransformConfig, type UnitConvertTransformConfig } from './spec.js';
export { UnitConvertTransform } from './unit-convert.js';

export const unitConvertTransform = defineTransform({
  ...unitConvertTransformSpec,
  create: (config) => new UnitConvertTransform(config),
});
