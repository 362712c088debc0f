import { z } from 'zod';
import { deliveryBatchSize, duration, builtSchema, lazySchema } from '../../src/sdk/index.js';
import { byteLayoutSchema } from '../../src/sdk/codecs/index.js';
import { checkConnection, connectionShape, topicFilterProblem } from '../mqtt/spec.js';
import type { SourceSpec } from '../../src/sdk/index.js';

/**
 * The config of the `chirpstack` source: the one place it is defined. The MQTT connection
 * settings are the MQTT connector's own.
 */

/** Event types the source understands; `rx` (v3 before 3.11) and `error` (v3) are read as `up` and `log`. */
export const CHIRPSTACK_EVENTS = [
  'up',
  'join',
  'status',
  'ack',
  'txack',
  'log',
  'location',
  'integration',
] as const;
export type ChirpstackEvent = (typeof CHIRPSTACK_EVENTS)[number];

export const DEFAULT_EVENT_TOPIC = 'application/{applicationId}/device/{devEui}/event/{event}';

const PLACEHOLDERS = ['{applicationId}', '{devEui}', '{event}'];

/** Why an event topic template is invalid, or undefined. */
export function eventTopicProblem(topic: string): string | undefined {
  const levels = topic.split('/');
  if (levels.some((l) => l.includes('+') || l.includes('#')))
    return 'the topic is a template with {applicationId}, {devEui} and {event}, not a filter: no + or #';
  for (const level of levels) {
    if (/[{}]/.test(level) && !PLACEHOLDERS.includes(level))
      return `"${level}": a placeholder ({applicationId}, {devEui} or {event}) must be a whole topic level`;
  }
  for (const p of PLACEHOLDERS) {
    if (levels.filter((l) => l === p).length > 1) return `${p} appears twice`;
  }
  if (!levels.includes('{event}')) return 'the topic must contain {event}: the event type is read from it';
  return undefined;
}

const devEui = lazySchema(() =>
  z
    .string()
    .regex(/^[0-9a-fA-F]{16}$/, 'a DevEUI is 16 hexadecimal characters')
    .transform((s) => s.toLowerCase()),
);

const decoderSpec = lazySchema(() =>
  z
    .union([
      z.enum(['none', 'cayenne-lpp']),
      z.strictObject({ type: z.literal('cayenne-lpp') }),
      z.strictObject({
        type: z.literal('byte-layout'),
        layout: byteLayoutSchema,
      }),
    ])
    .transform((d) => (typeof d === 'string' ? { type: d } : d)),
);

export type DecoderSpec = z.output<typeof decoderSpec>;

