import { z } from 'zod';
import { secret } from '../../src/sdk/index.js';

/** Config fields the `influxdb` sink and source share: where the server is and who connects. */

export const influxUrl = z
  .string()
  .refine((u) => {
    try {
      const { protocol, username, password } = new URL(u);
      return (protocol === 'http:' || protocol === 'https:') && !username && !password;
    } catch {
      return false;
    }
  }, 'expected an http:// or https:// URL without user name or password, such as http://influxdb:8086 (credentials go in username/password or token)')
  .describe(
    'InfluxDB HTTP API address: http://host:8086 (1.x, 2.x), http://host:8181 (3), or https:// for TLS. A path is kept (a reverse proxy under /influx).',
  );

export const influxUsername = z
  .string()
  .min(1)
  .optional()
  .describe('Version 1: user name (or any name with a token as password on the v1 API of 2.x).');

export const influxPassword = secret('Version 1: password of the user.').optional();

/** `tls` only means something with an https:// URL: say so rather than ignore it. */
export function checkTlsScheme(config: { tls?: unknown; url: string }, ctx: z.RefinementCtx): void {
  if (config.tls !== undefined && !config.url.startsWith('https:')) {
    ctx.addIssue({
      code: 'custom',
      path: ['tls'],
      message: 'tls is set but the url is not https://: TLS is chosen by the URL scheme',
    });
  }
}
