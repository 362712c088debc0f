import { z } from 'zod';
import {
  TemplateError,
  templateProblem,
  deliveryBatchSize,
  duration,
  secret,
  tlsOptions,
  checkTlsScheme,
  urlScheme,
  type TemplateOptions,
  type TemplatePart,
  builtSchema,
  lazySchema,
} from '../../src/sdk/index.js';
import type { SinkSpec, SourceSpec } from '../../src/sdk/index.js';

/**
 * The config of the `mqtt` source and sink: the one place it is defined. The config layer adds
 * the `type` key; durations are parsed to milliseconds.
 */

const SCHEMES = ['mqtt:', 'mqtts:', 'ws:', 'wss:'];
const SECURE_SCHEMES = ['mqtts:', 'wss:'];

/** Why a subscription filter is invalid, or undefined when it is valid (MQTT 5 §4.7, §4.8.2). */
export function topicFilterProblem(filter: string): string | undefined {
  let f = filter;
  if (f.startsWith('$share/')) {
    const rest = f.slice('$share/'.length);
    const slash = rest.indexOf('/');
    const group = slash < 0 ? rest : rest.slice(0, slash);
    if (slash < 0 || group === '' || rest.slice(slash + 1) === '')
      return 'a shared subscription is $share/<group>/<filter>';
    if (/[+#]/.test(group)) return 'a share group name can not contain + or #';
    f = rest.slice(slash + 1);
  }
  if (f === '') return 'a topic filter can not be empty';
  if (f.includes('\u0000')) return 'a topic filter can not contain the NUL character';
  const levels = f.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] ?? '';
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1))
      return '# must be a whole level and the last one';
    if (level.includes('+') && level !== '+') return '+ must be a whole level';
  }
  return undefined;
}

