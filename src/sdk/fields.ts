import { z } from 'zod';

/**
 * Schema helpers shared by every component config. Each field carries a description: it feeds the
 * JSON Schema, the generated README sections and `passerelle connectors <type>`.
 */

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `250ms`, `5s`, `2m`, `1h`, `7d` or a number of milliseconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = DURATION.exec(value.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1));
}

/** A duration as `250ms`, `5s`, `2m`, `1h`, `7d` or milliseconds; parsed to milliseconds. */
export function duration(description: string) {
  return z
    .union([
      z.number().nonnegative(),
      z.string().regex(DURATION, 'expected a duration such as 500ms, 5s, 2m, 1h or 7d'),
    ])
    .transform((v) => parseDuration(v) as number)
    .describe(description);
}

export const SECRET_META_KEY = 'x-passerelle-secret';

/**
 * A secret (password, token, key). In a pipeline file it must be a `${env:NAME}` or `${file:PATH}`
 * reference, never a literal; its value is redacted wherever it could be printed.
 */
export function secret(description: string) {
  return z
    .string()
    .describe(`${description} Secret: give it as \${env:NAME} or \${file:PATH}.`)
    .meta({ [SECRET_META_KEY]: true });
}

export function isSecretSchema(schema: z.ZodType): boolean {
  const meta = z.globalRegistry.get(schema) as Record<string, unknown> | undefined;
  return meta?.[SECRET_META_KEY] === true;
}

export const tlsOptions = z
  .strictObject({
    ca: z.string().optional().describe('Path of a PEM file with the certificate authorities to trust.'),
    cert: z.string().optional().describe('Path of the PEM client certificate, for mutual TLS.'),
    key: z.string().optional().describe('Path of the PEM private key of the client certificate.'),
    passphrase: secret('Passphrase of the private key.').optional(),
    rejectUnauthorized: z
      .boolean()
      .default(true)
      .describe(
        'Verify the server certificate. Turn off only for tests: it allows man-in-the-middle attacks.',
      ),
    servername: z
      .string()
      .optional()
      .describe('Server name for SNI and certificate verification, when it differs from the host.'),
  })
  .describe('TLS settings. TLS itself is chosen by the URL scheme (mqtts://, wss://, https://).');

/**
 * `tls` only means something with a TLS scheme of the URL (`secureSchemes`, such as `['https:']`):
 * say so rather than ignore it.
 */
export function checkTlsScheme(
  config: { url: string; tls?: unknown },
  ctx: z.RefinementCtx,
  secureSchemes: readonly string[],
): void {
  if (config.tls === undefined || secureSchemes.includes(urlScheme(config.url) ?? '')) return;
  ctx.addIssue({
    code: 'custom',
    path: ['tls'],
    message: `tls is set but the url is not ${secureSchemes.map((s) => `${s}//`).join(' or ')}: TLS is chosen by the URL scheme`,
  });
}

/** The URL's scheme with its colon (`mqtts:`), or undefined when it does not parse. */
export function urlScheme(url: string): string | undefined {
  try {
    return new URL(url).protocol;
  } catch {
    return undefined;
  }
}

/** A source's `batchSize`: the most messages (or events, metrics: `what`) it hands over at once. */
export const deliveryBatchSize = (defaultSize: number, what = 'Messages') =>
  z
    .number()
    .int()
    .positive()
    .default(defaultSize)
    .describe(`${what} per delivery handed to the pipeline, at most.`);
