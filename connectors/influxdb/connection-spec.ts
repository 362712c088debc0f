import { z } from 'zod';
import { checkTlsScheme, secret, tlsOptions, lazySchema } from '../../src/sdk/index.js';

/** Config fields the `influxdb` sink and source share: where the server is and who connects. */

export const influxUrl = lazySchema(() =>
  z
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
    ),
);

/** The TLS settings and the version 1 user of the connection. */
export const influxAccessShape = lazySchema(() => ({
  username: z
    .string()
    .min(1)
    .optional()
    .describe('Version 1: user name (or any name with a token as password on the v1 API of 2.x).'),
  password: secret('Version 1: password of the user.').optional(),
  tls: tlsOptions.optional(),
}));

interface InfluxAccess {
  url: string;
  version: number;
  username?: string | undefined;
  password?: string | undefined;
  tls?: unknown;
}

/** `tls` needs https://, and a version 1 password its user; `passwordHint` ends that message. */
export function checkInfluxAccess(config: InfluxAccess, ctx: z.RefinementCtx, passwordHint = ''): void {
  checkTlsScheme(config, ctx, ['https:']);
  if (config.version === 1 && config.password !== undefined && config.username === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['username'],
      message: `password is set without username${passwordHint}`,
    });
}