/** Why a topic name (for PUBLISH) is invalid, or undefined. */
export function topicNameProblem(topic: string): string | undefined {
  if (topic === '') return 'the topic is empty';
  if (/[+#]/.test(topic)) return `the topic "${topic}" contains a wildcard (+ or #)`;
  if (topic.includes('\u0000')) return 'the topic contains the NUL character';
  if (Buffer.byteLength(topic) > 65_535) return 'the topic is longer than 65535 bytes';
  return undefined;
}

export type TopicValues = 'reject' | 'escape' | 'levels';

// eslint-disable-next-line no-control-regex -- NUL is one of the characters a topic level can not hold
const LEVEL_UNSAFE = /[/+#\u0000]/;
// eslint-disable-next-line no-control-regex -- the same without `/`, for `levels`
const WILDCARD_OR_NUL = /[+#\u0000]/;
// eslint-disable-next-line no-control-regex -- the same, and % so that escaping stays reversible
const LEVEL_ESCAPED = /[%/+#\u0000]/g;

/**
 * The rule for values a topic template takes from the message (payload, meta other than the
 * source topic, id): they fill part of one level. A `/` would add levels
 * (`d7/../../cmd/valve-3/set`), `+` and `#` are wildcards, NUL is not allowed in a topic. Such a
 * value fails the message (`reject`), or is percent-encoded (`escape`: `/` -> `%2F`, and `%`
 * itself -> `%25`). `levels` lets values add levels (names the pipeline author chose, such as
 * OPC UA node names `Line1/Temperature`) but still refuses wildcards and NUL. The source topic's
 * own levels (`topic[N]`, `meta.mqtt.topic`) are copied as they are: they were a valid topic already.
 */
export function topicValueRule(
  template: string,
  mode: TopicValues,
): (text: string, part: TemplatePart) => string {
  return (text, part) => {
    if (part.source !== 'payload' && part.source !== 'meta' && part.source !== 'id') return text;
    if (!LEVEL_UNSAFE.test(text)) return text;
    if (mode === 'levels' && !WILDCARD_OR_NUL.test(text)) return text;
    if (mode === 'escape')
      return text.replace(
        LEVEL_ESCAPED,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
      );
    const found = (mode === 'levels' ? WILDCARD_OR_NUL : LEVEL_UNSAFE).exec(text)![0];
    const problem =
      found === '/'
        ? 'contains "/", which would add topic levels'
        : found === '\u0000'
          ? 'contains the NUL character'
          : `contains "${found}", a wildcard`;
    throw new TemplateError(
      `topic template "${template}": the value of ${part.expression} ${problem} (set topicValues: escape to publish it escaped)`,
    );
  };
}

/** With `missingValues: reject`, a missing, null or empty value of the topic fails the message. */
export function topicEmptyRule(
  template: string,
  missingValues: 'reject' | 'empty',
): TemplateOptions['onEmpty'] {
  if (missingValues === 'empty') return undefined;
  return (part, how) => {
    throw new TemplateError(
      `topic template "${template}": ${part.expression} is ${how} in this message, which would publish to a topic shared with other keys (set missingValues: empty to publish it anyway)`,
    );
  };
}

/** Connection settings shared by the source and the sink. */
export const connectionShape = lazySchema(() => ({
  url: z
    .string()
    .refine(
      (u) => SCHEMES.includes(urlScheme(u) ?? ''),
      'expected a broker URL such as mqtt://host:1883, mqtts://host:8883, ws://host:8080/mqtt or wss://host/mqtt',
    )
    .describe(
      'Broker URL: mqtt:// (TCP), mqtts:// (TLS), ws:// or wss:// (WebSocket; the path matters for some brokers, e.g. /mqtt for EMQX).',
    ),
  clientId: z
    .string()
    .min(1)
    .max(256)
    .optional()
    .describe(
      'MQTT client identifier. Default: a random `passerelle_...` id. Required for a persistent session; must be unique per connection (two clients with the same id throw each other off).',
    ),
  protocolVersion: z
    .union([z.literal(4), z.literal(5)])
    .default(5)
    .describe(
      'MQTT protocol version: 5 (MQTT 5.0, needed for user properties, message expiry, session expiry and flow control) or 4 (MQTT 3.1.1, for old brokers).',
    ),
  username: z.string().optional().describe('User name for the broker.'),
  password: secret('Password for the broker.').optional(),
  tls: tlsOptions.optional(),
  keepalive: duration(
    'Keep-alive interval: the client pings the broker when idle and reconnects when the broker stops answering. 0 turns it off.',
  ).prefault('60s'),
  connectTimeout: duration('How long one connection attempt may take before it counts as failed.').prefault(
    '30s',
  ),
  reconnectDelay: duration(
    'Delay before the first reconnection attempt; it doubles on each failed attempt, with jitter.',
  ).prefault('1s'),
  reconnectMaxDelay: duration(
    'Longest delay between two reconnection attempts. Reconnection never gives up.',
  ).prefault('30s'),
}));

export function checkConnection(config: { url: string; tls?: unknown }, ctx: z.RefinementCtx): void {
  // mqtt.js silently upgrades mqtt:// to TLS when a client certificate is given: make the choice explicit.
  checkTlsScheme(config, ctx, SECURE_SCHEMES);
}

const payloadEncoding = lazySchema(() => z.enum(['json', 'text', 'bytes']));

export const mqttSourceConfig = lazySchema(() =>
  z
    .strictObject({
      ...connectionShape,
      topics: z
        .array(
          z.string().superRefine((f, ctx) => {
            const problem = topicFilterProblem(f);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
        )
        .min(1)
        .describe(
          'Topic filters to subscribe to, with + (one level) and # (all levels below). `$share/<group>/<filter>` splits the messages between every client of the group (replicas).',
        ),
      qos: z
        .union([z.literal(0), z.literal(1), z.literal(2)])
        .default(1)
        .describe(
          'Subscription QoS: 0 (at most once), 1 (at least once) or 2. With 1 or 2 the acknowledgement is held back until the messages are stored.',
        ),
      cleanSession: z
        .boolean()
        .default(true)
        .describe(
          'Start with a clean session. false keeps the session (subscriptions and unacknowledged messages) on the broker across reconnects and restarts: needed for at-least-once delivery; requires clientId.',
        ),
      sessionExpiry: duration(
        'MQTT 5: how long the broker keeps a persistent session (cleanSession false) after a disconnect. Default 1d.',
      ).optional(),
      payload: payloadEncoding
        .default('json')
        .describe(
          'How payloads are decoded: json (UTF-8 JSON), text (UTF-8 string) or bytes (kept as they are). Payloads that fail to decode are dead-lettered.',
        ),
      maxPayloadBytes: z
        .number()
        .int()
        .positive()
        .default(1024 * 1024)
        .describe(
          'Largest payload accepted, in bytes; larger messages are dead-lettered (their first bytes, size and SHA-256). With MQTT 5 it is also announced to the broker as Maximum Packet Size (plus 66,559 bytes for the topic and header): the broker then drops larger messages instead of sending them.',
        ),
      receiveMaximum: z
        .number()
        .int()
        .positive()
        .max(65_535)
        .default(1000)
        .describe(
          'Messages received and not yet stored, at most (the Receive Maximum). Past it the source stops reading and the broker holds the rest. With MQTT 5 it is also announced to the broker as Receive Maximum. Formerly maxInFlight.',
        ),
      batchSize: deliveryBatchSize(500),
    })
    .superRefine((config, ctx) => {
      checkConnection(config, ctx);
      if (!config.cleanSession && !config.clientId) {
        ctx.addIssue({
          code: 'custom',
          path: ['clientId'],
          message:
            'cleanSession: false needs a fixed clientId, so that the broker finds the session again after a reconnect or restart',
        });
      }
      if (config.sessionExpiry !== undefined && config.protocolVersion !== 5) {
        ctx.addIssue({
          code: 'custom',
          path: ['sessionExpiry'],
          message: 'sessionExpiry needs protocolVersion 5 (with 3.1.1 the broker decides)',
        });
      }
    })
    .describe('Subscribes to MQTT topics.'),
);

export const mqttSinkConfig = lazySchema(() =>
  z
    .strictObject({
      ...connectionShape,
      topic: z
        .string()
        .min(1)
        .superRefine((t, ctx) => {
          const problem = templateProblem(t);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .describe(
          'Topic to publish to, a template: `plant/{{ payload.line }}/out`, `copy/{{ meta.mqtt.topic }}`, `{{ topic[1] }}/data`.',
        ),
      topicValues: z
        .enum(['reject', 'escape', 'levels'])
        .default('reject')
        .describe(
          'What to do with a value from the message (payload, meta, id) that holds `/`, `+`, `#` or NUL in the topic template: `reject` dead-letters the message with the reason (a payload must not choose other topic levels); `escape` publishes it percent-encoded within its level (`a/b` -> `a%2Fb`, `%` -> `%25`); `levels` lets `/` add levels, for names the pipeline author controls such as OPC UA node names (wildcards and NUL are still refused). The source topic (`topic[N]`, `meta.mqtt.topic`) is always copied as it is.',
        ),
      missingValues: z
        .enum(['reject', 'empty'])
        .default('reject')
        .describe(
          'What to do when a `{{ }}` value of the topic is missing, null or empty text in a message: `reject` dead-letters the message with the reason (`factory/{{ payload.node }}` without `node` would publish to `factory/`, mixing the values of every node); `empty` renders it as empty text.',
        ),
      qos: z
        .union([z.literal(0), z.literal(1), z.literal(2)])
        .default(1)
        .describe(
          'Publish QoS. With 1 or 2 a batch counts as written once the broker acknowledged every message; 0 is fire and forget.',
        ),
      retain: z
        .boolean()
        .default(false)
        .describe(
          'Publish with the retain flag: the broker keeps the last message of each topic for new subscribers.',
        ),
      payload: payloadEncoding
        .default('json')
        .describe(
          'How payloads are encoded: json (JSON text), text (strings as they are, numbers and booleans as text) or bytes (bytes or strings as they are). Bytes payloads are always sent as they are.',
        ),
      userProperties: z
        .record(
          z.string(),
          z.string().superRefine((t, ctx) => {
            const problem = templateProblem(t);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          }),
        )
        .optional()
        .describe(
          'MQTT 5 user properties added to each message: names to templates, e.g. `{ source: "{{ meta.mqtt.topic }}" }`.',
        ),
      messageExpiry: duration(
        'MQTT 5 message expiry: the broker drops the message if no subscriber took it within this time (rounded to seconds).',
      ).optional(),
      maxUnacked: z
        .number()
        .int()
        .positive()
        .max(65_535)
        .default(100)
        .describe(
          "QoS 1/2 publishes sent and not yet acknowledged (PUBACK/PUBCOMP), at most; also capped by the broker's Receive Maximum. Formerly maxInFlight.",
        ),
      writeTimeout: duration(
        'How long a batch may wait for the broker to acknowledge its publishes; past it the batch is retried (at-least-once: the broker may get some messages twice).',
      ).prefault('30s'),
    })
    .superRefine((config, ctx) => {
      checkConnection(config, ctx);
      if (config.protocolVersion !== 5) {
        if (config.userProperties)
          ctx.addIssue({
            code: 'custom',
            path: ['userProperties'],
            message: 'userProperties need protocolVersion 5',
          });
        if (config.messageExpiry !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['messageExpiry'],
            message: 'messageExpiry needs protocolVersion 5',
          });
      }
    })
    .describe('Publishes messages to an MQTT broker.'),
);

export type MqttSourceConfig = z.output<typeof mqttSourceConfig>;
export type MqttSinkConfig = z.output<typeof mqttSinkConfig>;
export type MqttConnectionConfig = Pick<
  MqttSourceConfig,
  | 'url'
  | 'clientId'
  | 'protocolVersion'
  | 'username'
  | 'password'
  | 'tls'
  | 'keepalive'
  | 'connectTimeout'
  | 'reconnectDelay'
  | 'reconnectMaxDelay'
>;
export type PayloadEncoding = z.output<typeof payloadEncoding>;

export const mqttSourceSpec: SourceSpec<typeof mqttSourceConfig> = {
  kind: 'source',
  renamed: { maxInFlight: 'receiveMaximum' },
  type: 'mqtt',
  title: 'MQTT subscriber',
  summary:
    'Subscribes to topics on an MQTT 3.1.1 or 5 broker; with QoS 1/2 and a persistent session, acknowledges a message only once it is stored.',
  get config() {
    return builtSchema(mqttSourceConfig);
  },
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
  load: async () => (await import('./index.js')).mqttSource,
};

export const mqttSinkSpec: SinkSpec<typeof mqttSinkConfig> = {
  kind: 'sink',
  renamed: { maxInFlight: 'maxUnacked' },
  type: 'mqtt',
  title: 'MQTT publisher',
  summary:
    'Publishes messages to an MQTT broker, topic and user properties from templates; a batch is written once the broker acknowledged every message.',
  get config() {
    return builtSchema(mqttSinkConfig);
  },
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
  load: async () => (await import('./index.js')).mqttSink,
};
