import { defineSink, defineSource } from '../../src/sdk/index.js';
import { InfluxdbSink } from './sink.js';
import { InfluxdbQueryReader } from './source.js';
import { influxdbSinkSpec } from './spec.js';
import { influxdbSourceSpec } from './source-spec.js';

export { InfluxdbSink } from './sink.js';
export { InfluxdbQueryReader, type InfluxdbRowPayload } from './source.js';
export { PointMapper, PointError } from './point.js';
export { influxdbSinkConfig, type InfluxdbSinkConfig } from './spec.js';
export { influxdbSourceConfig, type InfluxdbSourceConfig } from './source-spec.js';

export const influxdbSink = defineSink({
  ...influxdbSinkSpec,
  create: (config, ctx) => new InfluxdbSink(config, ctx),
});

export const influxdbSource = defineSource({
  ...influxdbSourceSpec,
  createReader: (config, ctx) => new InfluxdbQueryReader(config, ctx),
});
