import { z } from 'zod';
import { duration, isTimeZone, builtSchema, lazySchema } from '../../sdk/index.js';
import { fieldPath, keyName } from '../shared/field-paths.js';
import type { TransformSpec } from '../../sdk/index.js';

const truncation = lazySchema(() => z.enum(['second', 'minute', 'hour', 'day']));

const number = lazySchema(() =>
  z.strictObject({
    path: fieldPath('A payload path to a number, e.g. payload.power or payload.rooms[*].occupancy.'),
    step: z
      .number()
      .positive()
      .refine(Number.isFinite, 'expected a finite step')
      .describe('Round to the nearest multiple of this step (halves away from zero): 0.5, 10, 100...'),
  }),
);

const location = lazySchema(() =>
  z
    .strictObject({
      at: fieldPath('The object holding the coordinates: payload, payload.gps, payload.points[*]...'),
      latitude: keyName('Key of the latitude in that object.').default('lat'),
      longitude: keyName('Key of the longitude in that object.').default('lon'),
      decimals: z
        .number()
        .int()
        .min(0)
        .max(8)
        .optional()
        .describe('Round both to this many decimal places (2: about 1.1 km of latitude; 3: 110 m).'),
      geohash: z
        .number()
        .int()
        .min(1)
        .max(12)
        .optional()
        .describe(
          'Move the point to the centre of its geohash cell of this precision (5: about 4.9 x 4.9 km; 6: 1.2 x 0.6 km).',
        ),
    })
    .superRefine((l, ctx) => {
      if ((l.decimals === undefined) === (l.geohash === undefined))
        ctx.addIssue({ code: 'custom', path: ['decimals'], message: 'give either decimals or geohash' });
    }),
);

const timestamp = lazySchema(() =>
  z.strictObject({
    path: fieldPath('A payload path to a timestamp: an ISO 8601 string or a number since the epoch.'),
    truncate: truncation.describe('Truncate to the start of its second, minute, hour or day.'),
    unit: z
      .enum(['ms', 's'])
      .default('ms')
      .describe('For numeric timestamps: milliseconds or seconds since the epoch.'),
  }),
);

export const generalizeTransformConfig = lazySchema(() =>
  z
    .strictObject({
      numbers: z.array(builtSchema(number)).default([]).describe('Numbers to round to a step.'),
      locations: z.array(builtSchema(location)).default([]).describe('Coordinates to coarsen.'),
      timestamps: z
        .array(builtSchema(timestamp))
        .default([])
        .describe('Timestamps in the payload to truncate.'),
      time: z
        .strictObject({
          truncate: truncation.optional().describe('Truncate the message time to this unit.'),
          jitter: duration(
            'Add a random delay between 0 and this duration to the message time (after truncating). The message is not held back: see the README.',
          ).optional(),
        })
        .optional()
        .describe('Generalize the message time (what sinks write as the time of the reading).'),
      timeZone: z
        .string()
        .default('UTC')
        .refine((zone) => isTimeZone(zone), 'expected an IANA time zone such as UTC or Europe/Paris')
        .describe('Time zone in which hours and days start, for truncation (IANA name, e.g. Europe/Paris).'),
      missing: z
        .enum(['skip', 'reject'])
        .default('skip')
        .describe('What to do when a field is not there: skip it, or reject the message.'),
    })
    .superRefine((config, ctx) => {
      const time = config.time;
      if (
        config.numbers.length + config.locations.length + config.timestamps.length === 0 &&
        time?.truncate === undefined &&
        !time?.jitter
      )
        ctx.addIssue({
          code: 'custom',
          path: [],
          message: 'nothing to generalize: give numbers, locations, timestamps or time',
        });
    }),
);

export type GeneralizeTransformConfig = z.output<typeof generalizeTransformConfig>;

export const generalizeTransformSpec: TransformSpec<typeof generalizeTransformConfig> = {
  kind: 'transform',
  type: 'generalize',
  title: 'Generalize',
  summary: 'Rounds numbers to a step, coarsens coordinates and truncates timestamps and the message time.',
  get config() {
    return builtSchema(generalizeTransformConfig);
  },
  examples: [
    { numbers: [{ path: 'payload.power', step: 100 }], time: { truncate: 'minute' } },
    {
      locations: [{ at: 'payload.gps', geohash: 6 }],
      timestamps: [{ path: 'payload.doorOpenedAt', truncate: 'hour' }],
      time: { truncate: 'hour', jitter: '10m' },
      timeZone: 'Europe/Paris',
    },
    { locations: [{ at: 'payload', latitude: 'latitude', longitude: 'longitude', decimals: 2 }] },
  ],
  load: async () => (await import('./index.js')).generalizeTransform,
};
