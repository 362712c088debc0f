import { defineSink, defineSource } from '../../src/sdk/index.js';
import { MqttSink } from './sink.js';
import { MqttSource } from './source.js';
import { mqttSinkConfig, mqttSourceConfig } from './spec.js';

export { MqttSink } from './sink.js';
export { MqttSource } from './source.js';
export { mqttSinkConfig, mqttSourceConfig, type MqttSinkConfig, type MqttSourceConfig } from './spec.js';

export const mqttSource = defineSource({
  type: 'mqtt',
  title: 'MQTT subscriber',
  summary:
    'Subscribes to topics on an MQTT 3.1.1 or 5 broker; with QoS 1/2 and a persistent session, acknowledges a message only once it is stored.',
  config: mqttSourceConfig,
  examples: [
    {
      url: 'mqtt://broker:1883',
      topics: ['plant/+/telemetry'],
      qos: 1,
      cleanSession: false,
      clientId: 'passerelle-plant',
      username: 'bridge',
      password: '${env:MQTT_PASSWORD}',
    },
    {
      url: 'mqtts://broker:8883',
      topics: ['$share/passerelle/sensors/#'],
      tls: { ca: '/etc/passerelle/ca.pem' },
      payload: 'text',
    },
  ],
  // A clean session is dropped with the connection, and unacknowledged messages with it.
  delivery: (config) => (config.qos >= 1 && !config.cleanSession ? 'at-least-once' : 'best-effort'),
  // A shared group splits the stream among replicas; any plain subscription would be read by each.
  singleReader: (config) => !config.topics.every((topic) => topic.startsWith('$share/')),
  create: (config, ctx) => new MqttSource(config, ctx),
});

export const mqttSink = defineSink({
  type: 'mqtt',
  title: 'MQTT publisher',
  summary:
    'Publishes messages to an MQTT broker, topic and user properties from templates; a batch is written once the broker acknowledged every message.',
  config: mqttSinkConfig,
  examples: [
    { url: 'mqtt://broker:1883', topic: 'bridge/{{ meta.mqtt.topic }}', qos: 1 },
    {
      url: 'mqtt://cloud:1883',
      topic: 'sites/{{ pipeline }}/{{ topic[1] }}',
      userProperties: { origin: '{{ meta.mqtt.topic }}' },
      messageExpiry: '1h',
    },
  ],
  delivery: (config) => (config.qos >= 1 ? 'at-least-once' : 'best-effort'),
  idempotent: () => false,
  create: (config, ctx) => new MqttSink(config, ctx),
});
