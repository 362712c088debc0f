import { FatalError, transientRequire } from '../../sdk/index.js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Unit } from 'mathjs';

type MathJs = typeof import('mathjs');
type UnitMath = Pick<MathJs, 'unit' | 'Unit'>;
const require = createRequire(import.meta.url);
/**
 * The factories `unit()` depends on, by the file (under mathjs/lib/cjs) that exports each: those of
 * mathjs's `unitDependencies` (entry/dependenciesAny/dependenciesUnitFunction.generated.js and the
 * files it requires), which unit-convert.test.ts checks against the generated ones.
 */
export const UNIT_FACTORIES: Record<string, string> = {
  createBigNumberClass: 'type/bignumber/BigNumber.js',
  createComplexClass: 'type/complex/Complex.js',
  createFractionClass: 'type/fraction/Fraction.js',
  createMatrixClass: 'type/matrix/Matrix.js',
  createDenseMatrixClass: 'type/matrix/DenseMatrix.js',
  createSparseMatrixClass: 'type/matrix/SparseMatrix.js',
  createTyped: 'core/function/typed.js',
  createAbs: 'function/arithmetic/abs.js',
  createAddScalar: 'function/arithmetic/addScalar.js',
  createBignumber: 'type/bignumber/function/bignumber.js',
  createFraction: 'type/fraction/function/fraction.js',
  createNumber: 'type/number.js',
  createNumeric: 'function/utils/numeric.js',
  createDivideScalar: 'function/arithmetic/divideScalar.js',
  createEqualScalar: 'function/relational/equalScalar.js',
  createMatrix: 'type/matrix/function/matrix.js',
  createEqual: 'function/relational/equal.js',
  createZeros: 'function/matrix/zeros.js',
  createRound: 'function/arithmetic/round.js',
  createCeil: 'function/arithmetic/ceil.js',
  createFloor: 'function/arithmetic/floor.js',
  createFix: 'function/arithmetic/fix.js',
  createFormat: 'function/string/format.js',
  createIsNumeric: 'function/utils/isNumeric.js',
  createMultiplyScalar: 'function/arithmetic/multiplyScalar.js',
  createIdentity: 'function/matrix/identity.js',
  createIsZero: 'function/utils/isZero.js',
  createConj: 'function/complex/conj.js',
  createSize: 'function/matrix/size.js',
  createDot: 'function/matrix/dot.js',
  createMultiply: 'function/arithmetic/multiply.js',
  createSubtractScalar: 'function/arithmetic/subtractScalar.js',
  createUnaryMinus: 'function/arithmetic/unaryMinus.js',
  createDet: 'function/matrix/det.js',
  createInv: 'function/matrix/inv.js',
  createPow: 'function/arithmetic/pow.js',
  createUnitClass: 'type/unit/Unit.js',
  createUnitFunction: 'type/unit/function/unit.js',
};
/** How long mathjs stays loaded after its last use: the parses of one config or reload share it. */
const KEEP_LOADED_MS = 2000;

/**
 * A mathjs instance with `unit()` and what it needs only, loaded on first use. The package's entry
 * point builds every mathjs function at load (~75 MB RSS, ~30 MB of live heap, seconds of CPU);
 * this one costs ~30 MB RSS and 8 MB of heap. Its module files are not among the package's exports,
 * hence the path from package.json (mathjs is pinned; the tests compare it with the full bundle).
 * The factories are required from their own files ({@link UNIT_FACTORIES}): mathjs's generated
 * `unitDependencies` require `factoriesAny.js`, every one of its ~700 modules (0.5 s), among them
 * the random functions, whose seedrandom requires node:crypto, which then stays loaded.
 *
 * Only configs need it (messages use the precomputed factor and offset): {@link KEEP_LOADED_MS}
 * after its last use, the modules it loaded leave the require cache (transientRequire), so that
 * V8 can free them (~8 MB of heap in an idle relay); the next parse loads them again (~0.2 s).
 */
const mathjsPackage = transientRequire(
  (load) => {
    const lib = join(dirname(load.resolve('mathjs/package.json')), 'lib', 'cjs');
    const { create } = load(join(lib, 'core', 'create.js')) as Pick<MathJs, 'create'>;
    const factories = Object.fromEntries(
      Object.entries(UNIT_FACTORIES).map(([name, file]) => [
        name,
        (load(join(lib, file)) as Record<string, unknown>)[name],
      ]),
    ) as Parameters<MathJs['create']>[0];
    return create(factories) as unknown as UnitMath;
  },
  KEEP_LOADED_MS,
  () => {
    candidates = undefined;
  },
);

const mathjs = (): UnitMath => mathjsPackage.get();

/** Drops mathjs and what it alone loaded (see {@link mathjsPackage}); exported for tests. */
export function releaseMathjs(): void {
  mathjsPackage.release();
}

/** Whether mathjs is loaded now (tests). */
export function mathjsLoaded(): boolean {
  return mathjsPackage.loaded();
}

/**
 * Unit names and conversions through mathjs, used when the config is parsed: the per-message work
 * is then one multiplication and one addition (mathjs takes ~10 µs per conversion; every unit it
 * knows converts affinely, offset included for degC and degF).
 */

export interface Conversion {
  /** to = factor * from + offset */
  factor: number;
  offset: number;
}

export class UnitError extends FatalError {}

