import { z } from 'zod';

/** Keys for HMAC-SHA-256 (pseudonyms, keyed checksums): at least as long as the hash, 32 bytes. */
export const MIN_KEY_BYTES = 32;

export const keyEncoding = z
  .enum(['base64', 'hex', 'utf8'])
  .default('base64')
  .describe(
    'How the key is written: base64 (as `openssl rand -base64 32` prints it), hex (`openssl rand -hex 32`), or utf8 (the text itself, each character as its UTF-8 bytes).',
  );

export type KeyEncoding = z.output<typeof keyEncoding>;

const BASE64 =
  /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}|[A-Za-z0-9+/]{3})?$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * Decodes a key strictly: Buffer.from() silently skips characters that are not base64 or hex,
 * which would shorten a mistyped key without a word. Messages never contain the key itself.
 */
export function decodeKey(text: string, encoding: KeyEncoding): Buffer {
  const value = encoding === 'utf8' ? text : text.trim();
  switch (encoding) {
    case 'base64':
      if (!BASE64.test(value) && !BASE64URL.test(value))
        throw new Error(
          'the key is not valid base64 (set keyEncoding: hex or utf8 if it is written otherwise)',
        );
      return Buffer.from(value, BASE64.test(value) ? 'base64' : 'base64url');
    case 'hex':
      if (!HEX.test(value))
        throw new Error('the key is not valid hex: an even number of the characters 0-9 and a-f is expected');
      return Buffer.from(value, 'hex');
    case 'utf8':
      return Buffer.from(value, 'utf8');
  }
}

/** Checks a key in a config's superRefine: valid in its encoding and at least 32 bytes long. */
export function checkKey<T>(
  text: string | undefined,
  encoding: KeyEncoding,
  path: string,
  ctx: z.RefinementCtx<T>,
): void {
  if (text === undefined) return;
  let bytes: Buffer;
  try {
    bytes = decodeKey(text, encoding);
  } catch (error) {
    ctx.addIssue({ code: 'custom', path: [path], message: (error as Error).message });
    return;
  }
  if (bytes.length < MIN_KEY_BYTES)
    ctx.addIssue({
      code: 'custom',
      path: [path],
      message: `the key is ${bytes.length} bytes long (as ${encoding}); at least ${MIN_KEY_BYTES} are needed: generate one with \`openssl rand -base64 32\``,
    });
}
