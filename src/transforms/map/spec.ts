import { z } from 'zod';
import { duration } from '../../sdk/index.js';
import { jsonataExpression } from '../jsonata.js';

export const mapTransformConfig = z.strictObject({
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
});

export type MapTransformConfig = z.output<typeof mapTransformConfig>;
