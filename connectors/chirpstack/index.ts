import { defineSource } from '../../src/sdk/index.js';
import { ChirpstackSource } from './source.js';
import { chirpstackSourceSpec } from './spec.js';

export { ChirpstackSource } from './source.js';
export { chirpstackSourceConfig, type ChirpstackSourceConfig } from './spec.js';

export const chirpstackSource = defineSource({
  ...chirpstackSourceSpec,
  create: (config, ctx) => new ChirpstackSource(config, ctx),
});
