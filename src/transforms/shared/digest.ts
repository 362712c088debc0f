import { FatalError } from '../../sdk/index.js';
import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import CRC32C from 'crc-32/crc32c.js';
import { z } from 'zod';
import { secret } from '../../sdk/index.js';
import { keyName } from './field-paths.js';
import { checkKey, decodeKey, keyEncoding } from './key.js';
import { canonicalJson } from './canonical.js';

/**
 * What checksum and verify-checksum share: the options that must be equal on both sides, the
 * canonical form of a payload and the digest. Both sides compute the same bytes from the same
 * decoded payload, whatever JSON formatting or key order it travelled with.
 */
export const ALGORITHMS = ['crc32c', 'sha256', 'hmac-sha256'] as const;
export type ChecksumAlgorithm = (typeof ALGORITHMS)[number];

export const checksumOptions = {
  algorithm: z
    .enum(ALGORITHMS)
    .default('sha256')
    .describe(
      'crc32c (detects accidental corruption), sha256 (also deliberate changes by anyone who can not replace the checksum too), or hmac-sha256 (keyed: only holders of the key can make a valid value).',
    ),
  key: secret('Key for hmac-sha256, at least 32 bytes once decoded (`openssl rand -base64 32`).').optional(),
  keyEncoding,
  field: keyName(
    'Top-level payload key that holds the checksum (the payload must be a JSON object); the default when userProperty is not set: `checksum`.',
  ).optional(),
  userProperty: keyName(
    'Name of the MQTT 5 user property that holds the checksum, in meta `mqtt.userProperties` (the MQTT sink must forward it: see the README).',
  ).optional(),
};

interface ChecksumOptions {
  algorithm: ChecksumAlgorithm;
  key?: string | undefined;
  keyEncoding: 'base64' | 'hex' | 'utf8';
  field?: string | undefined;
  userProperty?: string | undefined;
}

/** The cross-field rules, for both configs' superRefine. */
export function checkChecksumOptions<T>(config: ChecksumOptions, ctx: z.RefinementCtx<T>): void {
  if (config.algorithm === 'hmac-sha256') {
    if (config.key === undefined)
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'hmac-sha256 needs a key' });
    else checkKey(config.key, config.keyEncoding, 'key', ctx);
  } else if (config.key !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['key'],
      message: `${config.algorithm} uses no key: set algorithm: hmac-sha256 to use one`,
    });
  }
  if (config.field !== undefined && config.userProperty !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['userProperty'],
      message: 'give either field or userProperty, not both',
    });
}

export type Target = { kind: 'field'; name: string } | { kind: 'userProperty'; name: string };

export function targetOf(config: ChecksumOptions): Target {
  return config.userProperty !== undefined
    ? { kind: 'userProperty', name: config.userProperty }
    : { kind: 'field', name: config.field ?? 'checksum' };
}

export const USER_PROPERTIES = 'mqtt.userProperties';

/** A payload that has no canonical form (NaN, a cycle, a BigInt): the message is rejected with this. */
export class CanonicalError extends FatalError {}

/**
 * What a checksum covers: bytes as they are; a string as its UTF-8 bytes (so a text payload and the
 * same bytes agree); anything else as its RFC 8785 canonical JSON, also hashed as UTF-8. Text is
 * returned as a string, which the digests encode as UTF-8 themselves (no Buffer per message).
 * `without` leaves out a top-level key.
 */
export function canonicalForm(payload: unknown, without?: string): Buffer | string {
  if (payload instanceof Uint8Array)
    return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (typeof payload === 'string') return payload;
  let text: string | undefined;
  try {
    text = canonicalJson(payload, without);
  } catch (error) {
    throw new CanonicalError(
      `the payload has no canonical JSON form (RFC 8785): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (text === undefined) throw new CanonicalError(`the payload has no JSON form (${typeof payload})`);
  return text;
}

export class Digester {
  private readonly key: Buffer | undefined;

  constructor(
    private readonly algorithm: ChecksumAlgorithm,
    key: string | undefined,
    encoding: ChecksumOptions['keyEncoding'],
  ) {
    this.key = key === undefined ? undefined : decodeKey(key, encoding);
  }

  /** Lower-case hex: 8 digits for crc32c, 64 for the others. */
  digest(data: Buffer | string): string {
    switch (this.algorithm) {
      case 'crc32c':
        // str() encodes as UTF-8, as Buffer.from() would.
        return ((typeof data === 'string' ? CRC32C.str(data) : CRC32C.buf(data)) >>> 0)
          .toString(16)
          .padStart(8, '0');
      case 'sha256':
        // One-shot hash(): a third of the time of createHash() for a small payload; strings as UTF-8.
        return hash('sha256', data, 'hex');
      case 'hmac-sha256':
        return typeof data === 'string'
          ? createHmac('sha256', this.key as Buffer)
              .update(data, 'utf8')
              .digest('hex')
          : createHmac('sha256', this.key as Buffer)
              .update(data)
              .digest('hex');
    }
  }

  /** Compares in constant time for keyed values, so timing tells nothing about a valid one. */
  matches(expected: string, received: string): boolean {
    if (expected.length !== received.length) return false;
    if (this.algorithm !== 'hmac-sha256') return expected === received;
    return timingSafeEqual(Buffer.from(expected), Buffer.from(received));
  }
}
