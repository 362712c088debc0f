import { createHash } from 'node:crypto';
import type { BaseExternalAccountClient, OAuth2Client } from 'google-auth-library';
import { ConfigError } from '../../src/sdk/index.js';
import { SHEETS_SCOPE, type GoogleSheetsAuthConfig } from './spec.js';

/** Scope the source credentials need to call the IAM credentials API (impersonation). */
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/** What the Sheets client accepts: every client Google's auth library makes for a user or account. */
export type SheetsAuthClient = OAuth2Client | BaseExternalAccountClient;

export interface SheetsAuth {
  client: SheetsAuthClient;
  /**
   * Who the writes count against (Google's quota is per user): the service account's e-mail, or
   * the OAuth client and a hash of the user's refresh token. Shown in messages and used as the
   * quota key shared by every sink of the same identity.
   */
  account: string;
}

interface ServiceAccountKey {
  client_email?: unknown;
  private_key?: unknown;
  private_key_id?: unknown;
}

type GoogleAuthLibrary = typeof import('google-auth-library');

/**
 * Builds the auth client from the config.
 *
 * - A service account key signs its own short-lived JWT with the spreadsheets scope (Google's
 *   "self-signed JWT"): no call to a token endpoint.
 * - A refresh token is exchanged at `tokenUrl`.
 * - `applicationDefault` asks google-auth-library's Application Default Credentials:
 *   `GOOGLE_APPLICATION_CREDENTIALS`, then the gcloud file, then the metadata server. A service
 *   account key found there signs its own JWT too.
 * - `impersonate` uses the credentials above to obtain tokens for another service account from
 *   the IAM credentials API.
 */
export async function createSheetsAuth(config: GoogleSheetsAuthConfig): Promise<SheetsAuth> {
  // Loaded here: only pipelines with this sink pay for it.
  const lib = await import('google-auth-library');
  const impersonate = 'impersonate' in config ? config.impersonate : undefined;
  const scopes = [impersonate ? CLOUD_PLATFORM_SCOPE : SHEETS_SCOPE];
  let source: SheetsAuth;
  if ('serviceAccountKey' in config) source = serviceAccount(lib, config.serviceAccountKey, scopes);
  else if ('applicationDefault' in config) source = await applicationDefault(lib, config.tokenUrl, scopes);
  else {
    const client = new lib.OAuth2Client({
      clientId: config.clientId,
      clientSecret: config.clientSecret,
      endpoints: { oauth2TokenUrl: config.tokenUrl },
    });
    client.setCredentials({ refresh_token: config.refreshToken, scope: SHEETS_SCOPE });
    source = { client, account: userAccount(config.clientId, config.refreshToken) };
  }
  if (!impersonate || !('iamCredentialsUrl' in config)) return source;
  const client = new lib.Impersonated({
    sourceClient: source.client,
    targetPrincipal: impersonate,
    targetScopes: [SHEETS_SCOPE],
    lifetime: 3600,
    delegates: [],
    endpoint: config.iamCredentialsUrl.replace(/\/+$/, ''),
  });
  return { client, account: impersonate };
}

function serviceAccount(lib: GoogleAuthLibrary, json: string, scopes: string[]): SheetsAuth {
  let key: ServiceAccountKey;
  try {
    key = JSON.parse(json) as ServiceAccountKey;
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
  const client = new lib.JWT({
    email: key.client_email,
    key: key.private_key,
    ...(typeof key.private_key_id === 'string' ? { keyId: key.private_key_id } : {}),
    scopes,
  });
  // Not in JWTOptions, only a property: sign the JWT here with the scope, no token endpoint.
  client.useJWTAccessWithScope = true;
  return { client, account: key.client_email };
}

async function applicationDefault(
  lib: GoogleAuthLibrary,
  tokenUrl: string,
  scopes: string[],
): Promise<SheetsAuth> {
  const auth = new lib.GoogleAuth({ scopes, clientOptions: { endpoints: { oauth2TokenUrl: tokenUrl } } });
  let client: SheetsAuthClient;
  try {
    client = (await auth.getClient()) as SheetsAuthClient;
  } catch (error) {
    throw new ConfigError(
      `auth.applicationDefault: no Application Default Credentials found (${(error as Error).message}). Set GOOGLE_APPLICATION_CREDENTIALS to a credentials file, run \`gcloud auth application-default login\`, or run on Google Cloud with a service account attached.`,
    );
  }
  if (client instanceof lib.JWT) {
    client.useJWTAccessWithScope = true;
    return { client, account: client.email ?? 'service account' };
  }
  if (client instanceof lib.UserRefreshClient) {
    // The refresh token is private to the client; the credentials' hash names the user.
    const { _clientId, _refreshToken } = client as unknown as { _clientId?: string; _refreshToken?: string };
    return { client, account: userAccount(_clientId ?? 'adc', _refreshToken ?? '') };
  }
  if (client instanceof lib.Impersonated) return { client, account: client.getTargetPrincipal() };
  // The metadata server (Compute, GKE Workload Identity) or external accounts: ask who it is.
  const credentials = await auth.getCredentials().catch(() => ({ client_email: undefined }));
  return { client, account: credentials.client_email ?? 'application default credentials' };
}

/** One user per refresh token; the hash names it without revealing it. */
function userAccount(clientId: string, refreshToken: string): string {
  const user = createHash('sha256').update(refreshToken).digest('hex').slice(0, 12);
  return `${clientId}/${user}`;
}