// Names people write that mathjs spells otherwise (mathjs matches case-sensitively).
const ALIASES: Record<string, string> = {
  '°C': 'degC',
  '℃': 'degC',
  '°F': 'degF',
  '℉': 'degF',
  '°K': 'K',
  kph: 'km/h',
  mph: 'mi/h',
  cfm: 'ft^3/min',
  gpm: 'gal/min',
  lpm: 'l/min',
  psig: 'psi',
  psia: 'psi',
  kmh: 'km/h',
  knot: 'nmi/h',
  knots: 'nmi/h',
};

// For "X measures a temperature, Y a pressure" messages.
const QUANTITIES: [string, string][] = [
  ['K', 'a temperature'],
  ['Pa', 'a pressure'],
  ['m3/s', 'a flow'],
  ['J', 'an energy'],
  ['W', 'a power'],
  ['m/s', 'a speed'],
  ['m3', 'a volume'],
  ['kg', 'a mass'],
  ['m', 'a length'],
  ['m2', 'an area'],
  ['s', 'a time'],
  ['N', 'a force'],
  ['Hz', 'a frequency'],
  ['V', 'a voltage'],
  ['A', 'an electric current'],
  ['C', 'an electric charge'],
  ['F', 'an electric capacitance'],
  ['ohm', 'an electric resistance'],
  ['rad', 'an angle'],
  ['B', 'an amount of data'],
];

let candidates: string[] | undefined;

/** Every unit name mathjs accepts, with the prefixes each allows (about 2,800 names). */
function allNames(): string[] {
  if (candidates) return candidates;
  const names = new Set<string>();
  for (const [name, definition] of Object.entries(
    mathjs().Unit.UNITS as unknown as Record<string, { prefixes: object }>,
  )) {
    for (const prefix of Object.keys(definition.prefixes)) names.add(prefix + name);
  }
  candidates = [...names];
  return candidates;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

/** The closest known name: same letters in another case first, then at most 2 edits. */
export function suggestUnit(name: string): string | undefined {
  const alias = ALIASES[name] ?? ALIASES[name.toLowerCase()];
  if (alias) return alias;
  const names = allNames();
  const lower = name.toLowerCase();
  const sameLetters = names.filter((n) => n.toLowerCase() === lower);
  if (sameLetters.length > 0) return sameLetters.sort((a, b) => a.length - b.length || a.localeCompare(b))[0];
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.max(1, Math.floor(name.length / 2)));
  for (const candidate of names) {
    if (Math.abs(candidate.length - name.length) > bestDistance) continue;
    const d = distance(lower, candidate.toLowerCase());
    if (d < bestDistance || (d === bestDistance && best !== undefined && candidate.length < best.length)) {
      best = candidate;
      bestDistance = d;
    } else if (d === bestDistance && best === undefined) best = candidate;
  }
  return best;
}

/** Parses a unit name (`degC`, `m3/h`, `kWh`, `m^3/s`); throws a UnitError with a suggestion. */
export function parseUnit(text: string): Unit {
  if (text.length > 100) throw new UnitError(`a unit name of ${text.length} characters is not one`);
  if (ALIASES[text]) throw new UnitError(`unknown unit "${text}": did you mean ${ALIASES[text]}?`);
  let parsed: Unit;
  try {
    parsed = mathjs().unit(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const unknown = /Unit "([^"]*)" not found/.exec(message)?.[1];
    const suggestion = unknown === undefined ? undefined : suggestUnit(unknown);
    const fixed =
      suggestion === undefined || unknown === undefined ? undefined : text.replace(unknown, suggestion);
    throw new UnitError(
      fixed !== undefined
        ? `unknown unit "${text}": did you mean ${fixed}?`
        : `unknown unit "${text}" (${message}); units are mathjs names such as degC, bar, kPa, m3/h, l/min, kWh, kW`,
    );
  }
  if (parsed.value !== null) throw new UnitError(`"${text}" is a quantity, not a unit: write the unit alone`);
  return parsed;
}

function quantityOf(u: Unit): string {
  for (const [reference, quantity] of QUANTITIES) if (u.equalBase(mathjs().unit(reference))) return quantity;
  return 'another quantity';
}

const TEMPERATURE_HINT: Record<string, string> = {
  C: ' ("C" is the coulomb; for degrees Celsius write degC)',
  F: ' ("F" is the farad; for degrees Fahrenheit write degF)',
};

/** The conversion from one unit to another of the same quantity; throws a UnitError otherwise. */
export function conversion(fromText: string, toText: string): Conversion {
  const from = parseUnit(fromText);
  const to = parseUnit(toText);
  if (!from.equalBase(to)) {
    const hint = TEMPERATURE_HINT[fromText] ?? TEMPERATURE_HINT[toText] ?? '';
    throw new UnitError(
      `can not convert ${fromText} (${quantityOf(from)}) to ${toText} (${quantityOf(to)})${hint}`,
    );
  }
  const at = (x: number): number => mathjs().unit(x, fromText).toNumber(toText);
  const offset = at(0);
  // The slope over a wide interval: f(1) - f(0) would lose digits to the offset.
  const span = 1e6;
  return { factor: (at(span) - offset) / span, offset };
}

/** What the whole mathjs bundle gives, for tests that compare the precomputed conversion with it. */
export function convertWithMathjs(value: number, from: string, to: string): number {
  return (require('mathjs') as MathJs).unit(value, from).toNumber(to);
}
