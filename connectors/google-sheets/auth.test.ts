import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SheetsStub, type SheetsStubOptions } from '../../test/sheets-stub/server.js';
import { columnValues, readings, stubSink } from '../../test/sheets-stub/sink-fixture.js';
import type { GoogleSheetsSink } from './sink.js';

/**
 * Application Default Credentials and impersonation, offline: the stand-in plays Google's token
 * endpoint (named in the credentials file), the GCE metadata server (`GCE_METADATA_HOST`) and the
 * IAM credentials API, and accepts only the identities it issued tokens to.
 */
const ENV = [
  'GOOGLE_APPLICATION_CREDENTIALS',
  'HOME',
  'GCE_METADATA_HOST',
  'GCE_METADATA_IP',
  'METADATA_SERVER_DETECTION',
] as const;
let saved: Record<string, string | undefined>;
let home: string;
const stubs: SheetsStub[] = [];
const sinks: GoogleSheetsSink[] = [];

beforeEach(() => {
  saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
  home = mkdtempSync(join(tmpdir(), 'sheets-adc-'));
  // Nothing from the machine running the tests: an empty home and no credentials file.
  process.env.HOME = home;
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  delete process.env.GCE_METADATA_IP;
  delete process.env.METADATA_SERVER_DETECTION;
});

afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const s of stubs.splice(0)) await s.stop();
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  rmSync(home, { recursive: true, force: true });
});

function serviceAccount(email: string) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    email,
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    key: {
      type: 'service_account',
      project_id: 'stub-project',
      client_email: email,
      client_id: '1234567890',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      private_key_id: 'k1',
    },
  };
}

async function start(options: SheetsStubOptions, users: string[]) {
  const stub = new SheetsStub({ writesPerWindow: 1000, readsPerWindow: 1000, ...options });
  await stub.start();
  stubs.push(stub);
  // No metadata server unless the test starts one: point the library at the stand-in.
  process.env.GCE_METADATA_HOST = stub.metadataHost;
  return { stub, id: stub.createSpreadsheet({ users }) };
}

async function sinkWith(stub: SheetsStub, id: string, auth: Record<string, unknown>) {
  const { sink, ctx } = stubSink(stub, id, { auth }, { token: null });
  sinks.push(sink);
  await sink.connect(AbortSignal.timeout(20_000));
  return { sink, ctx };
}

const signal = () => AbortSignal.timeout(20_000);

