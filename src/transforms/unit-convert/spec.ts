import { z } from 'zod';
import { builtSchema, lazySchema } from '../../sdk/index.js';
import { ANY, fieldPath, keyName } from '../shared/field-paths.js';
import { UnitError, conversion, parseUnit } from './units.js';
import type { TransformSpec } from '../../sdk/index.js';

/** A unit name, checked when the config is parsed, with a suggestion for a near miss. */
const unitName = (description: string) =>
  z
    .string()
    .min(1)
    .superRefine((name, ctx) => {
      try {
        parseUnit(name);
      } catch (error) {
        if (!(error instanceof UnitError)) throw error;
        ctx.addIssue({ code: 'custom', message: error.message });
      }
    })
    .describe(description);

const fieldConversion = lazySchema(() =>
  z
    .strictObject({
      path: fieldPath('A payload path to a number, e.g. payload.temperature or payload.rooms[*].t.'),
      from: unitName('Unit of the value as received, a mathjs unit name: degF, psi, m3/h, kWh, hp...'),
      to: unitName('Unit to convert to: degC, bar, l/min, J, kW...'),
      decimals: z
        .number()
        .int()
        .min(0)
        .max(15)
        .optional()
        .describe(
          'Round the result to this many decimal places (halves away from zero); unrounded when not set.',
        ),
      unitField: keyName(
        'Also write the unit next to the value, under this key of the same object (e.g. temperatureUnit).',
      ).optional(),
    })
    .transform((c, ctx) => {
      try {
        return { ...c, conversion: conversion(c.from, c.to) };
      } catch (error) {
        if (!(error instanceof UnitError)) throw error;
        ctx.addIssue({ code: 'custom', path: ['to'], message: error.message });
        return z.NEVER;
      }
    }),
);

export const unitConvertTransformConfig = lazySchema(() =>
  z
    .strictObject({
      fields: z
        .array(builtSchema(fieldConversion))
        .min(1)
        .describe('The numbers to convert, each with its units.'),
      recordUnit: z
        .boolean()
        .default(true)
        .describe(
          'Record the resulting unit in the metadata, as `unit.<path>` (e.g. meta `unit.payload.temperature`: degC).',
        ),
      missing: z
        .enum(['skip', 'reject'])
        .default('skip')
        .describe('What to do when a field is not there: skip it, or reject the message.'),
    })
    .superRefine((config, ctx) => {
      config.fields.forEach((field, i) => {
        const last = field.path.segments.at(-1);
        if (field.unitField !== undefined && (last === undefined || last === ANY || typeof last === 'number'))
          ctx.addIssue({
            code: 'custom',
            path: ['fields', i, 'unitField'],
            message:
              'unitField needs a path that ends with a key (payload.x.temperature), not the payload itself or an array item',
          });
      });
    }),
);

export type UnitConvertTransformConfig = z.output<typeof unitConvertTransformConfig>;

export const unitConvertTransformSpec: TransformSpec<typeof unitConvertTransformConfig> = {
  kind: 'transform',
  type: 'unit-convert',
  title: 'Unit convert',
  summary: 'Converts numbers between units (mathjs names: degF to degC, psi to bar, m3/h to l/min...).',
  get config() {
    return builtSchema(unitConvertTransformConfig);
  },
  examples: [
    { fields: [{ path: 'payload.temperature', from: 'degF', to: 'degC', decimals: 1 }] },
    {
      fields: [
        { path: 'payload.pressure', from: 'psi', to: 'bar', decimals: 3, unitField: 'pressureUnit' },
        { path: 'payload.lines[*].flow', from: 'm3/h', to: 'l/min' },
        { path: 'payload.energy', from: 'kWh', to: 'MJ' },
      ],
      missing: 'reject',
    },
  ],
  load: async () => (await import('./index.js')).unitConvertTransform,
};
