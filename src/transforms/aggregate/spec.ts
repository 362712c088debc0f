import { z } from 'zod';
import { duration, templateProblem, builtSchema, lazySchema } from '../../sdk/index.js';
import type { TransformSpec } from '../../sdk/index.js';
import { valuePath } from '../shared/value-path.js';

export const AGGREGATE_FUNCTIONS = ['count', 'min', 'max', 'mean', 'sum', 'first', 'last'] as const;
export type AggregateFunction = (typeof AGGREGATE_FUNCTIONS)[number];

const KEY_SHORTCUTS = ['auto', 'topic', 'nodeId', 'devEui', 'none'];

export const aggregateTransformConfig = lazySchema(() =>
  z
    .strictObject({
      window: duration(
        'Length of each tumbling window, aligned on the epoch in UTC (1h windows start on the hour).',
      ).prefault('1m'),
      key: z
        .string()
        .min(1)
        .superRefine((key, ctx) => {
          if (KEY_SHORTCUTS.includes(key)) return;
          if (!key.includes('{{')) {
            ctx.addIssue({
              code: 'custom',
              message: `key must be auto, topic, nodeId, devEui, none or a {{ }} template (e.g. "{{ payload.device }}"), got "${key}"`,
            });
            return;
          }
          const problem = templateProblem(key);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .default('auto')
        .describe(
          'Windows are kept per key: auto (meta opcua.nodeId, else chirpstack.devEui, else mqtt.topic), topic, nodeId, devEui, none (one window for all), or a template such as "{{ payload.device }}".',
        ),
      fields: z
        .array(valuePath('aggregate', 'names each output after one path'))
        .min(1)
        .default(['payload'])
        .describe(
          'The numbers to aggregate, as paths (payload.temperature). Default: the payload itself. In the output, payload.x is named x and the payload itself value.',
        ),
      functions: z
        .array(z.enum(AGGREGATE_FUNCTIONS))
        .min(1)
        .default(['count', 'min', 'max', 'mean'])
        .describe(
          'What is computed per field: count (numbers seen), min, max, mean, sum, first and last (by message time).',
        ),
      lateness: duration(
        'How long after its end a window stays open for late messages (by this host\u2019s clock) before it is emitted.',
      ).prefault('1s'),
      maxWindows: z
        .int()
        .positive()
        .default(100_000)
        .describe('Most windows open at once (all keys); a message that would open one more is rejected.'),
    })
    .refine((c) => c.window >= 100, { message: 'window must be at least 100ms', path: ['window'] })
    .refine((c) => c.window <= 31 * 86_400_000, { message: 'window must be at most 31d', path: ['window'] })
    .refine((c) => new Set(c.fields).size === c.fields.length, {
      message: 'a field is listed twice',
      path: ['fields'],
    }),
);

export type AggregateTransformConfig = z.output<typeof aggregateTransformConfig>;

export const aggregateTransformSpec: TransformSpec<typeof aggregateTransformConfig> = {
  kind: 'transform',
  type: 'aggregate',
  title: 'Aggregate (tumbling windows)',
  summary:
    'Downsamples per key into tumbling windows: count, min, max, mean, sum, first and last of chosen fields, emitted when each window ends.',
  get config() {
    return builtSchema(aggregateTransformConfig);
  },
  examples: [
    { window: '1m', fields: ['payload.temperature'] },
    {
      window: '15m',
      key: '{{ payload.device }}',
      fields: ['payload.temperature', 'payload.humidity'],
      functions: ['min', 'max', 'mean', 'last'],
    },
    { window: '1h', key: 'nodeId', functions: ['mean', 'count'], lateness: '30s' },
  ],
  load: async () => (await import('./index.js')).aggregateTransform,
};