export const chirpstackSourceConfig = lazySchema(() =>
  z
    .strictObject({
      ...connectionShape,
      url: connectionShape.url.describe(
        "URL of the MQTT broker ChirpStack's MQTT integration publishes to: mqtt://, mqtts:// (TLS), ws:// or wss://.",
      ),
      clientId: connectionShape.clientId.describe(
        'MQTT client identifier; the broker keeps the persistent session under it. Default: `passerelle-<pipeline>` (with shareGroup: `passerelle-<pipeline>-<hostname>`, one per replica).',
      ),
      qos: z
        .union([z.literal(0), z.literal(1), z.literal(2)])
        .default(1)
        .describe(
          'Subscription QoS. 1 (default) or 2 with a persistent session gives at-least-once; 0 is best-effort.',
        ),
      cleanSession: z
        .boolean()
        .default(false)
        .describe(
          'Start with a clean session. Default false: the broker keeps events that arrive while passerelle is down or slow, and redelivers unacknowledged ones.',
        ),
      sessionExpiry: duration(
        'MQTT 5: how long the broker keeps the persistent session after a disconnect. Default 1d.',
      ).optional(),
      shareGroup: z
        .string()
        .regex(/^[^/+#]+$/, 'a share group name has no /, + or #')
        .optional()
        .describe(
          'Subscribe through `$share/<group>/...` so that several replicas split the events. Without it, one replica reads (the service holds a lease).',
        ),
      topic: z
        .string()
        .default(DEFAULT_EVENT_TOPIC)
        .superRefine((t, ctx) => {
          const problem = eventTopicProblem(t);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .describe(
          'Event topic layout, `event_topic` of ChirpStack, with {applicationId}, {devEui} and {event} as whole levels. v3 before 3.11: `application/{applicationId}/device/{devEui}/{event}`.',
        ),
      events: z
        .array(z.enum([...CHIRPSTACK_EVENTS, '*']))
        .min(1)
        .default(['up'])
        .describe(
          'Event types to read: up, join, status, ack, txack, log, location, integration, or * for every type (event types this connector does not know are then dead-lettered).',
        ),
      applications: z
        .array(z.string().regex(/^[^/+#]+$/, 'an application id has no /, + or #'))
        .min(1)
        .optional()
        .describe('Only these applications (v4 UUIDs, v3 numeric ids). Default: all.'),
      devices: z
        .array(builtSchema(devEui))
        .min(1)
        .optional()
        .describe('Only these devices (DevEUIs, 16 hex characters). Default: all.'),
      chirpstackVersion: z
        .enum(['auto', 'v4', 'v3'])
        .default('auto')
        .describe(
          'Event formats accepted: auto (v4 JSON and both v3 JSON marshalers, detected per message), v4 or v3 only. An event of another version is dead-lettered.',
        ),
      decoder: decoderSpec
        .prefault('none')
        .describe(
          'How `data` is decoded into `object` when ChirpStack sent no decoded object: none, cayenne-lpp, or { type: byte-layout, layout: [...] }.',
        ),
      decoders: z
        .record(z.string(), builtSchema(decoderSpec))
        .superRefine((decoders, ctx) => {
          for (const port of Object.keys(decoders))
            if (!/^([1-9]\d?|1\d\d|2[01]\d|22[0-3])$/.test(port))
              ctx.addIssue({ code: 'custom', path: [port], message: `"${port}": an fPort is 1..223` });
        })
        .optional()
        .describe(
          'Decoder per fPort, overriding `decoder`: `{ "1": cayenne-lpp, "2": { type: byte-layout, layout: [...] } }`.',
        ),
      useChirpstackObject: z
        .boolean()
        .default(true)
        .describe(
          "Use ChirpStack's decoded `object` when the event has one; false always applies our decoder.",
        ),
      onDecodeError: z
        .enum(['keep', 'dead-letter'])
        .default('keep')
        .describe(
          'A frame the decoder refuses: keep (the record with `object: null` and the reason in `objectError`, as ChirpStack does with a codec error; counted in passerelle_chirpstack_decode_errors_total) or dead-letter (the whole event, with the reason).',
        ),
      dataEncoding: z
        .enum(['hex', 'base64'])
        .default('hex')
        .describe('How the raw frame payload appears in the record `data`: hex or base64.'),
      dedupWindow: duration(
        'How long an event is remembered to drop duplicates (several integrations, redelivery). 0 turns deduplication off.',
      ).prefault('10m'),
      maxDevices: z
        .number()
        .int()
        .positive()
        .default(10_000)
        .describe(
          'Devices tracked at most for frame counters and per-device metrics; the least recently seen is forgotten beyond it.',
        ),
      deviceMetrics: z
        .union([z.boolean(), z.number().int().positive().max(100_000)])
        .default(false)
        .describe(
          'Per-device metric series (last seen, uplinks, lost uplinks, frame counter resets, RSSI, SNR: six series per device). Off by default: 10,000 devices make 60,000 series. `true` exports them for at most 1,000 devices, a number for at most that many (the devices seen first while tracked; a forgotten device frees its place).',
        ),
      maxPayloadBytes: z
        .number()
        .int()
        .positive()
        .default(256 * 1024)
        .describe('Largest event accepted, in bytes; larger ones are dead-lettered.'),
      receiveMaximum: z
        .number()
        .int()
        .positive()
        .max(65_535)
        .default(1000)
        .describe(
          'Events received and not yet stored, at most (the Receive Maximum, announced to the broker with MQTT 5); past it the broker holds the rest. Formerly maxInFlight.',
        ),
      batchSize: deliveryBatchSize(500, 'Events'),
    })
    .superRefine((config, ctx) => {
      checkConnection(config, ctx);
      const levels = config.topic.split('/');
      if (config.applications && !levels.includes('{applicationId}'))
        ctx.addIssue({
          code: 'custom',
          path: ['applications'],
          message: 'needs {applicationId} in the topic',
        });
      if (config.devices && !levels.includes('{devEui}'))
        ctx.addIssue({ code: 'custom', path: ['devices'], message: 'needs {devEui} in the topic' });
      if (config.sessionExpiry !== undefined && config.protocolVersion !== 5)
        ctx.addIssue({
          code: 'custom',
          path: ['sessionExpiry'],
          message: 'sessionExpiry needs protocolVersion 5',
        });
      const filters = subscriptionFilters(config);
      if (filters.length > 1000)
        ctx.addIssue({
          code: 'custom',
          path: ['devices'],
          message: `${filters.length} subscriptions (applications x devices x events): at most 1000; filter fewer devices`,
        });
      for (const f of filters.slice(0, 1000)) {
        const problem = topicFilterProblem(f);
        if (problem) {
          ctx.addIssue({ code: 'custom', path: ['topic'], message: `${f}: ${problem}` });
          break;
        }
      }
    })
    .describe('Reads LoRaWAN events from ChirpStack (v4 and v3) through its MQTT integration.'),
);

export type ChirpstackSourceConfig = z.output<typeof chirpstackSourceConfig>;

/** The names an event has on the wire: v3 says `error` for log, and `rx` for up before 3.11. */
export function wireNames(event: ChirpstackEvent, topic: string): string[] {
  if (event === 'log') return ['log', 'error'];
  if (event === 'up' && !topic.includes('/event/{event}')) return ['up', 'rx'];
  return [event];
}

/** The MQTT subscriptions for a config: one per application x device x event wire name. */
export function subscriptionFilters(
  config: Pick<ChirpstackSourceConfig, 'topic' | 'events' | 'applications' | 'devices' | 'shareGroup'>,
): string[] {
  const apps = config.applications ?? ['+'];
  const devices = config.devices ?? ['+'];
  const events = config.events.includes('*')
    ? ['+']
    : [...new Set(config.events.flatMap((e) => wireNames(e as ChirpstackEvent, config.topic)))];
  const out: string[] = [];
  for (const app of apps)
    for (const dev of devices)
      for (const event of events) {
        const filter = config.topic
          .split('/')
          .map((l) => (l === '{applicationId}' ? app : l === '{devEui}' ? dev : l === '{event}' ? event : l))
          .join('/');
        out.push(config.shareGroup ? `$share/${config.shareGroup}/${filter}` : filter);
      }
  return [...new Set(out)];
}

/** Reads the placeholders of an event topic; undefined when the topic does not have the template's shape. */
export function matchEventTopic(
  template: string,
  topic: string,
): { event: string; applicationId?: string; devEui?: string } | undefined {
  const want = template.split('/');
  const got = topic.split('/');
  if (want.length !== got.length) return undefined;
  const out: { event?: string; applicationId?: string; devEui?: string } = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    const g = got[i] as string;
    if (w === '{event}') out.event = g;
    else if (w === '{applicationId}') out.applicationId = g;
    else if (w === '{devEui}') out.devEui = g;
    else if (w !== g) return undefined;
  }
  return out.event === undefined ? undefined : { ...out, event: out.event };
}

export const chirpstackSourceSpec: SourceSpec<typeof chirpstackSourceConfig> = {
  kind: 'source',
  renamed: { maxInFlight: 'receiveMaximum' },
  type: 'chirpstack',
  title: 'ChirpStack (LoRaWAN) events',
  summary:
    "Reads uplinks and other device events from ChirpStack's MQTT integration (v4 and v3), decodes payloads (ChirpStack's object, Cayenne LPP or a byte layout), drops duplicates and tracks frame counters.",
  get config() {
    return builtSchema(chirpstackSourceConfig);
  },
  examples: [
    { url: 'mqtt://chirpstack-mosquitto:1883' },
    {
      url: 'mqtts://lns.example.com:8883',
      username: 'passerelle',
      password: '${env:CHIRPSTACK_MQTT_PASSWORD}',
      tls: { ca: '/etc/passerelle/ca.pem' },
      applications: ['17c82e96-be03-4f38-aef3-f83d48582d97'],
      events: ['up', 'status'],
      decoders: {
        '1': 'cayenne-lpp',
        '2': { type: 'byte-layout', layout: [{ name: 'level', offset: 0, type: 'uint16be', scale: 0.1 }] },
      },
    },
  ],
  delivery: (config) => (config.qos >= 1 && !config.cleanSession ? 'at-least-once' : 'best-effort'),
  // Without a share group every replica would read every event: one replica reads, under a lease.
  singleReader: (config) => config.shareGroup === undefined,
  load: async () => (await import('./index.js')).chirpstackSource,
};
