import { defineTransform } from '../../sdk/index.js';
import { MapTransform } from './map.js';
import { mapTransformSpec } from './spec.js';

export { mapTransformConfig, type MapTransformConfig } from './spec.js';
export { MapTransform } from './map.js';

export const mapTransform = defineTransform({
  ...mapTransformSpec,
  create: (config) => new MapTransform(config),
});
