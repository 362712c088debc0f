import { z } from 'zod';
import { builtSchema, lazySchema } from '../../sdk/index.js';
import { fieldPath } from '../shared/field-paths.js';
import type { TransformSpec } from '../../sdk/index.js';

export const redactTransformConfig = lazySchema(() =>
  z
    .strictObject({
      fields: z
        .array(fieldPath('A payload path, e.g. payload.owner, payload.devices[*].serial or payload.*.phone.'))
        .default([])
        .describe('Payload fields to redact; `[*]` and `*` match every item or key.'),
      meta: z
        .array(z.string().min(1))
        .default([])
        .describe('Metadata keys to redact, e.g. mqtt.userProperties or chirpstack.rxInfo.'),
      mode: z
        .enum(['drop', 'blank'])
        .default('drop')
        .describe(
          'drop removes the key (an array item is removed, the items after it move up); blank keeps the key with the value of `blank`.',
        ),
      blank: z
        .union([z.string(), z.number(), z.null()])
        .default(null)
        .describe('The value a blanked field gets (mode: blank).'),
    })
    .superRefine((config, ctx) => {
      if (config.fields.length + config.meta.length === 0)
        ctx.addIssue({ code: 'custom', path: ['fields'], message: 'nothing to redact: list fields or meta' });
      config.fields.forEach((path, i) => {
        if (path.segments.length === 0)
          ctx.addIssue({
            code: 'custom',
            path: ['fields', i],
            message:
              'the whole payload can not be redacted: name fields inside it (or drop the message with filter)',
          });
      });
    }),
);

export type RedactTransformConfig = z.output<typeof redactTransformConfig>;

export const redactTransformSpec: TransformSpec<typeof redactTransformConfig> = {
  kind: 'transform',
  type: 'redact',
  title: 'Redact',
  summary: 'Removes (or blanks) payload fields and metadata keys.',
  get config() {
    return builtSchema(redactTransformConfig);
  },
  examples: [
    { fields: ['payload.operator', 'payload.devices[*].serial'] },
    { fields: ['payload.*.phone'], meta: ['mqtt.userProperties'], mode: 'blank', blank: '' },
  ],
  load: async () => (await import('./index.js')).redactTransform,
};
