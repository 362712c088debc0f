import { z } from 'zod';
import { duration, builtSchema, lazySchema } from '../../sdk/index.js';
import { jsonataExpression } from '../jsonata-expression.js';
import type { TransformSpec } from '../../sdk/index.js';

export const filterTransformConfig = lazySchema(() =>
  z.strictObject({
    expression: jsonataExpression(
      'JSONata expression evaluated on the message { payload, meta, id, time } (e.g. payload.temperature > 25); the message is kept when the result is truthy.',
    ),
    onError: z
      .enum(['reject', 'drop', 'keep'])
      .default('reject')
      .describe(
        'When the expression fails on a message: reject (dead-letter it with the reason), drop it, or keep it.',
      ),
    timeout: duration(
      'Longest time one evaluation may take; past it, the evaluation fails and onError applies.',
    ).prefault('1s'),
  }),
);

export type FilterTransformConfig = z.output<typeof filterTransformConfig>;

export const filterTransformSpec: TransformSpec<typeof filterTransformConfig> = {
  kind: 'transform',
  type: 'filter',
  title: 'Filter',
  summary: 'Keeps the messages for which a JSONata expression is true.',
  get config() {
    return builtSchema(filterTransformConfig);
  },
  examples: [
    { expression: 'payload.temperature != null' },
    { expression: 'payload.temperature > 25' },
    { expression: '$contains(meta.`mqtt.topic`, /^plant\\/a\\//)', onError: 'drop' },
  ],
  load: async () => (await import('./index.js')).filterTransform,
};
