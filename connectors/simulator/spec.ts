import { z } from 'zod';
import { duration, builtSchema, lazySchema } from '../../src/sdk/index.js';
import type { SourceSpec } from '../../src/sdk/index.js';

const decimals = lazySchema(() =>
  z.number().int().min(0).max(10).default(2).describe('Digits after the decimal point.'),
);

const randomWalk = lazySchema(() =>
  z
    .strictObject({
      kind: z
        .literal('random-walk')
        .describe('Each message moves by a random step, gently pulled back toward `start`.'),
      min: z.number().describe('Lowest value.'),
      max: z.number().describe('Highest value.'),
      step: z
        .number()
        .positive()
        .optional()
        .describe('Largest move per message. Default: (max - min) / 100.'),
      start: z
        .number()
        .optional()
        .describe('Value the walk starts from and drifts around. Default: the middle of the range.'),
      decimals: builtSchema(decimals),
    })
    .refine((f) => f.max > f.min, 'max must be greater than min')
    .refine(
      (f) => f.start === undefined || (f.start >= f.min && f.start <= f.max),
      'start must lie between min and max',
    ),
);

const sine = lazySchema(() =>
  z
    .strictObject({
      kind: z
        .literal('sine')
        .describe('A sine wave between min and max over `period`; each device has its own phase.'),
      min: z.number().describe('Trough of the wave.'),
      max: z.number().describe('Crest of the wave.'),
      period: duration('Length of one wave, e.g. 1m or 24h.').prefault('1m'),
      decimals: builtSchema(decimals),
    })
    .refine((f) => f.max > f.min, 'max must be greater than min')
    .refine((f) => f.period > 0, 'period must be greater than 0'),
);

const counter = lazySchema(() =>
  z
    .strictObject({
      kind: z
        .literal('counter')
        .describe('Adds `step` per message; restarts at the other end of the range once past a bound.'),
      min: z.number().describe('Lowest value; a decreasing counter wraps from here back to max.'),
      max: z.number().describe('Highest value; an increasing counter wraps from here back to min.'),
      step: z.number().default(1).describe('Added per message; negative to count down (a battery draining).'),
      start: z
        .number()
        .optional()
        .describe('First value. Default: min when counting up, max when counting down.'),
      decimals: builtSchema(decimals),
    })
    .refine((f) => f.max > f.min, 'max must be greater than min')
    .refine((f) => f.step !== 0, 'step must not be 0')
    .refine(
      (f) => f.start === undefined || (f.start >= f.min && f.start <= f.max),
      'start must lie between min and max',
    ),
);

const constant = lazySchema(() =>
  z.strictObject({
    kind: z.literal('constant').describe('Always the same value.'),
    value: z.union([z.number(), z.string(), z.boolean()]).describe('The value.'),
  }),
);

export const simulatorField = lazySchema(() =>
  z
    .discriminatedUnion('kind', [
      builtSchema(randomWalk),
      builtSchema(sine),
      builtSchema(counter),
      builtSchema(constant),
    ])
    .describe('How one payload field evolves, message after message, per device.'),
);

export type SimulatorField = z.output<typeof simulatorField>;

const RESERVED = new Set(['device', 'seq', 'ts']);

export const defaultFields: Record<string, z.input<typeof simulatorField>> = {
  temperature: { kind: 'random-walk', min: 16, max: 26, start: 21, step: 0.1, decimals: 2 },
  humidity: { kind: 'random-walk', min: 40, max: 60, step: 0.3, decimals: 1 },
  pressure: { kind: 'random-walk', min: 1003, max: 1023, start: 1013, step: 0.2, decimals: 1 },
  battery: { kind: 'counter', min: 0, max: 100, step: -0.01, decimals: 2 },
};

export const simulatorSourceConfig = lazySchema(() =>
  z.strictObject({
    rate: z
      .number()
      .positive()
      .max(1_000_000)
      .default(1)
      .describe('Messages per second, all devices together. Fractions work (0.1 = one every 10 s).'),
    devices: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(3)
      .describe('Number of simulated devices, named sim-001, sim-002, ...'),
    fields: z
      .record(z.string(), builtSchema(simulatorField))
      // Checked here rather than on the key schema, whose issues zod reports only as "Invalid key in record".
      .superRefine((fields, ctx) => {
        for (const name of Object.keys(fields)) {
          if (RESERVED.has(name))
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message: 'device, seq and ts are set by the simulator',
            });
          else if (!/^[A-Za-z_][\w-]*$/.test(name))
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message: 'a field name is letters, digits, _ or -',
            });
        }
      })
      .prefault(() => structuredClone(defaultFields))
      .describe(
        'Payload fields and how they evolve. Replaces the default temperature, humidity, pressure and battery.',
      ),
    count: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Stop after this many messages (all devices together). Default: never stop.'),
    seed: z
      .number()
      .int()
      .optional()
      .describe('Seed of the random generator: the same seed gives the same values. Default: random.'),
    maxBatch: z.number().int().min(1).max(100_000).default(1000).describe('Messages per delivery, at most.'),
  }),
);

export type SimulatorSourceConfig = z.output<typeof simulatorSourceConfig>;

export const simulatorSourceSpec: SourceSpec<typeof simulatorSourceConfig> = {
  kind: 'source',
  type: 'simulator',
  title: 'Simulator',
  summary:
    'Generates plausible sensor readings (temperature, humidity, pressure, battery) at a set rate, for demos and tests.',
  get config() {
    return builtSchema(simulatorSourceConfig);
  },
  // Streams at `rate`, or (scheduled pipelines) gives one sample of every device per tick.
  readModes: ['stream', 'tick'],
  examples: [
    { rate: 1, devices: 3 },
    { rate: 1000, devices: 50, count: 100000, seed: 42 },
    {
      rate: 0.2,
      devices: 2,
      fields: {
        flow: { kind: 'sine', min: 0, max: 12.5, period: '10m' },
        energy: { kind: 'counter', min: 0, max: 1000000, step: 0.5 },
        status: { kind: 'constant', value: 'running' },
      },
    },
  ],
  // Generated values are not stored: after a crash the unacknowledged ones are simply never sent.
  delivery: () => 'best-effort',
  load: async () => (await import('./index.js')).simulatorSource,
};
