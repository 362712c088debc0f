import type { Message, Transform, TransformContext } from '../../sdk/index.js';
import {
  ANY,
  copyObject,
  describeValue,
  editPath,
  isContainer,
  type FieldPath,
} from '../shared/field-paths.js';
import type { UnitConvertTransformConfig } from './spec.js';
import type { Conversion } from './units.js';
import { FieldError, eachMessage } from '../shared/each-message.js';

type Field = UnitConvertTransformConfig['fields'][number];

interface Prepared {
  field: Field;
  /** The path to the object holding the value, when the unit is written next to it. */
  parent?: FieldPath;
  key?: string;
  metaKey: string;
  /**
   * A path of named keys and indexes only (no `*`), the value converted in place of it: walked
   * without `editPath`'s visitor, closures and per-level labels (per message, in a relay's hot
   * path). `labels[i]`: the place reached after i segments, as `editPath` names it in reasons.
   */
  direct?: { segments: (string | number)[]; labels: string[] };
}

/** `editPath`'s name for `key` inside `at` (reasons only). */
function label(at: string, key: string | number): string {
  if (typeof key === 'number') return `${at}[${key}]`;
  return /^[A-Za-z_$][\w$-]*$/.test(key) ? `${at}.${key}` : `${at}[${JSON.stringify(key)}]`;
}

function directPath(path: FieldPath): Prepared['direct'] {
  const segments: (string | number)[] = [];
  const labels = ['payload'];
  for (const segment of path.segments) {
    if (segment === ANY) return undefined;
    segments.push(segment);
    labels.push(label(labels[labels.length - 1]!, segment));
  }
  return { segments, labels };
}

/** Converts numbers between units with factors computed by mathjs when the pipeline starts. */
export class UnitConvertTransform implements Transform {
  private readonly fields: Prepared[];
  /** Set by convertAt when it reached the value (the unit is then recorded, even for an equal value). */
  private converted = false;
  /** Per field, whether the message at hand had it converted (reused from message to message). */
  private readonly convertedFields: boolean[];
  /**
   * The last meta made with units, for the input meta and converted fields below: a
   * source that shares one meta between messages (the mqtt source, for a topic) gets one meta with
   * units too, instead of a copy per message that lives as long as the message (issue 17: each
   * copy survived a scavenge in a relay's flood).
   */
  private lastMetaWithUnits: Record<string, unknown> | undefined;
  /** The input meta and converted fields `lastMetaWithUnits` was made from. */
  private lastMetaFrom: Record<string, unknown> | undefined;
  private readonly lastUnitFields: boolean[];

  constructor(private readonly config: UnitConvertTransformConfig) {
    this.fields = config.fields.map((field) => {
      const metaKey = `unit.${field.path.text}`;
      if (field.unitField === undefined) return { field, metaKey, direct: directPath(field.path) };
      const segments = field.path.segments;
      return {
        field,
        metaKey,
        parent: { text: field.path.text, segments: segments.slice(0, -1) },
        key: segments.at(-1) as string,
      };
    });
    this.convertedFields = this.fields.map(() => false);
    this.lastUnitFields = this.fields.map(() => false);
  }

  apply(batch: Message[], ctx: TransformContext): Message[] {
    return eachMessage(batch, ctx, 'unit-convert', FieldError, (message) => this.one(message));
  }

