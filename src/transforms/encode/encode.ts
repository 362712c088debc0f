import { type Message, type Transform, type TransformContext } from '../../sdk/index.js';
import {
  CodecError,
  encodeByteLayout,
  encodeCayenneLpp,
  type CayenneObject,
} from '../../sdk/codecs/index.js';
import { convertEach, type Outcome } from '../shared/frame-options.js';
import { describeValue } from '../shared/location.js';
import type { EncodeTransformConfig } from './spec.js';

/** Encodes the payload or a field: JSON, text, base64, hex, Cayenne LPP or a byte layout. */
export class EncodeTransform implements Transform {
  readonly apply: (batch: Message[], ctx: TransformContext) => Message[];

  constructor(private readonly config: EncodeTransformConfig) {
    this.apply = convertEach(config, `encode ${config.format}`, (value) => this.encode(value));
  }

  private encode(value: unknown): Outcome {
    const outcome = this.encodeValue(value);
    if (typeof outcome === 'string') return outcome;
    const v = outcome.value as Uint8Array | string;
    const size = typeof v === 'string' ? v.length : v.byteLength;
    if (size > this.config.maxBytes)
      return `gives ${size} ${typeof v === 'string' ? 'characters' : 'bytes'}, more than maxBytes (${this.config.maxBytes})`;
    return outcome;
  }

  private encodeValue(value: unknown): Outcome {
    if (value === undefined) return 'is missing';
    switch (this.config.format) {
      case 'json': {
        let json: string | undefined;
        try {
          json = JSON.stringify(value, (_key, v: unknown) => {
            if (typeof v === 'number' && !Number.isFinite(v))
              throw new CodecError(`has a number JSON cannot hold (${v})`);
            if (typeof v === 'bigint') throw new CodecError('has a bigint, which JSON cannot hold');
            return v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v;
          });
        } catch (error) {
          if (error instanceof CodecError) return error.message;
          return `cannot be written as JSON: ${(error as Error).message}`;
        }
        return { value: bytes(Buffer.from(json ?? 'null', 'utf8')) };
      }
      case 'text':
        if (typeof value === 'string') return { value: bytes(Buffer.from(value, 'utf8')) };
        if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean')
          return { value: bytes(Buffer.from(String(value), 'utf8')) };
        if (value instanceof Uint8Array) return { value };
        return `is ${describeValue(value)}: text takes a string, a finite number or a boolean (use json for objects)`;
      case 'base64':
      case 'hex': {
        const raw =
          value instanceof Uint8Array
            ? Buffer.from(value)
            : typeof value === 'string'
              ? Buffer.from(value, 'utf8')
              : undefined;
        if (!raw) return `is ${describeValue(value)}, not bytes or text (encode it as json or text first)`;
        return { value: raw.toString(this.config.format) };
      }
      default: {
        let frame: Buffer;
        try {
          frame =
            this.config.format === 'cayenne-lpp'
              ? encodeCayenneLpp(value as CayenneObject)
              : encodeByteLayout(this.config.layout!, value as Record<string, unknown>);
        } catch (error) {
          if (error instanceof CodecError) return `could not be encoded: ${error.message}`;
          throw error;
        }
        const to = this.config.to;
        return { value: to === 'bytes' ? bytes(frame) : frame.toString(to) };
      }
    }
  }
}

/** A plain Uint8Array of its own: small Buffers share Node's pool, which must not travel on. */
function bytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer);
}
