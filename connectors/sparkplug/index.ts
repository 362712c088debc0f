import { defineSource } from '../../src/sdk/index.js';
import { SparkplugSource } from './host-source.js';
import { sparkplugSourceSpec } from './host-spec.js';

export { SparkplugSource } from './host-source.js';
export { sparkplugSourceConfig, type SparkplugSourceConfig } from './host-spec.js';

export const sparkplugSource = defineSource({
  ...sparkplugSourceSpec,
  create: (config, ctx) => new SparkplugSource(config, ctx),
});
