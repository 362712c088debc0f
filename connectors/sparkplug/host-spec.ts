import { z } from 'zod';
import {
  deliveryBatchSize,
  duration,
  type SourceSpec,
  builtSchema,
  lazySchema,
} from '../../src/sdk/index.js';
import { checkConnection, connectionShape } from '../mqtt/spec.js';
import { invalidIdReason } from './topic.js';

/** A group, edge node or host id: no "/", "+", "#" (they would change the topic structure). */
const sparkplugId = (what: string) =>
  z.string().superRefine((id, ctx) => {
    const problem = invalidIdReason(id);
    if (problem) ctx.addIssue({ code: 'custom', message: `${what} ${problem}` });
  });

export const sparkplugSourceConfig = lazySchema(() =>
  z
    .strictObject({
      ...connectionShape,
      groups: z
        .array(z.union([z.literal('+'), sparkplugId('group id')]))
        .min(1)
        .default(['+'])
        .describe(
          'Sparkplug groups to read: the source subscribes to `spBv1.0/<group>/#` for each. `+` (the default) reads every group.',
        ),
      output: z
        .enum(['metric', 'payload'])
        .default('metric')
        .describe(
          '`metric`: one message per metric (group, edge node, device, metric name, value, datatype, timestamp, properties, quality). `payload`: one message per Sparkplug payload, with its metrics in an array.',
        ),
      requestRebirth: z
        .boolean()
        .default(false)
        .describe(
          'Publish an NCMD `Node Control/Rebirth` to an edge node whose data can not be trusted: a sequence gap, data before its birth, an unknown metric or alias. Off by default, so that a reading bridge sends nothing to the plant unless allowed; without it such data is dropped (and counted) until the edge node publishes a new birth by itself.',
        ),
      rebirthInterval: duration(
        'Shortest time between two Rebirth requests to the same edge node, so that a burst of bad data asks once.',
      ).prefault('10s'),
      primaryHost: z
        .strictObject({
          hostId: sparkplugId('host id').describe(
            'The Sparkplug host id: the source publishes `spBv1.0/STATE/<hostId>`, and edge nodes configured with this primary host wait for it.',
          ),
        })
        .optional()
        .describe(
          'Act as a primary host application (Sparkplug 3.0): publish a retained STATE birth `{"online": true, "timestamp": …}` once subscribed, with the matching `online: false` as the MQTT Will.',
        ),
      qos: z
        .union([z.literal(0), z.literal(1)])
        .default(1)
        .describe(
          'Subscription QoS. Edge nodes publish data at QoS 0 and deaths at QoS 1; 1 keeps what they send at 1.',
        ),
      maxPayloadBytes: z
        .number()
        .int()
        .positive()
        .default(1024 * 1024)
        .describe('Largest Sparkplug payload accepted, in bytes; larger ones are dead-lettered unread.'),
      maxMetricsPerPayload: z
        .number()
        .int()
        .positive()
        .default(100_000)
        .describe(
          'Most metrics in one payload (templates included); a payload with more is dead-lettered unread.',
        ),
      maxQueuedMetrics: z
        .number()
        .int()
        .positive()
        .default(10_000)
        .describe(
          'Metrics (one message each) received and not yet stored, at most. Past it the source stops reading from the broker until the pipeline catches up. Formerly maxInFlight.',
        ),
      batchSize: deliveryBatchSize(500),
    })
    .superRefine((config, ctx) => {
      checkConnection(config, ctx);
      if (config.groups.includes('+') && config.groups.length > 1)
        ctx.addIssue({
          code: 'custom',
          path: ['groups'],
          message: '`+` already reads every group: list groups or use `+`, not both',
        });
    })
    .describe('Reads Sparkplug B as a host application.'),
);

export type SparkplugSourceConfig = z.output<typeof sparkplugSourceConfig>;

/** The registry's entry of the source (loaded lazily: see src/sdk/define.ts). */
export const sparkplugSourceSpec: SourceSpec<typeof sparkplugSourceConfig> = {
  kind: 'source',
  renamed: { maxInFlight: 'maxQueuedMetrics' },
  type: 'sparkplug',
  title: 'Sparkplug B host application',
  summary:
    'Reads Sparkplug B (spBv1.0) as a host application: births register metrics and aliases, data is resolved through them, deaths mark metrics stale, sequence gaps are counted and may request a rebirth; optional primary host STATE.',
  get config() {
    return builtSchema(sparkplugSourceConfig);
  },
  examples: [
    { url: 'mqtt://broker:1883', groups: ['Plant1'] },
    {
      url: 'mqtts://broker:8883',
      username: 'scada',
      password: '${env:MQTT_PASSWORD}',
      tls: { ca: '/etc/passerelle/ca.pem' },
      groups: ['+'],
      requestRebirth: true,
      primaryHost: { hostId: 'passerelle' },
    },
  ],
  // Sparkplug hosts use a clean session and edge nodes publish data at QoS 0.
  delivery: () => 'best-effort',
  // Sequence numbers and aliases are per connection: one replica reads.
  singleReader: () => true,
  warnings: (config) =>
    config.requestRebirth
      ? []
      : [
          {
            path: ['requestRebirth'],
            message:
              'requestRebirth is false: after a missed birth (passerelle started after the edge node, a sequence gap), the data of that edge node is dropped until it publishes a new birth by itself',
          },
        ],
  load: async () => (await import('./index.js')).sparkplugSource,
};
