import { defineSink, defineSource } from '../../src/sdk/index.js';
import { SparkplugCommandsSource } from './edge-commands.js';
import { SparkplugSink } from './edge-sink.js';
import { sparkplugCommandsSourceSpec, sparkplugSinkSpec } from './edge-spec.js';

export { SparkplugCommandsSource } from './edge-commands.js';
export { SparkplugSink } from './edge-sink.js';
export {
  sparkplugCommandsConfig,
  sparkplugSinkConfig,
  type SparkplugCommandsConfig,
  type SparkplugSinkConfig,
} from './edge-spec.js';

export const sparkplugSink = defineSink({
  ...sparkplugSinkSpec,
  create: (config, ctx) => new SparkplugSink(config, ctx),
});

export const sparkplugCommandsSource = defineSource({
  ...sparkplugCommandsSourceSpec,
  create: (config, ctx) => new SparkplugCommandsSource(config, ctx),
});
