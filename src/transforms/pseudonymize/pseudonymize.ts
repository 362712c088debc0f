import { createHmac } from 'node:crypto';
import type { Message, Transform, TransformContext } from '../../sdk/index.js';
import {
  copyObject,
  describeValue,
  editPath,
  isContainer,
  looksInside,
  notContainerReason,
} from '../shared/field-paths.js';
import { decodeKey } from '../shared/key.js';
import type { PseudonymizeTransformConfig } from './spec.js';
import { FieldError, eachMessage } from '../shared/each-message.js';

const CACHE_ENTRIES = 10_000;
const MAX_CACHED_LENGTH = 256;

/** A message-level failure: the message is rejected with this reason. */
/**
 * Replaces identifiers with keyed pseudonyms: `<keyId>:<first bits of HMAC-SHA-256(key, value)>`.
 * The same value and key give the same pseudonym in every process, so data stays joinable
 * without the identifier; without the key it can not be recomputed (see docs/privacy.md).
 */
export class PseudonymizeTransform implements Transform {
  private readonly key: Buffer;
  private readonly prefix: string;
  private readonly bytes: number;
  private readonly lookInside: boolean;
  private readonly cache = new Map<string, string>();

  constructor(private readonly config: PseudonymizeTransformConfig) {
    this.key = decodeKey(config.key, config.keyEncoding);
    this.prefix = `${config.keyId}:`;
    this.bytes = config.bits / 8;
    this.lookInside = looksInside(config.fields);
  }

  /** The pseudonym of one identifier (its text: the number 42 and the string "42" give the same one). */
  pseudonym(text: string): string {
    const cached = this.cache.get(text);
    if (cached !== undefined) return cached;
    const digest = createHmac('sha256', this.key).update(text, 'utf8').digest().subarray(0, this.bytes);
    const pseudonym = this.prefix + encode(digest, this.config.encoding);
    // A fleet repeats the same few thousand ids: an HMAC costs ~2 µs, a lookup ~0.1 µs.
    if (text.length <= MAX_CACHED_LENGTH) {
      if (this.cache.size >= CACHE_ENTRIES) this.cache.clear();
      this.cache.set(text, pseudonym);
    }
    return pseudonym;
  }

  apply(batch: Message[], ctx: TransformContext): Message[] {
    return eachMessage(batch, ctx, 'pseudonymize', FieldError, (message) => this.one(message));
  }

  private one(message: Message): Message {
    const missing = (at: string): void => {
      if (this.config.missing === 'reject') throw new FieldError(`${at} is missing`);
    };
    let payload = message.payload;
    if (this.lookInside && !isContainer(payload))
      throw new FieldError(
        `the payload is ${describeValue(payload)}, not a JSON object or array, so ${this.config.fields.map((f) => f.text).join(', ')} can not be pseudonymized: decode it first (e.g. the MQTT source's payload: json)`,
      );
    for (const path of this.config.fields) {
      payload = editPath(payload, path, {
        found: (value, at) => this.replace(value, at),
        missing,
        notContainer: (at, value, wanted) => {
          throw new FieldError(notContainerReason(at, value, wanted));
        },
      });
    }
    let meta = message.meta;
    if (this.config.topicLevels.length > 0 || this.config.meta.length > 0) {
      meta = copyObject(meta);
      if (this.config.topicLevels.length > 0) this.topic(meta, missing);
      for (const key of this.config.meta) {
        if (!Object.hasOwn(meta, key) || meta[key] === undefined) missing(`meta ${key}`);
        else meta[key] = this.replace(meta[key], `meta ${key}`);
      }
    }
    return { id: message.id, payload, meta, time: message.time };
  }

  private topic(meta: Record<string, unknown>, missing: (at: string) => void): void {
    const topic = meta['mqtt.topic'];
    if (typeof topic !== 'string') {
      missing('meta mqtt.topic');
      return;
    }
    const levels = topic.split('/');
    for (const level of this.config.topicLevels) {
      const value = levels[level];
      if (value === undefined || value === '') missing(`level ${level} of the topic "${topic}"`);
      else levels[level] = this.pseudonym(value);
    }
    meta['mqtt.topic'] = levels.join('/');
  }

  private replace(value: unknown, at: string): string {
    if (typeof value === 'string') return this.pseudonym(value);
    if (typeof value === 'number' && Number.isFinite(value)) return this.pseudonym(String(value));
    if (typeof value === 'bigint') return this.pseudonym(value.toString());
    throw new FieldError(
      `${at} is ${describeValue(value)}; only strings and finite numbers can be pseudonymized (use redact for other values)`,
    );
  }
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32, lower case, without padding. */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

function encode(bytes: Buffer, encoding: PseudonymizeTransformConfig['encoding']): string {
  if (encoding === 'base32') return base32(bytes);
  return bytes.toString(encoding);
}
