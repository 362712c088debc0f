import { z } from 'zod';
import { templateProblem, duration, builtSchema, lazySchema } from '../../src/sdk/index.js';
import { byteLayoutSchema } from '../../src/sdk/codecs/index.js';
import { checkConnection, connectionShape } from '../mqtt/spec.js';
import type { SinkSpec } from '../../src/sdk/index.js';

/**
 * The config of the `chirpstack-downlink` sink: the one place it is defined. The MQTT connection
 * settings are the MQTT connector's own.
 */

export const DEFAULT_COMMAND_TOPIC = 'application/{applicationId}/device/{devEui}/command/down';

const template = (description: string) =>
  z
    .string()
    .min(1)
    .superRefine((t, ctx) => {
      const problem = templateProblem(t);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(description);

export const chirpstackDownlinkConfig = lazySchema(() =>
  z
    .strictObject({
      ...connectionShape,
      url: connectionShape.url.describe(
        "URL of the MQTT broker ChirpStack's MQTT integration listens on: mqtt://, mqtts:// (TLS), ws:// or wss://.",
      ),
      topic: z
        .string()
        .default(DEFAULT_COMMAND_TOPIC)
        .refine(
          (t) => t.split('/').includes('{applicationId}') && t.split('/').includes('{devEui}'),
          'the command topic needs {applicationId} and {devEui} as whole levels',
        )
        .describe(
          'Command topic layout, `command_topic` of ChirpStack. v3 before 3.11: `application/{applicationId}/device/{devEui}/tx`.',
        ),
      applicationId: template(
        'Application of the device (v4 UUID, v3 numeric id), a template. Default: from an uplink record.',
      ).default('{{ meta.chirpstack.applicationId }}'),
      devEui: template('DevEUI of the device, a template. Default: from an uplink record.').default(
        '{{ meta.chirpstack.devEui }}',
      ),
      fPort: z
        .union([z.number().int().min(1).max(223), template('')])
        .describe('LoRaWAN port 1..223, or a template giving it, e.g. `{{ payload.fPort }}`.'),
      confirmed: z
        .union([z.boolean(), template('')])
        .default(false)
        .describe(
          'Ask the device to acknowledge the downlink (ChirpStack then emits an `ack` event). Or a template giving true/false.',
        ),
      from: z
        .string()
        .default('payload')
        .describe(
          'Where the downlink content is in the message: `payload` or a path into it, e.g. `payload.command`.',
        ),
      encoder: z
        .union([
          z.enum(['bytes', 'hex', 'base64', 'cayenne-lpp', 'chirpstack']),
          z.strictObject({ type: z.literal('byte-layout'), layout: byteLayoutSchema }),
        ])
        .default('bytes')
        .transform((e) => (typeof e === 'string' ? { type: e } : e))
        .describe(
          'How the content becomes the frame: bytes (raw bytes), hex or base64 (a string), cayenne-lpp (an object of the decoded shape), { type: byte-layout, layout } (an object), or chirpstack (sent as `object` for the device profile codec).',
        ),
      chirpstackVersion: z
        .enum(['v4', 'v3'])
        .default('v4')
        .describe('Command format: v4 (with devEui in the body, required by v4) or v3.'),
      encoding: z
        .enum(['auto', 'json', 'protobuf'])
        .default('auto')
        .describe(
          "How commands are encoded, as ChirpStack's `[integration.mqtt] json` expects: json (`json = true`, ChirpStack's default), protobuf (`json = false`: a binary `integration.DownlinkCommand`), or auto: protobuf for a message from a `chirpstack` source that received Protobuf (`meta.chirpstack.format` is v4-protobuf), json otherwise. v4 only.",
        ),
      commandId: template(
        "The command's `id` (v4), a template; a value that is not a UUID is hashed into one. ChirpStack refuses a command whose id is already in the device queue, so a retried command is not queued twice. Default: a UUID derived from the pipeline, this sink's place in it and the message id.",
      ).optional(),
      expiresAfter: duration(
        "The command's `expiresAt` (v4): the message time plus this; ChirpStack drops the downlink from the queue if it was not sent by then. Stale commands of a backlog then expire instead of reaching the device.",
      ).optional(),
      expiresAt: template(
        "The command's `expiresAt` (v4) as a template giving an ISO 8601 time or Unix milliseconds, e.g. `{{ payload.validUntil }}`. Not with expiresAfter.",
      ).optional(),
      qos: z
        .union([z.literal(0), z.literal(1), z.literal(2)])
        .default(1)
        .describe('Publish QoS; with 1 or 2 a batch is written once the broker acknowledged every command.'),
      maxUnacked: z
        .number()
        .int()
        .positive()
        .max(65_535)
        .default(100)
        .describe(
          'Commands sent and not yet acknowledged by the broker (PUBACK), at most. Formerly maxInFlight.',
        ),
      writeTimeout: duration(
        'How long a batch may wait for the broker to acknowledge its commands before it is retried.',
      ).prefault('30s'),
    })
    .superRefine((config, ctx) => {
      checkConnection(config, ctx);
      if (config.expiresAfter !== undefined && config.expiresAt !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['expiresAt'],
          message: 'give expiresAfter or expiresAt, not both',
        });
      if (config.chirpstackVersion === 'v3')
        for (const key of ['commandId', 'expiresAfter', 'expiresAt'] as const)
          if (config[key] !== undefined)
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message: `${key} needs ChirpStack v4: v3 commands have no such field`,
            });
      if (config.chirpstackVersion === 'v3' && config.encoding === 'protobuf')
        ctx.addIssue({
          code: 'custom',
          path: ['encoding'],
          message: 'v3 commands are JSON: encoding protobuf needs ChirpStack v4',
        });
    })
    .describe("Queues downlinks through ChirpStack's MQTT command topic."),
);

export type ChirpstackDownlinkConfig = z.output<typeof chirpstackDownlinkConfig>;

export const chirpstackDownlinkSinkSpec: SinkSpec<typeof chirpstackDownlinkConfig> = {
  kind: 'sink',
  renamed: { maxInFlight: 'maxUnacked' },
  type: 'chirpstack-downlink',
  title: 'ChirpStack downlinks',
  summary:
    "Queues LoRaWAN downlinks through ChirpStack's MQTT command topic; the frame from bytes, hex, base64, Cayenne LPP or a byte layout, or an object for the device profile codec.",
  get config() {
    return builtSchema(chirpstackDownlinkConfig);
  },
  examples: [
    { url: 'mqtt://chirpstack-mosquitto:1883', fPort: 10, encoder: 'cayenne-lpp' },
    {
      url: 'mqtt://chirpstack-mosquitto:1883',
      applicationId: '{{ payload.applicationId }}',
      devEui: '{{ payload.devEui }}',
      fPort: 2,
      confirmed: true,
      from: 'payload.command',
      encoder: {
        type: 'byte-layout',
        layout: [{ name: 'setpoint', offset: 0, type: 'int16be', scale: 0.1 }],
      },
    },
  ],
  delivery: (config) => (config.qos >= 1 ? 'at-least-once' : 'best-effort'),
  // v4: every command has an id stable per message, and ChirpStack refuses an id already queued.
  // v3 commands have no id: a retried batch queues the same downlink again.
  idempotent: (config) => config.chirpstackVersion === 'v4',
  caveats: (config) =>
    config.chirpstackVersion === 'v4'
      ? [
          'ChirpStack refuses a repeated command id only while the first command is still in the device queue: a command retried after its downlink was sent is queued again',
        ]
      : ['v3 commands have no id: a retried command is queued twice'],
  load: async () => (await import('./index.js')).chirpstackDownlinkSink,
};
