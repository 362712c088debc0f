import { defineSource } from '../../src/sdk/index.js';
import { SparkplugCommandsSource } from './source.js';
import { sparkplugCommandsSourceSpec } from './spec.js';

export { SparkplugCommandsSource } from './source.js';
export { sparkplugCommandsConfig, type SparkplugCommandsConfig } from './spec.js';

export const sparkplugCommandsSource = defineSource({
  ...sparkplugCommandsSourceSpec,
  create: (config, ctx) => new SparkplugCommandsSource(config, ctx),
});
