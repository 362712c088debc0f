import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Message } from '../../sdk/index.js';
import {
  createTestTransformContext,
  describeTransformConformance,
} from '../../../test/conformance/transform.js';
import { unitConvertTransform, unitConvertTransformConfig } from './index.js';
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  UNIT_FACTORIES,
  conversion,
  convertWithMathjs,
  mathjsLoaded,
  releaseMathjs,
  suggestUnit,
} from './units.js';
import { UnitConvertTransform, convert, roundToDecimals } from './unit-convert.js';
import { describeValue, editPath } from '../shared/field-paths.js';
import { testComponentContext, testMessage } from '../../../test/conformance/transform-cases.js';

const componentCtx = testComponentContext();
const create = (config: Record<string, unknown>) =>
  unitConvertTransform.create(unitConvertTransformConfig.parse(config), componentCtx);

const message = testMessage;

interface Case {
  name: string;
  config: Record<string, unknown>;
  payload: unknown;
  expected: { payload: unknown; meta?: Record<string, unknown> } | { rejected: string };
}

const one = (path: string, from: string, to: string, extra: Record<string, unknown> = {}) => ({
  fields: [{ path, from, to, ...extra }],
});

// Expected values from the units' definitions: 1 psi = 6894.757293168 Pa, 1 hp = 745.69987158227 W
// (mechanical), 1 gal = 3.785411784 l, 1 lb = 0.45359237 kg, 0 degC = 273.15 K, degF = degC * 9/5 + 32.
const cases: Case[] = [
  {
    name: 'temperature with an offset, rounded, unit in meta',
    config: one('payload.temperature', 'degF', 'degC', { decimals: 1 }),
    payload: { temperature: 70 },
    expected: { payload: { temperature: 21.1 }, meta: { 'unit.payload.temperature': 'degC' } },
  },
  {
    name: 'degC to K',
    config: one('payload.t', 'degC', 'K', { decimals: 2 }),
    payload: { t: -40 },
    expected: { payload: { t: 233.15 }, meta: { 'unit.payload.t': 'K' } },
  },
  {
    name: 'pressure, with the unit written next to the value',
    config: one('payload.p', 'psi', 'kPa', { decimals: 3, unitField: 'pUnit' }),
    payload: { p: 14.5 },
    expected: { payload: { p: 99.974, pUnit: 'kPa' }, meta: { 'unit.payload.p': 'kPa' } },
  },
  {
    name: 'flow in every item of an array',
    config: one('payload.lines[*].flow', 'm3/h', 'l/min', { decimals: 2 }),
    payload: { lines: [{ flow: 1 }, { flow: 3.6 }, { other: 1 }] },
    expected: {
      payload: { lines: [{ flow: 16.67 }, { flow: 60 }, { other: 1 }] },
      meta: { 'unit.payload.lines[*].flow': 'l/min' },
    },
  },
  {
    name: 'energy, power, volume and mass at once, without rounding',
    config: {
      fields: [
        { path: 'payload.e', from: 'kWh', to: 'J' },
        { path: 'payload.w', from: 'hp', to: 'W' },
        { path: 'payload.v', from: 'gal', to: 'l' },
        { path: 'payload.m', from: 'lb', to: 'kg' },
        { path: 'payload.s', from: 'km/h', to: 'm/s' },
      ],
      recordUnit: false,
    },
    payload: { e: 2, w: 1, v: 10, m: 100, s: 36 },
    expected: { payload: { e: 7_200_000, w: 745.6998715386, v: 37.85411784, m: 45.359237, s: 10 } },
  },
  {
    name: 'the whole payload when it is the number',
    config: one('payload', 'bar', 'Pa'),
    payload: 2.5,
    expected: { payload: 250_000, meta: { 'unit.payload': 'Pa' } },
  },
  {
    name: 'a missing field is skipped, and no unit recorded',
    config: one('payload.temperature', 'degF', 'degC'),
    payload: { humidity: 40 },
    expected: { payload: { humidity: 40 } },
  },
  {
    name: 'a missing field with missing: reject',
    config: { ...one('payload.temperature', 'degF', 'degC', { unitField: 'unit' }), missing: 'reject' },
    payload: { humidity: 40 },
    expected: { rejected: 'unit-convert: payload.temperature is missing' },
  },
  {
    name: 'a numeric string is a wrong type',
    config: one('payload.temperature', 'degF', 'degC'),
    payload: { temperature: '70' },
    expected: { rejected: 'unit-convert: payload.temperature is a string, not a finite number in degF' },
  },
  {
    name: 'NaN',
    config: one('payload.temperature', 'degF', 'degC'),
    payload: { temperature: Number.NaN },
    expected: { rejected: 'unit-convert: payload.temperature is NaN, not a finite number in degF' },
  },
  {
    name: 'a result out of range',
    config: one('payload.e', 'MWh', 'nJ'),
    payload: { e: 1e300 },
    expected: { rejected: 'unit-convert: payload.e: 1e+300 MWh is out of range in nJ' },
  },
  {
    name: 'a huge string',
    config: one('payload.t', 'degF', 'degC'),
    payload: { t: '9'.repeat(1_000_000) },
    expected: { rejected: 'unit-convert: payload.t is a string, not a finite number in degF' },
  },
];

