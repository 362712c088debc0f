import { defineSink } from '../../src/sdk/index.js';
import { SparkplugSink } from './edge-sink.js';
import { sparkplugSinkSpec } from './edge-spec.js';

export { SparkplugSink } from './edge-sink.js';
export { sparkplugSinkConfig, type SparkplugSinkConfig } from './edge-spec.js';

export const sparkplugSink = defineSink({
  ...sparkplugSinkSpec,
  create: (config, ctx) => new SparkplugSink(config, ctx),
});
