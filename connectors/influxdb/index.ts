import { defineSink } from '../../src/sdk/index.js';
import { InfluxdbSink } from './sink.js';
import { influxdbSinkSpec } from './spec.js';

export { InfluxdbSink } from './sink.js';
export { PointMapper, PointError } from './point.js';
export { influxdbSinkConfig, type InfluxdbSinkConfig } from './spec.js';

export const influxdbSink = defineSink({
  ...influxdbSinkSpec,
  create: (config, ctx) => new InfluxdbSink(config, ctx),
});