describe('google-sheets auth: Application Default Credentials and impersonation', () => {
  it('GOOGLE_APPLICATION_CREDENTIALS naming a service account key: a self-signed JWT', async () => {
    const sa = serviceAccount('adc-writer@stub-project.iam.gserviceaccount.com');
    const { stub, id } = await start({ serviceAccounts: { [sa.email]: sa.publicKey } }, [sa.email]);
    const file = join(home, 'key.json');
    writeFileSync(file, JSON.stringify(sa.key));
    process.env.GOOGLE_APPLICATION_CREDENTIALS = file;
    const { sink, ctx } = await sinkWith(stub, id, { applicationDefault: true });
    expect(ctx.state).not.toBe('stopped');
    await sink.write(readings(2, 'adc-key'), signal());
    expect(columnValues(stub, id)).toEqual(['adc-key-0', 'adc-key-1']);
    expect(stub.requests.at(-1)?.user).toBe(sa.email);
  });

  it('the gcloud ADC file of a user (authorized_user), refreshed at the configured token endpoint', async () => {
    const { stub, id } = await start(
      {
        oauth: {
          clients: { 'gcloud-client': 'gcloud-secret' },
          refreshTokens: { 'user-refresh': 'ana@example.com' },
        },
      },
      ['ana@example.com'],
    );
    mkdirSync(join(home, '.config', 'gcloud'), { recursive: true });
    writeFileSync(
      join(home, '.config', 'gcloud', 'application_default_credentials.json'),
      JSON.stringify({
        type: 'authorized_user',
        client_id: 'gcloud-client',
        client_secret: 'gcloud-secret',
        refresh_token: 'user-refresh',
      }),
    );
    const { sink } = await sinkWith(stub, id, { applicationDefault: true, tokenUrl: stub.tokenUrl });
    await sink.write(readings(1, 'adc-user'), signal());
    expect(columnValues(stub, id)).toEqual(['adc-user-0']);
    expect(stub.requests.at(-1)?.user).toBe('ana@example.com');
  });

  it('the metadata server (GKE Workload Identity, Compute Engine) when no file is found', async () => {
    const account = 'gke-writer@stub-project.iam.gserviceaccount.com';
    const { stub, id } = await start({ metadataAccount: account }, [account]);
    const { sink, ctx } = await sinkWith(stub, id, { applicationDefault: true });
    expect(ctx.state).not.toBe('stopped');
    await sink.write(readings(1, 'metadata'), signal());
    expect(columnValues(stub, id)).toEqual(['metadata-0']);
    expect(stub.requests.at(-1)?.user).toBe(account);
  });

  // A service account key as the source of an impersonation gets its own token from
  // oauth2.googleapis.com (gtoken's fixed URL): that path can not run offline; the two sources
  // below (a user's refresh token, the metadata server) exercise the same impersonation client.
  it('impersonates a service account with user credentials that may only create its tokens', async () => {
    const target = 'sheets-writer@stub-project.iam.gserviceaccount.com';
    const { stub, id } = await start(
      {
        oauth: {
          clients: { 'gcloud-client': 'gcloud-secret' },
          refreshTokens: { 'dev-refresh': 'dev@example.com' },
        },
        impersonation: { [target]: ['dev@example.com'] },
      },
      // Shared with the target only: writing as the user would be refused.
      [target],
    );
    const file = join(home, 'adc.json');
    writeFileSync(
      file,
      JSON.stringify({
        type: 'authorized_user',
        client_id: 'gcloud-client',
        client_secret: 'gcloud-secret',
        refresh_token: 'dev-refresh',
      }),
    );
    process.env.GOOGLE_APPLICATION_CREDENTIALS = file;
    const { sink } = await sinkWith(stub, id, {
      applicationDefault: true,
      tokenUrl: stub.tokenUrl,
      impersonate: target,
      iamCredentialsUrl: stub.url,
    });
    await sink.write(readings(1, 'impersonated'), signal());
    expect(columnValues(stub, id)).toEqual(['impersonated-0']);
    expect(stub.requests.at(-1)?.user).toBe(target);
  });

  it('impersonates with Application Default Credentials from the metadata server', async () => {
    const account = 'node-pool@stub-project.iam.gserviceaccount.com';
    const target = 'sheets-writer@stub-project.iam.gserviceaccount.com';
    const { stub, id } = await start({ metadataAccount: account, impersonation: { [target]: [account] } }, [
      target,
    ]);
    const { sink } = await sinkWith(stub, id, {
      applicationDefault: true,
      impersonate: target,
      iamCredentialsUrl: stub.url,
    });
    await sink.write(readings(1, 'adc-impersonated'), signal());
    expect(columnValues(stub, id)).toEqual(['adc-impersonated-0']);
    expect(stub.requests.at(-1)?.user).toBe(target);
  });

  it('stops with what to do when no Application Default Credentials exist', async () => {
    const { stub, id } = await start({}, ['nobody@example.com']);
    // Not on Google Cloud: no metadata server.
    process.env.METADATA_SERVER_DETECTION = 'none';
    const { sink, ctx } = await sinkWith(stub, id, { applicationDefault: true });
    expect(ctx.state).toBe('stopped');
    const error = await sink.write(readings(1), signal()).then(
      () => new Error('expected a failure'),
      (e: Error) => e,
    );
    expect(error.message).toMatch(/no Application Default Credentials found/);
    expect(error.message).toMatch(/GOOGLE_APPLICATION_CREDENTIALS/);
  });
});
