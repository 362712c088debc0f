import type { sheets_v4 } from '@googleapis/sheets';
import {
  FatalError,
  NotConnectedError,
  PasserelleError,
  RetryableError,
  SinkStoppedError,
  errorMessage,
  redact,
  redactUrl,
  sleep,
  type ComponentCounter,
} from '../../src/sdk/index.js';
import type { SinkHealth } from './health.js';
import type { WriteQuota } from './quota.js';
import type { GoogleSheetsSinkConfig } from './spec.js';
import { sharedState } from './state.js';

/** A quota wait longer than this is handed back to the outbox (retry later) instead of held in write(). */
const MAX_INLINE_QUOTA_WAIT_MS = 30_000;

/** What googleapis is given per call: the caller's signal with the request timeout, no retries of its own. */
export interface CallOptions {
  signal: AbortSignal;
  timeout: number;
  retry: boolean;
}

export type ApiCall<T> = (sheets: sheets_v4.Sheets, options: CallOptions) => Promise<T>;

export interface ApiError {
  status: number | undefined;
  message: string;
  retryAfterMs: number | undefined;
  url: string | undefined;
}

export interface SheetsApiOptions {
  client: sheets_v4.Sheets;
  config: GoogleSheetsSinkConfig;
  quota: WriteQuota;
  /** The Google identity (named in the 403 advice). */
  account: string;
  /** `passerelle_google_sheets_requests_total{kind, status}`. */
  requests: ComponentCounter;
  health: SinkHealth;
  /** A 400 said a tab was deleted, shrunk or created meanwhile: what is known of the tabs is stale. */
  onSpreadsheetChanged: () => void;
}

/**
 * Every request to the Sheets API goes through here: the request timeout and the caller's signal,
 * a write token of the account before each write, the request counter, reachability, and the
 * mapping of failures to the SDK's error vocabulary.
 */
export class SheetsApi {
  readonly spreadsheetId: string;

  constructor(private readonly o: SheetsApiOptions) {
    this.spreadsheetId = o.config.spreadsheetId;
  }

  read<T>(run: ApiCall<T>, signal: AbortSignal): Promise<T> {
    return this.call('read', run, signal);
  }

  /** A write once the account has a token; `beforeSend` runs between the token and the request. */
  async write<T>(run: ApiCall<T>, signal: AbortSignal, beforeSend?: () => Promise<void> | void): Promise<T> {
    await this.takeToken(signal);
    await beforeSend?.();
    return this.call('write', run, signal);
  }

  async batchUpdate(
    requests: sheets_v4.Schema$Request[],
    signal: AbortSignal,
    beforeSend?: () => Promise<void> | void,
  ): Promise<void> {
    await this.write(
      (sheets, options) =>
        sheets.spreadsheets.batchUpdate(
          { spreadsheetId: this.spreadsheetId, requestBody: { requests } },
          options,
        ),
      signal,
      beforeSend,
    );
  }

  /** Maps any failure to the SDK's error vocabulary (and stops the sink on refused credentials or access). */
  classify(error: unknown, signal: AbortSignal): Error {
    const { config, health } = this.o;
    if (error instanceof PasserelleError) {
      if (error instanceof SinkStoppedError) health.stoppedWith(error);
      return error;
    }
    const e = apiError(error);
    const tokenUrl = 'tokenUrl' in config.auth ? config.auth.tokenUrl : undefined;
    if (e.url && tokenUrl && e.url.startsWith(tokenUrl))
      return health.stop(
        `Google refused the OAuth credentials at ${redactUrl(tokenUrl)}: ${e.message} (is the refresh token revoked or expired, or the client id/secret wrong?)`,
      );
    switch (true) {
      case e.status === 401:
        return health.stop(
          `Google refused the credentials (401: ${e.message}). Check auth: the service account key or the OAuth refresh token.`,
        );
      case e.status === 403:
        return health.stop(
          `no permission on spreadsheet ${this.spreadsheetId} (403: ${e.message}). Share the spreadsheet with ${this.o.account} as Editor, and enable the Google Sheets API in the project.`,
        );
      case e.status === 404:
        return health.stop(
          `spreadsheet ${this.spreadsheetId} not found (404: ${e.message}). Check spreadsheetId.`,
        );
      case e.status === 429: {
        const wait = e.retryAfterMs ?? config.quota.backoff;
        void this.o.quota.block(wait).catch(() => {});
        return new RetryableError(`Google Sheets quota exceeded (429: ${e.message})`, { retryAfterMs: wait });
      }
      case e.status === 408 || (e.status !== undefined && e.status >= 500):
        return new RetryableError(`Google Sheets answered ${e.status}: ${e.message}`);
      case e.status === 400 &&
        /exceeds grid limits|Unable to parse range|No grid with id|already exists/i.test(e.message):
        // A tab deleted, shrunk or created meanwhile (by a person or another sink): read the tabs again and retry.
        this.o.onSpreadsheetChanged();
        return new RetryableError(`the spreadsheet changed under the sink (400: ${e.message})`);
      case e.status !== undefined && e.status >= 400 && e.status < 500:
        return new FatalError(`Google Sheets refused the batch (${e.status}): ${e.message}`);
      default:
        if (signal.aborted) return new RetryableError('write aborted');
        health.markUnreachable(error);
        return new NotConnectedError(
          `the Sheets API at ${redactUrl(config.rootUrl)} can not be reached: ${redact(e.message)}`,
          { cause: error },
        );
    }
  }

