import { errorMessage, type Message, type Transform, type TransformContext } from '../../sdk/index.js';
import { CodecError, decodeByteLayout, decodeCayenneLpp } from '../../sdk/codecs/index.js';
import { convertEach, type Outcome } from '../shared/frame-options.js';
import { describeValue } from '../shared/location.js';
import type { DecodeTransformConfig } from './spec.js';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Decodes a payload or a field: JSON, text, base64, hex, Cayenne LPP or a byte layout. */
export class DecodeTransform implements Transform {
  readonly apply: (batch: Message[], ctx: TransformContext) => Message[];

  constructor(private readonly config: DecodeTransformConfig) {
    this.apply = convertEach(config, `decode ${config.format}`, (value) => this.decode(value));
  }

  private decode(value: unknown): Outcome {
    const { format, maxBytes } = this.config;
    if (value === undefined) return 'is missing';
    const size =
      value instanceof Uint8Array ? value.byteLength : typeof value === 'string' ? value.length : -1;
    if (size < 0)
      return `is ${describeValue(value)}, not bytes or text: nothing to decode${
        format === 'json' ? ' (was it decoded already? see the source\u2019s payload setting)' : ''
      }`;
    if (size > maxBytes)
      return `is ${size} ${value instanceof Uint8Array ? 'bytes' : 'characters'} long, more than maxBytes (${maxBytes})`;
    switch (format) {
      case 'text':
        return typeof value === 'string' ? { value } : text(value as Uint8Array);
      case 'json': {
        const source = typeof value === 'string' ? { value } : text(value as Uint8Array);
        if (typeof source === 'string') return source;
        try {
          return { value: JSON.parse(source.value as string) };
        } catch (error) {
          return `is not valid JSON: ${errorMessage(error)}`;
        }
      }
      case 'base64':
      case 'hex':
        return bytesFromText(value, format);
      default: {
        const frame =
          this.config.from === 'bytes' ? frameBytes(value) : bytesFromText(value, this.config.from);
        if (typeof frame === 'string') return frame;
        try {
          const bytes = frame.value as Uint8Array;
          return {
            value:
              format === 'cayenne-lpp'
                ? decodeCayenneLpp(bytes)
                : decodeByteLayout(this.config.layout!, bytes),
          };
        } catch (error) {
          if (error instanceof CodecError) return `could not be decoded: ${error.message}`;
          throw error;
        }
      }
    }
  }
}

function text(bytes: Uint8Array): Outcome {
  try {
    return { value: utf8.decode(bytes) };
  } catch {
    return 'is not valid UTF-8 text';
  }
}

function frameBytes(value: unknown): Outcome {
  if (value instanceof Uint8Array) return { value };
  return 'is text, not bytes: set from: base64 or from: hex';
}

function bytesFromText(value: unknown, encoding: 'base64' | 'hex'): Outcome {
  if (typeof value !== 'string') return `is ${describeValue(value)}, not ${encoding} text`;
  const compact = value.replace(/\s+/g, '');
  if (encoding === 'hex') {
    if (!HEX.test(compact)) return 'is not hex text (pairs of 0-9, a-f)';
    return { value: new Uint8Array(Buffer.from(compact, 'hex')) };
  }
  if (BASE64.test(compact)) return { value: new Uint8Array(Buffer.from(compact, 'base64')) };
  if (BASE64URL.test(compact) && compact.length % 4 !== 1)
    return { value: new Uint8Array(Buffer.from(compact, 'base64url')) };
  return 'is not base64 text';
}
