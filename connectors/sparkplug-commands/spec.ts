import { z } from 'zod';
import { deliveryBatchSize, type SourceSpec, builtSchema, lazySchema } from '../../src/sdk/index.js';
import { checkConnection, connectionShape } from '../mqtt/spec.js';
import { edgeIdentity, sparkplugId } from '../sparkplug/edge-spec.js';

/** The config of the `sparkplug-commands` source: the NCMD/DCMD that host applications send to passerelle's edge node (the `sparkplug` sink). */

const writableMetric = lazySchema(() =>
  z.strictObject({
    device: sparkplugId('Device id (DCMD); without it the metric is an edge node metric (NCMD).').optional(),
    metric: z
      .string()
      .min(1)
      .describe('Metric name; `*` matches any characters, so `Setpoints/*` allows a folder.'),
  }),
);

export const sparkplugCommandsConfig = lazySchema(() =>
  z
    .strictObject({
      ...connectionShape,
      ...edgeIdentity,
      writable: z
        .array(builtSchema(writableMetric))
        .min(1)
        .describe(
          'Metrics host applications may write. A command for any other metric is dead-lettered with the reason and counted: only these reach the pipeline (and a PLC behind it).',
        ),
      maxPayloadBytes: z
        .number()
        .int()
        .positive()
        .default(256 * 1024)
        .describe('Largest command payload accepted, in bytes; larger ones are dead-lettered.'),
      maxQueuedCommands: z
        .number()
        .int()
        .positive()
        .max(65_535)
        .default(1000)
        .describe(
          'Command metrics received and not yet handled by the pipeline, at most. Formerly maxInFlight.',
        ),
      batchSize: deliveryBatchSize(100),
    })
    .superRefine((config, ctx) => checkConnection(config, ctx))
    .describe('Receives the NCMD and DCMD that host applications send to a Sparkplug edge node.'),
);

export type SparkplugCommandsConfig = z.output<typeof sparkplugCommandsConfig>;

/** The registry's entry of the commands source. */
export const sparkplugCommandsSourceSpec: SourceSpec<typeof sparkplugCommandsConfig> = {
  kind: 'source',
  renamed: { maxInFlight: 'maxQueuedCommands' },
  type: 'sparkplug-commands',
  title: 'Sparkplug B edge node commands',
  summary:
    "Receives the NCMD and DCMD that host applications send to passerelle's Sparkplug edge node, one message per writable metric (e.g. into opcua-write).",
  get config() {
    return builtSchema(sparkplugCommandsConfig);
  },
  examples: [
    {
      url: 'mqtt://broker:1883',
      groupId: 'plant',
      edgeNodeId: 'passerelle-line1',
      writable: [{ device: 'line1', metric: 'Setpoints/*' }],
    },
  ],
  // Commands are MQTT messages of a clean session, taken as they come.
  delivery: () => 'best-effort',
  // Every replica would receive every command and write it again.
  singleReader: () => true,
  load: async () => (await import('./index.js')).sparkplugCommandsSource,
};
