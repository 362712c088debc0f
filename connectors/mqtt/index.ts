import { defineSink, defineSource } from '../../src/sdk/index.js';
import { MqttSink } from './sink.js';
import { MqttSource } from './source.js';
import { mqttSinkSpec, mqttSourceSpec } from './spec.js';

export { MqttSink } from './sink.js';
export { MqttSource } from './source.js';
export { mqttSinkConfig, mqttSourceConfig, type MqttSinkConfig, type MqttSourceConfig } from './spec.js';

export const mqttSource = defineSource({
  ...mqttSourceSpec,
  create: (config, ctx) => new MqttSource(config, ctx),
});

export const mqttSink = defineSink({ ...mqttSinkSpec, create: (config, ctx) => new MqttSink(config, ctx) });