  /** Waits for a write token of the account (shared by every replica with Redis). */
  private async takeToken(signal: AbortSignal): Promise<void> {
    for (;;) {
      const wait = await sharedState(() => this.o.quota.take());
      if (wait <= 0) return;
      if (wait > MAX_INLINE_QUOTA_WAIT_MS)
        throw new RetryableError(`write quota of the account exhausted for ${Math.ceil(wait / 1000)} s`, {
          retryAfterMs: wait,
        });
      await sleep(wait, signal);
      if (signal.aborted) throw new RetryableError('write aborted while waiting for the write quota');
    }
  }

  /** One API call with the request timeout and the caller's signal; googleapis' own retries are off. */
  private async call<T>(kind: 'read' | 'write', run: ApiCall<T>, signal: AbortSignal): Promise<T> {
    const { requestTimeout } = this.o.config;
    const timeout = AbortSignal.timeout(requestTimeout);
    try {
      const result = await run(this.o.client, {
        signal: AbortSignal.any([signal, timeout]),
        timeout: requestTimeout,
        retry: false,
      });
      this.o.requests.inc({ kind, status: '200' });
      this.o.health.markReachable();
      return result;
    } catch (error) {
      const e = apiError(error);
      this.o.requests.inc({ kind, status: e.status ? String(e.status) : 'network' });
      if (e.status === undefined && timeout.aborted && !signal.aborted)
        throw new RetryableError(
          `no answer from the Sheets API within ${requestTimeout} ms (the batch will be written again to the same rows)`,
          { cause: error },
        );
      throw error;
    }
  }
}

/** The HTTP status, Google's message, Retry-After and URL of a failed call (googleapis or gaxios error). */
export function apiError(error: unknown): ApiError {
  const e = error as {
    status?: unknown;
    message?: unknown;
    response?: { status?: number; headers?: unknown; data?: unknown };
    config?: { url?: unknown };
  };
  const status =
    typeof e?.response?.status === 'number'
      ? e.response.status
      : typeof e?.status === 'number'
        ? e.status
        : undefined;
  const data = e?.response?.data as
    { error?: { message?: unknown } | string; error_description?: unknown } | undefined;
  const message =
    (typeof data?.error === 'object' && typeof data.error.message === 'string' && data.error.message) ||
    (typeof data?.error_description === 'string' && `${String(data.error)}: ${data.error_description}`) ||
    (typeof data?.error === 'string' && data.error) ||
    errorMessage(error);
  let retryAfter: string | null | undefined;
  const headers = e?.response?.headers;
  if (headers && typeof (headers as Headers).get === 'function')
    retryAfter = (headers as Headers).get('retry-after');
  else if (headers && typeof headers === 'object')
    retryAfter = (headers as Record<string, string>)['retry-after'];
  return {
    status,
    message,
    retryAfterMs: parseRetryAfter(retryAfter),
    url: e?.config?.url === undefined ? undefined : String(e.config.url),
  };
}

/** Whether Google refused the request (4xx): it changed nothing. */
export function refused(error: unknown): boolean {
  const status = apiError(error).status;
  return status !== undefined && status >= 400 && status < 500;
}

/** Retry-After: seconds, or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
