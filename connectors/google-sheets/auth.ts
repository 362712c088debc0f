import { createHash } from 'node:crypto';
import type { google } from 'googleapis';
import { ConfigError } from '../../src/sdk/index.js';
import { SHEETS_SCOPE, type GoogleSheetsAuthConfig } from './spec.js';

/** What googleapis needs to authorise requests (a JWT or OAuth2 client). */
export type SheetsAuthClient = InstanceType<typeof google.auth.OAuth2> | InstanceType<typeof google.auth.JWT>;

export interface SheetsAuth {
  client: SheetsAuthClient;
  /** Who the writes count against (the quota is per user): e-mail of the service account, or the OAuth client. */
  account: string;
}

interface ServiceAccountKey {
  client_email?: unknown;
  private_key?: unknown;
  private_key_id?: unknown;
}

/**
 * Builds the auth client from the config. A service account signs its own short-lived JWT with the
 * spreadsheets scope (no call to a token endpoint, Google's "self-signed JWT"); a refresh token is
 * exchanged at `tokenUrl`. Application Default Credentials are never used: the credentials are the
 * ones in the pipeline file or none.
 */
export async function createSheetsAuth(config: GoogleSheetsAuthConfig): Promise<SheetsAuth> {
  // googleapis takes ~1 s to load: only pipelines that use this sink pay for it.
  const { google } = await import('googleapis');
  if ('serviceAccountKey' in config) {
    let key: ServiceAccountKey;
    try {
      key = JSON.parse(config.serviceAccountKey) as ServiceAccountKey;
    } catch {
      // The message must not echo the value: it is a secret.
      throw new ConfigError(
        'auth.serviceAccountKey: not valid JSON (expected the key file of a service account)',
      );
    }
    if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string')
      throw new ConfigError(
        'auth.serviceAccountKey: the JSON has no client_email or private_key (is it a service account key file?)',
      );
    const client = new google.auth.JWT({
      email: key.client_email,
      key: key.private_key,
      ...(typeof key.private_key_id === 'string' ? { keyId: key.private_key_id } : {}),
      scopes: [SHEETS_SCOPE],
    });
    // Not in JWTOptions, only a property: sign the JWT here with the scope, no token endpoint.
    client.useJWTAccessWithScope = true;
    return { client, account: key.client_email };
  }
  const client = new google.auth.OAuth2({
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    endpoints: { oauth2TokenUrl: config.tokenUrl },
  });
  client.setCredentials({ refresh_token: config.refreshToken, scope: SHEETS_SCOPE });
  // One user per refresh token; the hash names it without revealing it.
  const user = createHash('sha256').update(config.refreshToken).digest('hex').slice(0, 12);
  return { client, account: `${config.clientId}/${user}` };
}