const run = promisify(execFile);

/** Files of mathjs's own package in Node's require cache. */
const mathjsModules = (): string[] =>
  Object.keys(createRequire(import.meta.url).cache).filter((key) => key.includes('/node_modules/mathjs/'));

describe('unit-convert: mathjs only while configs are parsed', () => {
  it('drops the mathjs modules it loaded, and loads them again for the next config', () => {
    releaseMathjs();
    const before = mathjsModules().length;
    const first = conversion('degC', 'degF');
    expect(first.factor).toBeCloseTo(1.8, 12);
    expect(first.offset).toBeCloseTo(32, 12);
    expect(mathjsLoaded()).toBe(true);
    expect(mathjsModules().length).toBeGreaterThan(before + 50);
    releaseMathjs();
    expect(mathjsLoaded()).toBe(false);
    expect(mathjsModules()).toHaveLength(before);
    const again = conversion('bar', 'psi');
    expect(again.offset).toBe(0);
    expect(again.factor).toBeCloseTo(14.5037738, 6);
    expect(mathjsLoaded()).toBe(true);
    releaseMathjs();
  });

  it("requires the factories of mathjs's generated unitDependencies, each from its own file", async () => {
    // In a child process: the generated dependencies require all of mathjs, which would stay cached here.
    const script = `
      const { dirname, join } = require('node:path');
      const lib = join(dirname(require.resolve('mathjs/package.json')), 'lib', 'cjs');
      const { unitDependencies } = require(join(lib, 'entry/dependenciesAny/dependenciesUnitFunction.generated.js'));
      const factories = new Map();
      (function walk(node) {
        for (const [key, value] of Object.entries(node))
          if (typeof value === 'function') factories.set(key, value);
          else if (value && typeof value === 'object') walk(value);
      })(unitDependencies);
      const files = JSON.parse(process.argv[1]);
      console.log(JSON.stringify({
        generated: [...factories.keys()].sort(),
        same: Object.entries(files).filter(([name, file]) => require(join(lib, file))[name] === factories.get(name)).map(([name]) => name).sort(),
      }));`;
    const { stdout } = await run(process.execPath, ['-e', script, JSON.stringify(UNIT_FACTORIES)], {
      cwd: fileURLToPath(new URL('.', import.meta.url)),
    });
    const { generated, same } = JSON.parse(stdout) as { generated: string[]; same: string[] };
    expect(Object.keys(UNIT_FACTORIES).sort()).toEqual(generated);
    expect(same).toEqual(generated);
  });

  it('leaves nothing that keeps mathjs reachable, even a module loaded later that shares a helper with it', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/mathjs-release.mjs', import.meta.url));
    const { stdout } = await run(process.execPath, ['--expose-gc', fixture], {
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(JSON.parse(stdout)).toEqual({ collected: true });
  }, 60_000);
});

describe('unit-convert', () => {
  it.each(cases)('golden: $name', async ({ config, payload, expected }) => {
    const ctx = createTestTransformContext();
    const input = message('m', payload, { 'mqtt.topic': 't' });
    const out = await create(config).apply([input], ctx);
    if ('rejected' in expected) {
      expect(out).toEqual([]);
      expect(ctx.rejected.map((r) => r.reason)).toEqual([expected.rejected]);
      return;
    }
    expect(ctx.rejected).toEqual([]);
    expect(out).toHaveLength(1);
    const result = out[0] as Message;
    expect(result.meta).toEqual({ 'mqtt.topic': 't', ...expected.meta });
    // Unrounded results: equal to 12 significant digits (the factors are computed in binary).
    const close = (a: unknown, b: unknown): void => {
      if (typeof a === 'number' && typeof b === 'number')
        expect(a).toBeCloseTo(b, 12 - Math.ceil(Math.log10(Math.abs(b) + 1)));
      else if (a !== null && typeof a === 'object' && b !== null && typeof b === 'object') {
        expect(Object.keys(a)).toEqual(Object.keys(b));
        for (const k of Object.keys(b))
          close((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]);
      } else expect(a).toEqual(b);
    };
    close(result.payload, expected.payload);
  });

  const pairs: [string, string][] = [
    ['degC', 'degF'],
    ['degF', 'K'],
    ['bar', 'psi'],
    ['kPa', 'bar'],
    ['m3/h', 'l/min'],
    ['kWh', 'J'],
    ['hp', 'kW'],
    ['km/h', 'mi/h'],
    ['gal', 'm3'],
    ['lb', 'kg'],
  ];

  it('round trips within tolerance, and agrees with mathjs', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...pairs),
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        ([a, b], value) => {
          const there = conversion(a, b);
          const back = conversion(b, a);
          const tolerance = 1e-9 * Math.max(1, Math.abs(value));
          expect(Math.abs(convert(convert(value, there), back) - value)).toBeLessThanOrEqual(tolerance);
          const exact = convertWithMathjs(value, a, b);
          expect(Math.abs(convert(value, there) - exact)).toBeLessThanOrEqual(
            1e-12 * Math.max(1, Math.abs(exact)),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a path without * walks like editPath: same result, same reasons, input untouched', () => {
    const paths = ['payload.a', 'payload.a.b', 'payload.r[1]', 'payload["serial.no"].t', 'payload.a[0].b'];
    const leaf = fc.oneof(fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.constant(-40), fc.string());
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.constant(null),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(fc.constantFrom('a', 'b', 'r', 't', 'serial.no'), tie('node'), { maxKeys: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(
        fc.constantFrom(...paths),
        fc.constantFrom('skip', 'reject'),
        value,
        (path, missing, payload) => {
          const config = unitConvertTransformConfig.parse({
            fields: [{ path, from: 'degC', to: 'degF', decimals: 1 }],
            missing,
          });
          const frozen = structuredClone(payload);
          const ctx = createTestTransformContext();
          const out = new UnitConvertTransform(config).apply([message('m', payload)], ctx);
          // The reference: editPath with the transform's rules.
          let converted = false;
          let reason: string | undefined;
          let expected: unknown;
          try {
            expected = editPath(payload, config.fields[0]!.path, {
              found: (v, at) => {
                if (typeof v !== 'number')
                  throw new Error(`${at} is ${describeValue(v)}, not a finite number in degC`);
                converted = true;
                return roundToDecimals(convert(v, config.fields[0]!.conversion), 1);
              },
              missing: (at) => {
                if (missing === 'reject') throw new Error(`${at} is missing`);
              },
            });
          } catch (error) {
            reason = `unit-convert: ${(error as Error).message}`;
          }
          expect(payload).toEqual(frozen);
          if (reason !== undefined) {
            expect(out).toEqual([]);
            expect(ctx.rejected.map((r) => r.reason)).toEqual([reason]);
            return;
          }
          expect(out).toHaveLength(1);
          expect(out[0]!.payload).toEqual(expected);
          expect(out[0]!.meta).toEqual(converted ? { [`unit.${path}`]: 'degF' } : {});
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('records the unit of a value the conversion leaves equal (-40 degC is -40 degF)', async () => {
    const ctx = createTestTransformContext();
    const input = message('m', { t: -40 });
    const [out] = await create(one('payload.t', 'degC', 'degF')).apply([input], ctx);
    expect(out!.payload).toEqual({ t: -40 });
    expect(out!.meta).toEqual({ 'unit.payload.t': 'degF' });
  });

  it('messages that share a meta get one meta with units, not a copy each', async () => {
    const ctx = createTestTransformContext();
    const shared = { 'mqtt.topic': 'plant/a' };
    const inputs = [1, 2, 3].map((t) => message(`m${t}`, { t }, shared));
    const out = await create(one('payload.t', 'degC', 'degF')).apply(inputs, ctx);
    expect(out.map((m) => m.payload)).toEqual([{ t: 33.8 }, { t: 35.6 }, { t: 37.4 }]);
    expect(out[0]!.meta).toEqual({ 'mqtt.topic': 'plant/a', 'unit.payload.t': 'degF' });
    expect(out[1]!.meta).toBe(out[0]!.meta);
    expect(out[2]!.meta).toBe(out[0]!.meta);
    expect(shared).toEqual({ 'mqtt.topic': 'plant/a' });
  });

  it('a meta with units is made again for another meta or other converted fields', async () => {
    const ctx = createTestTransformContext();
    const transform = await create({
      fields: [
        { path: 'payload.a', from: 'degC', to: 'degF' },
        { path: 'payload.b', from: 'degC', to: 'K' },
      ],
    });
    const first = { 'mqtt.topic': 'plant/a' };
    const second = { 'mqtt.topic': 'plant/b' };
    const inputs = [
      message('both', { a: 0, b: 0 }, first),
      message('a only', { a: 0 }, first),
      message('b only', { b: 0 }, first),
      message('neither', { c: 0 }, first),
      message('both again', { a: 0, b: 0 }, first),
      message('other meta', { a: 0, b: 0 }, second),
    ];
    const metas = (await transform.apply(inputs, ctx)).map((m) => m.meta);
    const units = { 'unit.payload.a': 'degF', 'unit.payload.b': 'K' };
    expect(metas).toEqual([
      { ...first, ...units },
      { ...first, 'unit.payload.a': 'degF' },
      { ...first, 'unit.payload.b': 'K' },
      first,
      { ...first, ...units },
      { ...second, ...units },
    ]);
    expect(metas.map((m) => Object.keys(m))).toEqual(
      [units, { 'unit.payload.a': 1 }, { 'unit.payload.b': 1 }, {}, units, units].map((u) => [
        'mqtt.topic',
        ...Object.keys(u),
      ]),
    );
    expect(metas[3]).toBe(first);
  });

  it('checks unit names when the config is parsed, with a suggestion for near misses', () => {
    const issues = (from: string, to: string) =>
      unitConvertTransformConfig
        .safeParse({ fields: [{ path: 'payload.t', from, to }] })
        .error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues('degc', 'degF')).toEqual(['fields.0.from: unknown unit "degc": did you mean degC?']);
    expect(issues('degC', 'KWH')).toEqual(['fields.0.to: unknown unit "KWH": did you mean kWh?']);
    expect(issues('°C', 'degF')).toEqual(['fields.0.from: unknown unit "°C": did you mean degC?']);
    expect(issues('m3/hour', 'l/min')).toBeUndefined();
    expect(issues('m3/hx', 'l/min')?.[0]).toMatch(
      /^fields.0.from: unknown unit "m3\/hx": did you mean m3\/\w+\?$/,
    );
    expect(issues('barr', 'psi')).toEqual(['fields.0.from: unknown unit "barr": did you mean bar?']);
    expect(issues('zzzzzzzz', 'psi')?.[0]).toMatch(
      /^fields.0.from: unknown unit "zzzzzzzz" \(Unit "zzzzzzzz" not found.\); units are mathjs names/,
    );
    expect(issues('5 degC', 'degF')).toEqual([
      'fields.0.from: "5 degC" is a quantity, not a unit: write the unit alone',
    ]);
    expect(issues('degF', 'bar')).toEqual([
      'fields.0.to: can not convert degF (a temperature) to bar (a pressure)',
    ]);
    expect(issues('C', 'degF')).toEqual([
      'fields.0.to: can not convert C (an electric charge) to degF (a temperature) ("C" is the coulomb; for degrees Celsius write degC)',
    ]);
    expect(issues('x'.repeat(10_000), 'psi')?.[0]).toBe(
      'fields.0.from: a unit name of 10000 characters is not one',
    );
    expect(suggestUnit('Celsius')).toBe('celsius');
  });

  it('refuses other config mistakes', () => {
    const issues = (config: Record<string, unknown>) =>
      unitConvertTransformConfig
        .safeParse(config)
        .error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issues({ fields: [] })?.[0]).toMatch(/^fields: /);
    expect(issues({ fields: [{ path: 'payload.a[*]', from: 'bar', to: 'Pa', unitField: 'u' }] })).toEqual([
      'fields.0.unitField: unitField needs a path that ends with a key (payload.x.temperature), not the payload itself or an array item',
    ]);
    expect(issues({ fields: [{ path: 'payload.a', from: 'bar', to: 'Pa', decimals: -1 }] })?.[0]).toMatch(
      /^fields.0.decimals: /,
    );
    expect(issues({ fields: [{ path: 'payload.a', from: 'bar', to: 'Pa', round: 1 }] })?.[0]).toMatch(
      /round/,
    );
    for (const example of unitConvertTransform.examples ?? [])
      expect(unitConvertTransformConfig.safeParse(example).success).toBe(true);
  });
});

describeTransformConformance('unit-convert', {
  neverDrops: 'it converts fields of every message (a missing field is skipped) or rejects it',
  create: () => create(one('payload.temperature', 'degF', 'degC', { decimals: 2 })),
  good: [message('g1', { temperature: 212 }), message('g2', { other: 1 }), message('g3', 'text')],
  bad: [
    message('b1', { temperature: 'hot' }),
    message('b2', { temperature: Number.NEGATIVE_INFINITY }),
    message('b3', { temperature: null }),
  ],
});
