import { z } from 'zod';
import { secret, builtSchema, lazySchema } from '../../sdk/index.js';
import { fieldPath } from '../shared/field-paths.js';
import { checkKey, keyEncoding } from '../shared/key.js';
import type { TransformSpec } from '../../sdk/index.js';

export const pseudonymizeTransformConfig = lazySchema(() =>
  z
    .strictObject({
      key: secret(
        'HMAC-SHA-256 key, at least 32 bytes once decoded (generate one with `openssl rand -base64 32`).',
      ),
      keyEncoding,
      keyId: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,16}$/, 'use 1 to 16 letters, digits, _ or -')
        .describe(
          'Name of the key, written before each pseudonym (`k1:…`): change it together with the key, so pseudonyms made with different keys never look alike.',
        ),
      fields: z
        .array(fieldPath('A payload path, e.g. payload.device.id, payload.devices[*].id or payload.*.owner.'))
        .default([])
        .describe('Payload fields to replace with their pseudonym; `[*]` and `*` match every item or key.'),
      topicLevels: z
        .array(z.number().int().nonnegative())
        .default([])
        .describe(
          'Levels of the MQTT topic (meta `mqtt.topic`, counted from 0) to replace with their pseudonym.',
        ),
      meta: z
        .array(z.string().min(1))
        .default([])
        .describe('Metadata keys whose value is replaced with its pseudonym, e.g. chirpstack.devEui.'),
      bits: z
        .number()
        .int()
        .min(64)
        .max(256)
        .multipleOf(8)
        .default(128)
        .describe('Length of a pseudonym, in bits of the HMAC kept (64 to 256, a multiple of 8).'),
      encoding: z
        .enum(['base64url', 'hex', 'base32'])
        .default('base64url')
        .describe(
          'How a pseudonym is written: base64url (shortest), hex, or base32 (lower case, no padding: safe in any topic or file name, case-insensitive).',
        ),
      missing: z
        .enum(['skip', 'reject'])
        .default('skip')
        .describe(
          'What to do when a field, topic level or metadata key is not there: skip it (leave the message as it is) or reject the message.',
        ),
    })
    .superRefine((config, ctx) => {
      checkKey(config.key, config.keyEncoding, 'key', ctx);
      if (config.fields.length + config.topicLevels.length + config.meta.length === 0)
        ctx.addIssue({
          code: 'custom',
          path: ['fields'],
          message: 'nothing to pseudonymize: list at least one of fields, topicLevels or meta',
        });
    }),
);

export type PseudonymizeTransformConfig = z.output<typeof pseudonymizeTransformConfig>;

export const pseudonymizeTransformSpec: TransformSpec<typeof pseudonymizeTransformConfig> = {
  kind: 'transform',
  type: 'pseudonymize',
  title: 'Pseudonymize',
  summary:
    'Replaces identifiers in the payload, topic levels and metadata with keyed HMAC-SHA-256 pseudonyms.',
  get config() {
    return builtSchema(pseudonymizeTransformConfig);
  },
  examples: [
    { key: '${env:PSEUDONYM_KEY}', keyId: 'k1', fields: ['payload.deviceId', 'payload.operator.badge'] },
    {
      key: '${env:PSEUDONYM_KEY}',
      keyId: 'k2',
      fields: ['payload.devices[*].id'],
      topicLevels: [2],
      meta: ['chirpstack.devEui'],
      encoding: 'base32',
      bits: 80,
      missing: 'reject',
    },
  ],
  load: async () => (await import('./index.js')).pseudonymizeTransform,
};