  private one(message: Message): Message {
    let payload = message.payload;
    let anyConverted = false;
    for (let f = 0; f < this.fields.length; f++) {
      const { field, parent, key, direct } = this.fields[f]!;
      if (direct !== undefined) {
        this.converted = false;
        payload = this.convertAt(payload, direct.segments, direct.labels, 0, field);
        this.convertedFields[f] = this.converted;
        anyConverted ||= this.converted;
        continue;
      }
      // Closures only for paths with `*` or a unit field (not made per message on the direct path).
      const missing = (at: string): void => this.missing(at);
      let converted = false;
      const convert = (value: unknown, at: string): number => {
        converted = true;
        return apply(value, at, field);
      };
      if (parent === undefined || key === undefined) {
        payload = editPath(payload, field.path, { found: convert, missing });
      } else {
        const unitField = field.unitField as string;
        payload = editPath(payload, parent, {
          found: (object, at) => {
            const here = `${at}.${key}`;
            if (
              object === null ||
              typeof object !== 'object' ||
              Array.isArray(object) ||
              !Object.hasOwn(object, key)
            ) {
              missing(here);
              return object;
            }
            const copy = copyObject(object as Record<string, unknown>);
            copy[key] = convert(copy[key], here);
            copy[unitField] = field.to;
            return copy;
          },
          missing: (at) => missing(`${at}.${key}`),
        });
      }
      this.convertedFields[f] = converted;
      anyConverted ||= converted;
    }
    const meta = anyConverted && this.config.recordUnit ? this.metaWithUnits(message.meta) : message.meta;
    return payload === message.payload && meta === message.meta
      ? message
      : { id: message.id, payload, meta, time: message.time };
  }

  /**
   * `meta` with `unit.<path>` for each converted field, in field order: the last one made when
   * `meta` and the converted fields are the same as then (metas are never changed in place).
   */
  private metaWithUnits(meta: Record<string, unknown>): Record<string, unknown> {
    const converted = this.convertedFields;
    const lastFields = this.lastUnitFields;
    let same = this.lastMetaFrom === meta;
    for (let f = 0; f < converted.length; f++) {
      same &&= lastFields[f] === converted[f];
      lastFields[f] = converted[f]!;
    }
    if (same) return this.lastMetaWithUnits!;
    const withUnits = copyObject(meta);
    for (let f = 0; f < converted.length; f++)
      if (converted[f]) withUnits[this.fields[f]!.metaKey] = this.fields[f]!.field.to;
    this.lastMetaFrom = meta;
    this.lastMetaWithUnits = withUnits;
    return withUnits;
  }

  /**
   * `editPath` for a path without `*`, with the same outcome: the containers along the path copied
   * (the input is never changed), the same reasons; `value` itself when the path leads nowhere.
   */
  private convertAt(
    value: unknown,
    segments: (string | number)[],
    labels: string[],
    i: number,
    field: Field,
  ): unknown {
    if (i === segments.length) {
      const result = apply(value, labels[i]!, field);
      this.converted = true;
      return result;
    }
    const key = segments[i]!;
    if (!isContainer(value)) {
      this.missing(labels[i + 1]!);
      return value;
    }
    const isArray = Array.isArray(value);
    if (isArray ? !(typeof key === 'number' && key < value.length) : !Object.hasOwn(value, key)) {
      this.missing(labels[i + 1]!);
      return value;
    }
    const current = (value as Record<string | number, unknown>)[key];
    const next = this.convertAt(current, segments, labels, i + 1, field);
    if (next === current) return value;
    const copy = isArray ? value.slice() : copyObject(value);
    (copy as Record<string | number, unknown>)[key] = next;
    return copy;
  }

  private missing(at: string): void {
    if (this.config.missing === 'reject') throw new FieldError(`${at} is missing`);
  }
}

function apply(value: unknown, at: string, field: Field): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new FieldError(`${at} is ${describeValue(value)}, not a finite number in ${field.from}`);
  const result = convert(value, field.conversion);
  if (!Number.isFinite(result))
    throw new FieldError(`${at}: ${value} ${field.from} is out of range in ${field.to}`);
  return field.decimals === undefined ? result : roundToDecimals(result, field.decimals);
}

export function convert(value: number, c: Conversion): number {
  return value * c.factor + c.offset;
}

/** Halves away from zero, as written in decimal (15 significant digits absorb binary noise). */
export function roundToDecimals(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  const a = Math.abs(value * scale);
  // 15 significant digits only near a half, where binary noise decides (2.675 * 100 = 267.49999999999997).
  const nearHalf = Math.abs(a - Math.floor(a) - 0.5) < 1e-6;
  const n = Math.sign(value) * Math.round(nearHalf ? Number(a.toPrecision(15)) : a);
  if (!Number.isFinite(n)) return value;
  const rounded = n / scale;
  return rounded === 0 ? 0 : rounded;
}
