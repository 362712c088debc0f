import type { Message, Transform, TransformContext } from '../../sdk/index.js';
import { copyObject, describeValue, editPath, type FieldPath } from '../shared/field-paths.js';
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
}

/** Converts numbers between units with factors computed by mathjs when the pipeline starts. */
export class UnitConvertTransform implements Transform {
  private readonly fields: Prepared[];

  constructor(private readonly config: UnitConvertTransformConfig) {
    this.fields = config.fields.map((field) => {
      const metaKey = `unit.${field.path.text}`;
      if (field.unitField === undefined) return { field, metaKey };
      const segments = field.path.segments;
      return {
        field,
        metaKey,
        parent: { text: field.path.text, segments: segments.slice(0, -1) },
        key: segments.at(-1) as string,
      };
    });
  }

  apply(batch: Message[], ctx: TransformContext): Message[] {
    return eachMessage(batch, ctx, 'unit-convert', FieldError, (message) => this.one(message));
  }

  private one(message: Message): Message {
    const missing = (at: string): void => {
      if (this.config.missing === 'reject') throw new FieldError(`${at} is missing`);
    };
    let payload = message.payload;
    let meta = message.meta;
    for (const { field, parent, key, metaKey } of this.fields) {
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
      if (converted && this.config.recordUnit) {
        if (meta === message.meta) meta = copyObject(meta);
        meta[metaKey] = field.to;
      }
    }
    return payload === message.payload && meta === message.meta
      ? message
      : { id: message.id, payload, meta, time: message.time };
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
