import { z } from 'zod';
import { duration, templateProblem, builtSchema, lazySchema } from '../../sdk/index.js';
import type { TransformSpec } from '../../sdk/index.js';
import { valuePath } from '../shared/value-path.js';

/** Shortcuts for the usual keys; anything else is a `{{ }}` template. */
export const KEY_SHORTCUTS = {
  topic: 'mqtt.topic',
  nodeId: 'opcua.nodeId',
  devEui: 'chirpstack.devEui',
} as const;

const getterPath = (description: string) =>
  valuePath('deadband', 'keeps one last value per path').describe(description);

export const deadbandTransformConfig = lazySchema(() =>
  z
    .strictObject({
      key: z
        .string()
        .min(1)
        .superRefine((key, ctx) => {
          if (key === 'auto' || key in KEY_SHORTCUTS) return;
          if (!key.includes('{{')) {
            ctx.addIssue({
              code: 'custom',
              message: `key must be auto, topic, nodeId, devEui or a {{ }} template (e.g. "{{ payload.device }}"), got "${key}"`,
            });
            return;
          }
          const problem = templateProblem(key);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .default('auto')
        .describe(
          'What the state is kept per: auto (meta opcua.nodeId, else chirpstack.devEui, else mqtt.topic), topic, nodeId, devEui, or a template such as "{{ payload.device }}".',
        ),
      fields: z
        .array(getterPath('A path such as payload.temperature.'))
        .min(1)
        .optional()
        .describe(
          'The values compared, as paths (payload.temperature, payload.sensor.rh, meta.x). Default: the whole payload. A message passes when any of them changed beyond the band.',
        ),
      absolute: z
        .number()
        .nonnegative()
        .optional()
        .describe(
          'Band in the field unit: a number passes when it differs from the last one passed by more than this. Default 0 (any change).',
        ),
      percent: z
        .number()
        .nonnegative()
        .max(1_000_000)
        .optional()
        .describe(
          'Band as a percentage of the last value passed (instead of absolute): 5 passes 100 -> 105.1 but not 100 -> 104.',
        ),
      maxSilence: duration(
        'Pass a value anyway when nothing passed for this long, measured in message time (a heartbeat). 0 turns heartbeats off.',
      ).prefault(0),
      status: z
        .array(getterPath('A path to a quality or status value.'))
        .default(['meta.opcua.statusCode', 'payload.status', 'payload.quality'])
        .describe(
          'Quality or status values: any change of one of them always passes, whatever the band. [] turns this off.',
        ),
      maxKeys: z
        .int()
        .positive()
        .default(100_000)
        .describe(
          'In-memory state (without Redis): most keys tracked; the least recently seen is forgotten beyond it (counted), so its next value passes.',
        ),
      stateTtl: duration(
        'With Redis: a key not seen for this long is forgotten, so its next value passes. Keep it above maxSilence.',
      ).prefault('7d'),
      redisTimeout: duration(
        'With Redis: longest wait for the state of a batch (per 2,000 messages); past it, or with Redis down, this replica decides from memory.',
      ).prefault('2s'),
    })
    .refine((c) => c.absolute === undefined || c.percent === undefined, {
      message: 'give either absolute or percent, not both',
      path: ['percent'],
    })
    .refine((c) => c.stateTtl >= 1000, { message: 'stateTtl must be at least 1s', path: ['stateTtl'] })
    .refine((c) => c.redisTimeout >= 10, {
      message: 'redisTimeout must be at least 10ms',
      path: ['redisTimeout'],
    }),
);

export type DeadbandTransformConfig = z.output<typeof deadbandTransformConfig>;

export const deadbandTransformSpec: TransformSpec<typeof deadbandTransformConfig> = {
  kind: 'transform',
  type: 'deadband',
  title: 'Deadband (report by exception)',
  summary:
    'Passes a value only when it changed beyond a band since the last one passed, per key; heartbeats after maxSilence; status changes always pass.',
  get config() {
    return builtSchema(deadbandTransformConfig);
  },
  examples: [
    {},
    { fields: ['payload.temperature', 'payload.humidity'], absolute: 0.5, maxSilence: '15m' },
    { key: 'nodeId', percent: 2, maxSilence: '1h' },
    { key: '{{ payload.device }}', fields: ['payload.state'] },
  ],
  load: async () => (await import('./index.js')).deadbandTransform,
};
