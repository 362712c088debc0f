import { z } from 'zod';
import { duration, builtSchema, lazySchema } from '../../sdk/index.js';
import { jsonataExpression } from '../jsonata-expression.js';
import type { TransformSpec } from '../../sdk/index.js';

export const mapTransformConfig = lazySchema(() =>
  z.strictObject({
    expression: jsonataExpression(
      'JSONata expression giving the new payload, evaluated on the message { payload, meta, id, time } (e.g. payload.temperature; $meta, $id and $time are bound too).',
    ),
    meta: z
      .record(
        z.string().min(1),
        jsonataExpression('JSONata expression for the value of this metadata key; null removes the key.'),
      )
      .optional()
      .describe(
        'Metadata keys to set, each from a JSONata expression evaluated like `expression` (on the original message).',
      ),
    timeout: duration('Longest time one evaluation may take before the message is rejected.').prefault('1s'),
  }),
);

export type MapTransformConfig = z.output<typeof mapTransformConfig>;

export const mapTransformSpec: TransformSpec<typeof mapTransformConfig> = {
  kind: 'transform',
  type: 'map',
  title: 'Map',
  summary: 'Computes a new payload, and optionally metadata, with a JSONata expression.',
  get config() {
    return builtSchema(mapTransformConfig);
  },
  examples: [
    { expression: '$merge([payload, {"temperatureF": payload.temperature * 9 / 5 + 32}])' },
    {
      expression:
        '{ "device": payload.device, "celsius": payload.temperature, "fahrenheit": payload.temperature * 9 / 5 + 32 }',
    },
    { expression: 'payload.sensor.reading', meta: { 'mqtt.topic': '"out/" & meta.`mqtt.topic`' } },
  ],
  load: async () => (await import('./index.js')).mapTransform,
};
