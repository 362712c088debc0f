import { z } from 'zod';
import { templateProblem, builtSchema, lazySchema } from '../../sdk/index.js';
import { compileTopicPattern } from './topic-pattern.js';
import type { TransformSpec } from '../../sdk/index.js';

// Not z.json(): its recursive schema has no finite JSON Schema for the generated docs.
const templateValue = lazySchema(() =>
  z
    .union([
      z.string(),
      z.number(),
      z.boolean(),
      z.null(),
      z.array(z.unknown()),
      z.record(z.string(), z.unknown()),
    ])
    .superRefine((value, ctx) => {
      if (typeof value !== 'string' || !value.includes('{{')) return;
      const problem = templateProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
);

const fieldMap = (description: string) =>
  z.record(z.string().min(1).max(200), builtSchema(templateValue)).optional().describe(description);

export const enrichTransformConfig = lazySchema(() =>
  z
    .strictObject({
      fields: fieldMap(
        'Fields to add, name -> value (any JSON). A string with {{ }} parts is a template rendered per message, e.g. "{{ meta.chirpstack.deviceName }}".',
      ),
      place: fieldMap(
        'Where the data comes from (site, building, zone...): added as one object `place`, e.g. { site: lyon, building: B2 }. Values as in fields.',
      ),
      subject: fieldMap(
        'What the data is about (machine, asset, line...): added as one object `subject`. Values as in fields.',
      ),
      processingTime: z
        .string()
        .min(1)
        .max(200)
        .optional()
        .describe('Name of a field that receives the time the message went through this transform.'),
      processingTimeFormat: z
        .enum(['iso', 'epochMs'])
        .default('iso')
        .describe('Format of processingTime: ISO 8601 text in UTC, or milliseconds since the epoch.'),
      topic: z
        .string()
        .superRefine((pattern, ctx) => {
          try {
            compileTopicPattern(pattern);
          } catch (error) {
            ctx.addIssue({ code: 'custom', message: (error as Error).message });
          }
        })
        .optional()
        .describe(
          'Pattern of the MQTT topic (meta mqtt.topic) whose {name} levels become fields, e.g. site/{site}/line/{line}/#; + and # match without keeping.',
        ),
      onTopicMismatch: z
        .enum(['reject', 'pass'])
        .default('reject')
        .describe(
          'A message whose topic does not match `topic` (or has none): reject (dead-letter it with the reason), or pass it on with the rest of the enrichment.',
        ),
      target: z
        .enum(['payload', 'meta'])
        .default('payload')
        .describe(
          'Where the fields go: into the payload (which must then be an object) or into the metadata (place and subject keys become place.<name> and subject.<name>).',
        ),
      overwrite: z
        .boolean()
        .default(true)
        .describe('Replace a field the message already has; false keeps the message\u2019s own value.'),
    })
    .refine(
      (c) =>
        c.fields !== undefined ||
        c.place !== undefined ||
        c.subject !== undefined ||
        c.processingTime !== undefined ||
        c.topic !== undefined,
      { message: 'enrich adds nothing: give fields, place, subject, processingTime or topic' },
    ),
);

export type EnrichTransformConfig = z.output<typeof enrichTransformConfig>;

export const enrichTransformSpec: TransformSpec<typeof enrichTransformConfig> = {
  kind: 'transform',
  type: 'enrich',
  title: 'Enrich',
  summary:
    'Adds static or templated fields, place and subject tags, the processing time, and values named in the topic (site/{site}/line/{line}/#).',
  get config() {
    return builtSchema(enrichTransformConfig);
  },
  examples: [
    { place: { site: 'lyon', building: 'B2' }, processingTime: 'receivedAt' },
    { topic: 'site/{site}/line/{line}/#', subject: { machine: '{{ topic[4] }}' } },
    { fields: { source: 'passerelle', pipeline: '{{ pipeline }}' }, target: 'meta' },
  ],
  load: async () => (await import('./index.js')).enrichTransform,
};
