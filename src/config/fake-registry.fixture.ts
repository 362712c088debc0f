import { z } from 'zod';
import { defineSink, defineSource, defineTransform, duration, secret, tlsOptions } from '../sdk/index.js';
import type { Registry } from '../registry/types.js';

/** A small registry for tests of config loading and the CLI; it never creates anything. */

const unused = (): never => {
  throw new Error('not used in config tests');
};

const qos = z.literal([0, 1, 2]).default(1).describe('MQTT quality of service.');

export const fakeMqttSource = defineSource({
  type: 'mqtt',
  title: 'MQTT subscriber',
  summary: 'Subscribes to topics on an MQTT broker.',
  config: z.strictObject({
    url: z.string().describe('Broker URL.'),
    topics: z.array(z.string()).min(1).describe('Topic filters.'),
    qos,
    username: z.string().optional().describe('User name.'),
    password: secret('Password.').optional(),
    keepalive: duration('Keep-alive interval.').prefault('30s'),
    payload: z.enum(['json', 'text', 'bytes']).default('json').describe('How payloads are decoded.'),
    tls: tlsOptions.optional(),
  }),
  examples: [{ url: 'mqtt://broker:1883', topics: ['plant/#'], qos: 1 }],
  delivery: (c) => (c.qos > 0 ? 'at-least-once' : 'best-effort'),
  create: unused,
});

export const fakeOpcuaSource = defineSource({
  type: 'opcua',
  title: 'OPC UA subscription',
  summary: 'Monitors OPC UA nodes.',
  config: z.strictObject({
    endpoint: z.string().describe('Endpoint URL.'),
    nodes: z
      .array(
        z.strictObject({
          nodeId: z.string().describe('Node id.'),
          name: z.string().optional().describe('Name.'),
        }),
      )
      .min(1),
    password: secret('Password.').optional(),
  }),
  delivery: () => 'best-effort',
  create: unused,
});

export const fakeMqttSink = defineSink({
  type: 'mqtt',
  title: 'MQTT publisher',
  summary: 'Publishes to an MQTT broker.',
  config: z.strictObject({
    url: z.string().describe('Broker URL.'),
    topic: z.string().describe('Topic template.'),
    qos,
    retain: z.boolean().default(false).describe('Retain flag.'),
    password: secret('Password.').optional(),
  }),
  examples: [{ url: 'mqtt://broker:1883', topic: 'out/{{ topic[1] }}' }],
  delivery: (c) => (c.qos > 0 ? 'at-least-once' : 'best-effort'),
  create: unused,
});

export const fakeInfluxSink = defineSink({
  type: 'influxdb',
  title: 'InfluxDB writer',
  summary: 'Writes points to InfluxDB.',
  config: z.strictObject({
    url: z.string().describe('Server URL.'),
    database: z.string().describe('Database.'),
    token: secret('API token.'),
  }),
  delivery: () => 'at-least-once',
  idempotent: () => true,
  create: unused,
});

export const fakePseudonymise = defineTransform({
  type: 'pseudonymise',
  title: 'Pseudonymise',
  summary: 'Replaces identifiers by keyed hashes.',
  config: z.strictObject({
    fields: z.array(z.string()).min(1).describe('Payload paths to replace.'),
    key: secret('HMAC key.'),
  }),
  create: unused,
});

export const fakeRegistry: Registry = {
  sources: [fakeMqttSource, fakeOpcuaSource],
  sinks: [fakeMqttSink, fakeInfluxSink],
  transforms: [fakePseudonymise],
};
