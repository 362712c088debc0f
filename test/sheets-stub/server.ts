/**
 * A local stand-in for the part of the Google Sheets API v4 that the `google-sheets` sink uses
 * (Google cannot be reached from the test machines). It follows the real wire format: percent-encoded
 * A1 ranges in the path, `:append` / `:batchUpdate` suffixes, `valueInputOption` required, grid
 * limits (values.update never grows a grid; values.append and appendCells do), the 10 million cell
 * and 18,278 column limits, number formats per cell, error bodies `{ error: { code, message, status } }`,
 * bearer tokens, and a per-user per-minute quota answered with 429. Failures can be injected: error
 * statuses, slow answers, answers held back, and answers lost after the change was applied. People
 * can be simulated: rows typed, inserted, deleted and sorted between or during requests.
 *
 * It also stands in for the Google services around it that credentials use: the OAuth token
 * endpoint (`/token`), the GCE metadata server (`/computeMetadata/v1/...`, for Application Default
 * Credentials on GKE/GCE) and the IAM credentials API (`generateAccessToken`, for impersonation).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createVerify } from 'node:crypto';
import type { Socket } from 'node:net';
import { columnLetters, parseRange, quoteSheet, RangeError400, type ParsedRange } from './a1.js';

export type StubValue = string | number | boolean;

export interface StubCell {
  value: StubValue;
  /** Set when USER_ENTERED text started with `=`: the cell holds a formula. */
  formula?: string;
  /** The cell's number format pattern (userEnteredFormat.numberFormat.pattern). */
  format?: string;
}

export interface StubSheet {
  sheetId: number;
  title: string;
  index: number;
  rowCount: number;
  columnCount: number;
  /** rows[r][c], 0-based; holes are empty cells. */
  rows: (StubCell | undefined)[][];
  /** 0-based indexes of the columns hidden by a user (or by `updateDimensionProperties`). */
  hiddenColumns: Set<number>;
  /** Developer metadata located on the sheet (deleted with it, kept when it is renamed). */
  metadata: StubMetadata[];
}

export interface StubMetadata {
  metadataId: number;
  metadataKey: string;
  metadataValue?: string;
  visibility: 'DOCUMENT' | 'PROJECT';
}

export interface StubSpreadsheet {
  spreadsheetId: string;
  title: string;
  sheets: StubSheet[];
  /** Users (by token owner) allowed to open it. */
  sharedWith: Set<string>;
  nextSheetId: number;
  nextMetadataId: number;
}

export interface SheetsStubOptions {
  /** Bearer token -> user. Default `{ 'test-token': 'robot@example.iam.gserviceaccount.com' }`. */
  tokens?: Record<string, string>;
  /** Write requests (append, update, batchUpdate) per user per window. Google: 60 per minute. */
  writesPerWindow?: number;
  /** Read requests per user per window. Google: 60 per minute (300 per project). */
  readsPerWindow?: number;
  /** Quota window in ms (Google refills per minute). */
  windowMs?: number;
  /** Send `Retry-After` (seconds to the end of the window) with 429 answers. Google usually does not. */
  retryAfterHeader?: boolean;
  /** Cells per spreadsheet, at most. Google: 10,000,000. */
  maxCells?: number;
  /**
   * Service accounts (e-mail -> PEM public key) whose self-signed JWTs are accepted as bearer
   * tokens: RS256 signature, `exp` in the future, `scope` with the spreadsheets scope.
   */
  serviceAccounts?: Record<string, string>;
  /** OAuth clients for `POST /token` (refresh-token grant): client id -> secret, refresh token -> user. */
  oauth?: { clients: Record<string, string>; refreshTokens: Record<string, string> };
  /** The service account of the metadata server (`/computeMetadata/v1/...`); none: no metadata server. */
  metadataAccount?: string;
  /** Impersonation grants for the IAM credentials API: target service account -> users allowed to impersonate it. */
  impersonation?: Record<string, string[]>;
  /**
   * Request bodies larger than this are refused with 413. Google documents no hard limit (it
   * recommends 2 MB), so the default is none; every body's size is recorded in `requests`.
   */
  maxRequestBytes?: number;
}

/** Google's column limit per sheet (`ZZZ`). */
export const MAX_COLUMNS = 18_278;
/** Google: a sheet title has at most 100 characters. */
export const MAX_TITLE = 100;
/** Google: at most 30,000 characters of developer metadata per sheet (keys and values). */
export const MAX_METADATA_CHARS = 30_000;
export const IAM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export const SHEETS_SCOPE = 'https://www.googleapis.com/auth/spreadsheets';

export interface StubRequest {
  method: string;
  path: string;
  user: string | undefined;
  kind: 'read' | 'write';
  status: number;
  time: number;
  /** Size of the request body in bytes. */
  bytes: number;
}

interface Injected {
  status: number;
  message: string;
  remaining: number;
  retryAfterSeconds?: number;
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export const DEFAULT_TOKEN = 'test-token';
export const DEFAULT_USER = 'robot@example.iam.gserviceaccount.com';

export class SheetsStub {
  readonly spreadsheets = new Map<string, StubSpreadsheet>();
  readonly requests: StubRequest[] = [];
  private readonly tokens: Record<string, string>;
  private readonly writesPerWindow: number;
  private readonly readsPerWindow: number;
  private readonly windowMs: number;
  private readonly maxCells: number;
  private readonly retryAfterHeader: boolean;
  private readonly serviceAccounts: Record<string, string>;
  private readonly oauth: { clients: Record<string, string>; refreshTokens: Record<string, string> };
  private readonly metadataAccount: string | undefined;
  private readonly impersonation: Record<string, string[]>;
  private readonly maxRequestBytes: number;
  private readonly beforeWrites: (() => void)[] = [];
  private readonly usage = new Map<string, { windowStart: number; reads: number; writes: number }>();
  private readonly injected: Injected[] = [];
  private delayMs = 0;
  private losses = 0;
  private held: (() => void)[] | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private counter = 0;
  port = 0;

  constructor(options: SheetsStubOptions = {}) {
    this.tokens = options.tokens ?? { [DEFAULT_TOKEN]: DEFAULT_USER };
    this.writesPerWindow = options.writesPerWindow ?? 60;
    this.readsPerWindow = options.readsPerWindow ?? 60;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxCells = options.maxCells ?? 10_000_000;
    this.retryAfterHeader = options.retryAfterHeader ?? false;
    this.serviceAccounts = options.serviceAccounts ?? {};
    this.oauth = options.oauth ?? { clients: {}, refreshTokens: {} };
    this.metadataAccount = options.metadataAccount;
    this.impersonation = options.impersonation ?? {};
    this.maxRequestBytes = options.maxRequestBytes ?? Number.POSITIVE_INFINITY;
  }

  /** `host:port` of the metadata server, for `GCE_METADATA_HOST`. */
  get metadataHost(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Token endpoint URL for OAuth refresh tokens (`auth.tokenUrl`). */
  get tokenUrl(): string {
    return `http://127.0.0.1:${this.port}/token`;
  }

  /** The root URL to give googleapis (`rootUrl`). */
  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
  }

  /** Closes the port and every open connection (requests in progress get no answer). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** A new spreadsheet with one tab `Sheet1` (1000 x 26, as Google creates it), shared with `users`. */
  createSpreadsheet(options: { id?: string; users?: string[]; tabs?: string[] } = {}): string {
    const id = options.id ?? `stub-${Date.now().toString(36)}-${++this.counter}`;
    const book: StubSpreadsheet = {
      spreadsheetId: id,
      title: `Spreadsheet ${id}`,
      sheets: [],
      sharedWith: new Set(options.users ?? [DEFAULT_USER]),
      nextSheetId: 0,
      nextMetadataId: 0,
    };
    for (const title of options.tabs ?? ['Sheet1']) this.addSheet(book, { title });
    this.spreadsheets.set(id, book);
    return id;
  }

  sheet(spreadsheetId: string, title: string): StubSheet | undefined {
    return this.spreadsheets.get(spreadsheetId)?.sheets.find((s) => s.title === title);
  }

  /** The values of a tab as rows of plain values (trailing empty cells and rows trimmed). */
  values(spreadsheetId: string, title: string): (StubValue | null)[][] {
    const sheet = this.sheet(spreadsheetId, title);
    if (!sheet) throw new Error(`no tab ${title} in ${spreadsheetId}`);
    return trimRows(Array.from(sheet.rows, (r) => Array.from(r ?? [], (c) => c?.value ?? null)));
  }

  /** Write requests answered (any status) since `since`, for every user. */
  writes(since = 0): StubRequest[] {
    return this.requests.filter((r) => r.kind === 'write' && r.time >= since);
  }

  /** The next `count` requests are answered with `status` (nothing applied). */
  failNext(
    count: number,
    status = 500,
    options: { message?: string; retryAfterSeconds?: number } = {},
  ): void {
    this.injected.push({
      status,
      remaining: count,
      message: options.message ?? (status >= 500 ? 'Internal error encountered.' : 'Injected failure.'),
      ...(options.retryAfterSeconds !== undefined ? { retryAfterSeconds: options.retryAfterSeconds } : {}),
    });
  }

  /** Every answer waits `ms` before it is sent. */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  /** The next `count` write requests are applied, then the connection is closed without an answer. */
  loseResponses(count: number): void {
    this.losses += count;
  }

  /** Answers are held (changes applied) until `release()`. */
  hold(): void {
    this.held ??= [];
  }

  /** Answers kept back by `hold()` so far (the changes they answer are applied). */
  get heldAnswers(): number {
    return this.held?.length ?? 0;
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const go of held) go();
  }

  /** Runs `edit` just before the next write request is applied (a person editing during a batch). */
  beforeNextWrite(edit: () => void): void {
    this.beforeWrites.push(edit);
  }

  // People in the spreadsheet UI. Rows are 1-based, as the UI shows them.

  private grid(spreadsheetId: string, title: string): StubSheet {
    const sheet = this.sheet(spreadsheetId, title);
    if (!sheet) throw new Error(`no tab ${title} in ${spreadsheetId}`);
    return sheet;
  }

  /** Types `values` into row `row` from column A (cells past the grid are refused, as in the UI). */
  typeRow(spreadsheetId: string, title: string, row: number, values: StubValue[]): void {
    const sheet = this.grid(spreadsheetId, title);
    if (row > sheet.rowCount || values.length > sheet.columnCount) throw new Error('outside the grid');
    const target = (sheet.rows[row - 1] ??= []);
    values.forEach((v, c) => (target[c] = { value: v }));
  }

  /** Inserts `count` empty rows above row `before` (Insert 1 row above). */
  insertRows(spreadsheetId: string, title: string, before: number, count = 1): void {
    const sheet = this.grid(spreadsheetId, title);
    while (sheet.rows.length < before - 1) sheet.rows.push([]);
    sheet.rows.splice(before - 1, 0, ...Array.from({ length: count }, () => []));
    sheet.rowCount += count;
  }

  /** Deletes rows `from` .. `from + count - 1`; the rows below move up. */
  deleteRows(spreadsheetId: string, title: string, from: number, count = 1): void {
    const sheet = this.grid(spreadsheetId, title);
    sheet.rows.splice(from - 1, count);
    sheet.rowCount -= count;
  }

  /** Sorts rows `from`..last row with data by the 0-based column (Data > Sort range). */
  sortRows(spreadsheetId: string, title: string, from: number, column: number, descending = false): void {
    const sheet = this.grid(spreadsheetId, title);
    const key = (row: (StubCell | undefined)[] | undefined): string => String(row?.[column]?.value ?? '');
    const rows = sheet.rows.slice(from - 1);
    rows.sort((a, b) => (descending ? -1 : 1) * key(a).localeCompare(key(b), 'en', { numeric: true }));
    sheet.rows.splice(from - 1, rows.length, ...rows);
  }

  /** The number format of a cell (1-based row and column). */
  format(spreadsheetId: string, title: string, row: number, column: number): string | undefined {
    return this.grid(spreadsheetId, title).rows[row - 1]?.[column - 1]?.format;
  }

  // ---------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stub');
    const method = req.method ?? 'GET';
    const kind: 'read' | 'write' = method === 'GET' ? 'read' : 'write';
    const record: StubRequest = {
      method,
      path: url.pathname,
      user: undefined,
      kind,
      status: 0,
      time: Date.now(),
      bytes: 0,
    };
    // The token, metadata and IAM endpoints are other Google services: not Sheets API requests.
    const api = url.pathname.startsWith('/v4/');
    if (api) this.requests.push(record);
    let status = 200;
    let body: unknown;
    let headers: Record<string, string> = {};
    try {
      const raw = await readBody(req);
      record.bytes = Buffer.byteLength(raw);
      if (url.pathname === '/token' && method === 'POST') return this.token(raw, res);
      if (url.pathname.startsWith('/computeMetadata/')) return this.metadata(req, url, res);
      if (url.pathname.startsWith('/v1/projects/-/serviceAccounts/'))
        return this.generateAccessToken(req, url, raw, res);
      if (record.bytes > this.maxRequestBytes)
        throw new HttpError(413, `Request payload size exceeds the limit: ${this.maxRequestBytes} bytes.`);
      record.user = this.authenticate(req);
      const injected = this.injected[0];
      if (injected) {
        if (--injected.remaining <= 0) this.injected.shift();
        throw new HttpError(
          injected.status,
          injected.message,
          injected.retryAfterSeconds !== undefined
            ? { 'retry-after': String(injected.retryAfterSeconds) }
            : {},
        );
      }
      this.chargeQuota(record.user, kind);
      if (kind === 'write') for (const edit of this.beforeWrites.splice(0)) edit();
      body = this.route(method, url, raw, record.user);
    } catch (error) {
      if (error instanceof HttpError) {
        status = error.code;
        headers = error.headers;
        body = { error: { code: status, message: error.message, status: STATUS_NAMES[status] ?? 'UNKNOWN' } };
      } else if (error instanceof RangeError400) {
        status = 400;
        body = { error: { code: 400, message: error.message, status: 'INVALID_ARGUMENT' } };
      } else {
        status = 500;
        body = { error: { code: 500, message: String(error), status: 'INTERNAL' } };
      }
    }
    record.status = status;
    if (status === 200 && kind === 'write' && this.losses > 0) {
      this.losses--;
      req.socket.destroy();
      return;
    }
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.held) await new Promise<void>((resolve) => this.held?.push(resolve) ?? resolve());
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
    res.end(JSON.stringify(body));
  }

  /** OAuth 2 token endpoint, refresh-token grant (form encoded, as google-auth-library sends it). */
  private token(raw: string, res: ServerResponse): void {
    const form = new URLSearchParams(raw);
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const clientId = form.get('client_id') ?? '';
    if (form.get('grant_type') !== 'refresh_token') return send(400, { error: 'unsupported_grant_type' });
    if (
      this.oauth.clients[clientId] === undefined ||
      this.oauth.clients[clientId] !== form.get('client_secret')
    )
      return send(401, { error: 'invalid_client', error_description: 'The OAuth client was not found.' });
    const user = this.oauth.refreshTokens[form.get('refresh_token') ?? ''];
    if (!user)
      return send(400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    const access = `oauth-${Buffer.from(user).toString('base64url')}-${++this.counter}`;
    this.tokens[access] = user;
    send(200, { access_token: access, expires_in: 3599, scope: SHEETS_SCOPE, token_type: 'Bearer' });
  }

  /** The GCE metadata server: the default service account's e-mail and access tokens. */
  private metadata(req: IncomingMessage, url: URL, res: ServerResponse): void {
    const send = (status: number, body: string, type = 'application/text'): void => {
      res.writeHead(status, { 'content-type': type, 'metadata-flavor': 'Google' });
      res.end(body);
    };
    if (!this.metadataAccount) {
      req.socket.destroy();
      return;
    }
    if (req.headers['metadata-flavor'] !== 'Google')
      return send(403, 'Missing Metadata-Flavor:Google header.');
    const path = url.pathname.replace(/\/+$/, '');
    const account = '/computeMetadata/v1/instance/service-accounts/default';
    if (path === `${account}/email`) return send(200, this.metadataAccount);
    if (path === `${account}/token`) {
      const access = `metadata-${++this.counter}`;
      this.tokens[access] = this.metadataAccount;
      return send(
        200,
        JSON.stringify({ access_token: access, expires_in: 3599, token_type: 'Bearer' }),
        'application/json',
      );
    }
    if (path === '/computeMetadata/v1/universe/universe-domain') return send(200, 'googleapis.com');
    if (path === '/computeMetadata/v1/instance' || path === '/computeMetadata/v1') return send(200, '');
    if (path === '/computeMetadata/v1/project/project-id') return send(200, 'stub-project');
    send(404, 'Not Found');
  }

  /** IAM credentials `generateAccessToken`: a token for a service account the caller may impersonate. */
  private generateAccessToken(req: IncomingMessage, url: URL, raw: string, res: ServerResponse): void {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify(body));
    };
    const fail = (code: number, message: string): void =>
      send(code, { error: { code, message, status: STATUS_NAMES[code] ?? 'UNKNOWN' } });
    const m = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(url.pathname);
    if (!m || req.method !== 'POST') return fail(404, `Method not found: ${url.pathname}`);
    const target = decodeURIComponent(m[1] ?? '');
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    let caller: string | undefined;
    try {
      caller = token === undefined ? undefined : (this.tokens[token] ?? this.jwtUser(token, IAM_SCOPE));
    } catch {
      caller = undefined;
    }
    if (!caller) return fail(401, 'Request had invalid authentication credentials.');
    if (!(this.impersonation[target] ?? []).includes(caller))
      return fail(
        403,
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
      );
    const body = JSON.parse(raw || '{}') as { scope?: string[] };
    if (!(body.scope ?? []).includes(SHEETS_SCOPE)) return fail(400, 'Scope is required.');
    const access = `impersonated-${++this.counter}`;
    this.tokens[access] = target;
    send(200, { accessToken: access, expireTime: new Date(Date.now() + 3_600_000).toISOString() });
  }

  /** A self-signed service-account JWT, verified with the account's public key. */
  private jwtUser(token: string, scope = SHEETS_SCOPE): string | undefined {
    const [head, body, signature] = token.split('.');
    if (!head || !body || !signature) return undefined;
    let claims: { iss?: string; scope?: string; exp?: number };
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return undefined;
    }
    const key = claims.iss ? this.serviceAccounts[claims.iss] : undefined;
    if (!key) return undefined;
    const ok = createVerify('RSA-SHA256')
      .update(`${head}.${body}`)
      .verify(key, Buffer.from(signature, 'base64url'));
    if (!ok || !claims.exp || claims.exp * 1000 < Date.now()) return undefined;
    if (!(claims.scope ?? '').split(' ').includes(scope))
      throw new HttpError(403, 'Request had insufficient authentication scopes.');
    return claims.iss;
  }

  private authenticate(req: IncomingMessage): string {
    const header = req.headers.authorization ?? '';
    const token = /^Bearer (.+)$/.exec(header)?.[1];
    const user = token === undefined ? undefined : (this.tokens[token] ?? this.jwtUser(token));
    if (!user)
      throw new HttpError(
        401,
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      );
    return user;
  }

  private chargeQuota(user: string, kind: 'read' | 'write'): void {
    const now = Date.now();
    let u = this.usage.get(user);
    if (!u || now - u.windowStart >= this.windowMs) {
      u = { windowStart: now, reads: 0, writes: 0 };
      this.usage.set(user, u);
    }
    const limit = kind === 'write' ? this.writesPerWindow : this.readsPerWindow;
    const used = kind === 'write' ? u.writes : u.reads;
    if (used >= limit) {
      const metric = kind === 'write' ? 'Write requests' : 'Read requests';
      const retryAfter = Math.max(1, Math.ceil((u.windowStart + this.windowMs - now) / 1000));
      throw new HttpError(
        429,
        `Quota exceeded for quota metric '${metric}' and limit '${metric} per minute per user' of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'.`,
        this.retryAfterHeader ? { 'retry-after': String(retryAfter) } : {},
      );
    }
    if (kind === 'write') u.writes++;
    else u.reads++;
  }

  private book(id: string, user: string): StubSpreadsheet {
    const book = this.spreadsheets.get(id);
    if (!book) throw new HttpError(404, 'Requested entity was not found.');
    if (!book.sharedWith.has(user)) throw new HttpError(403, 'The caller does not have permission');
    return book;
  }

  private route(method: string, url: URL, raw: string, user: string): unknown {
    // /v4/spreadsheets/{id}[:batchUpdate] or /v4/spreadsheets/{id}/values/{range}[:append] or /values:batchUpdate
    const m = /^\/v4\/spreadsheets\/([^/:]+)(.*)$/.exec(url.pathname);
    if (!m) throw new HttpError(404, `Method not found: ${url.pathname}`);
    const id = decodeURIComponent(m[1] ?? '');
    const rest = m[2] ?? '';
    const book = this.book(id, user);
    const params = url.searchParams;
    const json = (): Record<string, unknown> => {
      try {
        return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        throw new HttpError(400, 'Invalid JSON payload received.');
      }
    };
    if (rest === '' && method === 'GET') return this.describe(book);
    if (rest === ':batchUpdate' && method === 'POST') return this.batchUpdate(book, json());
    if (rest === '/values:batchUpdate' && method === 'POST') {
      const body = json();
      return this.valuesBatchUpdate(book, body.valueInputOption, body.data);
    }
    const v = /^\/values\/([^:]+)(:append)?$/.exec(rest);
    if (v) {
      const range = decodeURIComponent(v[1] ?? '');
      if (v[2] && method === 'POST')
        return this.append(
          book,
          range,
          params.get('valueInputOption'),
          params.get('insertDataOption'),
          json(),
        );
      if (!v[2] && method === 'GET') return this.get(book, range, params.get('valueRenderOption'));
      if (!v[2] && method === 'PUT') {
        const r = this.valuesBatchUpdate(book, params.get('valueInputOption'), [{ ...json(), range }]);
        return r.responses[0];
      }
    }
    throw new HttpError(404, `Method not found: ${method} ${url.pathname}`);
  }

  private describe(book: StubSpreadsheet): unknown {
    return {
      spreadsheetId: book.spreadsheetId,
      properties: { title: book.title, locale: 'en_US', timeZone: 'Etc/GMT' },
      sheets: book.sheets.map((s) => ({
        properties: sheetProperties(s),
        ...(s.metadata.length > 0
          ? {
              developerMetadata: s.metadata.map((m) => ({
                ...m,
                location: { locationType: 'SHEET', sheetId: s.sheetId },
              })),
            }
          : {}),
      })),
      spreadsheetUrl: `https://docs.google.com/spreadsheets/d/${book.spreadsheetId}/edit`,
    };
  }

  private cells(book: StubSpreadsheet): number {
    return book.sheets.reduce((n, s) => n + s.rowCount * s.columnCount, 0);
  }

  private addSheet(book: StubSpreadsheet, properties: Record<string, unknown>): StubSheet {
    const title = typeof properties.title === 'string' ? properties.title : `Sheet${book.sheets.length + 1}`;
    checkTitle(book, title);
    const grid = (properties.gridProperties ?? {}) as { rowCount?: number; columnCount?: number };
    const sheet: StubSheet = {
      sheetId: typeof properties.sheetId === 'number' ? properties.sheetId : ++book.nextSheetId * 1000 + 7,
      title,
      index: book.sheets.length,
      rowCount: grid.rowCount ?? 1000,
      columnCount: grid.columnCount ?? 26,
      rows: [],
      hiddenColumns: new Set(),
      metadata: [],
    };
    if (book.sheets.some((s) => s.sheetId === sheet.sheetId))
      throw new HttpError(400, `Sheet with id ${sheet.sheetId} already exists.`);
    book.sheets.push(sheet);
    this.checkColumns(sheet);
    this.checkCells(book, 'addSheet');
    return sheet;
  }

  private checkCells(book: StubSpreadsheet, request: string): void {
    if (this.cells(book) > this.maxCells)
      throw new HttpError(
        400,
        `${request}: This action would increase the number of cells in the workbook above the limit of ${this.maxCells} cells.`,
      );
  }

  private checkColumns(sheet: StubSheet): void {
    if (sheet.columnCount > MAX_COLUMNS)
      throw new HttpError(
        400,
        `This action would increase the number of columns in the sheet "${sheet.title}" above the limit of ${MAX_COLUMNS} columns.`,
      );
  }

  /** spreadsheets.batchUpdate: all requests apply, or none (applied to a copy, kept only if all pass). */
  private batchUpdate(book: StubSpreadsheet, body: Record<string, unknown>): unknown {
    const requests = Array.isArray(body.requests) ? (body.requests as Record<string, unknown>[]) : [];
    if (requests.length === 0) throw new HttpError(400, 'Must specify at least one request.');
    // Rows are copied on first write to a sheet, so a failing request leaves the book untouched.
    const copied = new Set<StubSheet>();
    const copy: StubSpreadsheet = { ...book, sheets: book.sheets.map((s) => ({ ...s })) };
    const writable = (sheet: StubSheet): StubSheet => {
      if (!copied.has(sheet)) {
        sheet.rows = sheet.rows.map((r) => (r ? [...r] : r));
        copied.add(sheet);
      }
      return sheet;
    };
    const grid = (sheetId: number | undefined): StubSheet => {
      const sheet = copy.sheets.find((s) => s.sheetId === sheetId);
      if (!sheet) throw new HttpError(400, `No grid with id: ${sheetId}`);
      return sheet;
    };
    const replies: unknown[] = [];
    requests.forEach((request, i) => {
      const where = `Invalid requests[${i}]`;
      try {
        if (request.addSheet) {
          const props = ((request.addSheet as Record<string, unknown>).properties ?? {}) as Record<
            string,
            unknown
          >;
          const sheet = this.addSheet(copy, props);
          copied.add(sheet);
          replies.push({ addSheet: { properties: sheetProperties(sheet) } });
        } else if (request.deleteSheet) {
          const d = request.deleteSheet as { sheetId?: number };
          const sheet = grid(d.sheetId);
          if (copy.sheets.length === 1)
            throw new HttpError(400, "You can't remove all the sheets in a document.");
          copy.sheets = copy.sheets.filter((s) => s !== sheet);
          copy.sheets.forEach((s, k) => (s.index = k));
          replies.push({});
        } else if (request.updateSheetProperties) {
          const u = request.updateSheetProperties as {
            properties?: { sheetId?: number; title?: string; hidden?: boolean };
            fields?: string;
          };
          if (!u.fields) throw new HttpError(400, "At least one field must be specified in 'fields'.");
          const sheet = grid(u.properties?.sheetId);
          const fields = u.fields.split(',').map((f) => f.trim());
          for (const f of fields)
            if (f !== 'title' && f !== 'hidden')
              throw new HttpError(400, `Only title and hidden are modelled by this stub, not ${f}`);
          if (fields.includes('title')) {
            const title = u.properties?.title ?? '';
            checkTitle({ ...copy, sheets: copy.sheets.filter((s) => s !== sheet) }, title);
            sheet.title = title;
          }
          replies.push({});
        } else if (request.createDeveloperMetadata) {
          const m = (request.createDeveloperMetadata as { developerMetadata?: Record<string, unknown> })
            .developerMetadata;
          const location = m?.location as { sheetId?: number; spreadsheet?: boolean } | undefined;
          if (!m || typeof m.metadataKey !== 'string' || m.metadataKey === '')
            throw new HttpError(400, 'Developer metadata key is required.');
          if (m.visibility !== 'DOCUMENT' && m.visibility !== 'PROJECT')
            throw new HttpError(400, 'Developer metadata visibility is required.');
          if (location?.sheetId === undefined)
            throw new HttpError(400, 'Only sheet locations are modelled by this stub; location is required.');
          const sheet = grid(location.sheetId);
          const entry: StubMetadata = {
            metadataId: ++copy.nextMetadataId,
            metadataKey: m.metadataKey,
            ...(typeof m.metadataValue === 'string' ? { metadataValue: m.metadataValue } : {}),
            visibility: m.visibility,
          };
          const chars = [...sheet.metadata, entry].reduce(
            (n, e) => n + e.metadataKey.length + (e.metadataValue?.length ?? 0),
            0,
          );
          if (chars > MAX_METADATA_CHARS)
            throw new HttpError(
              400,
              `Developer metadata of the sheet would exceed ${MAX_METADATA_CHARS} characters.`,
            );
          sheet.metadata = [...sheet.metadata, entry];
          replies.push({ createDeveloperMetadata: { developerMetadata: { ...entry } } });
        } else if (request.appendDimension) {
          const a = request.appendDimension as { sheetId?: number; dimension?: string; length?: number };
          const sheet = grid(a.sheetId);
          if (!a.length || a.length < 1) throw new HttpError(400, 'length must be at least 1');
          if (a.dimension === 'ROWS') sheet.rowCount += a.length;
          else if (a.dimension === 'COLUMNS') sheet.columnCount += a.length;
          else throw new HttpError(400, `Invalid value at 'requests[${i}].append_dimension.dimension'`);
          this.checkColumns(sheet);
          this.checkCells(copy, 'appendDimension');
          replies.push({});
        } else if (request.updateDimensionProperties) {
          const u = request.updateDimensionProperties as {
            range?: { sheetId?: number; dimension?: string; startIndex?: number; endIndex?: number };
            properties?: { hiddenByUser?: boolean; pixelSize?: number };
            fields?: string;
          };
          if (!u.fields) throw new HttpError(400, "At least one field must be specified in 'fields'.");
          const sheet = grid(u.range?.sheetId);
          if (u.range?.dimension !== 'COLUMNS' && u.range?.dimension !== 'ROWS')
            throw new HttpError(
              400,
              `Invalid value at 'requests[${i}].update_dimension_properties.range.dimension'`,
            );
          const size = u.range.dimension === 'COLUMNS' ? sheet.columnCount : sheet.rowCount;
          const start = u.range.startIndex ?? 0;
          const end = u.range.endIndex ?? size;
          if (start < 0 || end > size || start >= end)
            throw new HttpError(
              400,
              `Range exceeds grid limits. Max rows: ${sheet.rowCount}, max columns: ${sheet.columnCount}`,
            );
          // Only column visibility is modelled (the sink uses nothing else); copied so a failing
          // later request leaves the book untouched.
          if (u.range.dimension === 'COLUMNS' && u.fields.split(',').includes('hiddenByUser')) {
            sheet.hiddenColumns = new Set(sheet.hiddenColumns);
            for (let c = start; c < end; c++)
              if (u.properties?.hiddenByUser) sheet.hiddenColumns.add(c);
              else sheet.hiddenColumns.delete(c);
          }
          replies.push({});
        } else if (request.repeatCell) {
          const r = request.repeatCell as {
            range?: GridRange;
            cell?: CellData;
            fields?: string;
          };
          const sheet = writable(grid(r.range?.sheetId));
          if (!r.fields) throw new HttpError(400, "At least one field must be specified in 'fields'.");
          const pattern = r.cell?.userEnteredFormat?.numberFormat?.pattern;
          const [r0, r1, c0, c1] = gridBounds(sheet, r.range ?? {});
          for (let row = r0; row < r1; row++)
            for (let c = c0; c < c1; c++) {
              const target = (sheet.rows[row] ??= []);
              const cell = target[c];
              if (pattern) target[c] = { ...(cell ?? { value: '' }), format: pattern };
            }
          replies.push({});
        } else if (request.updateCells) {
          const u = request.updateCells as {
            start?: { sheetId?: number; rowIndex?: number; columnIndex?: number };
            rows?: { values?: CellData[] }[];
            fields?: string;
          };
          if (!u.fields) throw new HttpError(400, "At least one field must be specified in 'fields'.");
          const sheet = writable(grid(u.start?.sheetId));
          const r0 = u.start?.rowIndex ?? 0;
          const c0 = u.start?.columnIndex ?? 0;
          const rows = u.rows ?? [];
          const width = Math.max(0, ...rows.map((row) => row.values?.length ?? 0));
          if (r0 + rows.length > sheet.rowCount || c0 + width > sheet.columnCount)
            throw new HttpError(
              400,
              `Range exceeds grid limits. Max rows: ${sheet.rowCount}, max columns: ${sheet.columnCount}`,
            );
          rows.forEach((row, k) => setCells(sheet, r0 + k, c0, row.values ?? []));
          replies.push({});
        } else if (request.appendCells) {
          const a = request.appendCells as {
            sheetId?: number;
            rows?: { values?: CellData[] }[];
            fields?: string;
          };
          if (!a.fields) throw new HttpError(400, "At least one field must be specified in 'fields'.");
          const sheet = writable(grid(a.sheetId));
          const rows = a.rows ?? [];
          const width = Math.max(0, ...rows.map((row) => row.values?.length ?? 0));
          if (width > sheet.columnCount)
            throw new HttpError(
              400,
              `Range exceeds grid limits. Max rows: ${sheet.rowCount}, max columns: ${sheet.columnCount}`,
            );
          // After the last row with data, inserting rows into the grid if necessary.
          const r0 = lastRowWithData(sheet);
          const grow = r0 + rows.length - sheet.rowCount;
          if (grow > 0) {
            sheet.rowCount += grow;
            this.checkCells(copy, 'appendCells');
          }
          rows.forEach((row, k) => setCells(sheet, r0 + k, 0, row.values ?? []));
          replies.push({});
        } else {
          throw new HttpError(400, `Unsupported request: ${Object.keys(request).join(', ')}`);
        }
      } catch (error) {
        if (error instanceof HttpError)
          throw new HttpError(error.code, `${where}.${firstKey(request)}: ${error.message}`);
        throw error;
      }
    });
    book.sheets = copy.sheets;
    book.nextSheetId = copy.nextSheetId;
    book.nextMetadataId = copy.nextMetadataId;
    return { spreadsheetId: book.spreadsheetId, replies };
  }

  /** A bare tab title (`Sheet1` also reads as a cell reference) names the whole tab, as in Google. */
  private parse(book: StubSpreadsheet, text: string): ParsedRange {
    if (!text.includes('!') && book.sheets.some((s) => s.title === text))
      return {
        sheet: text,
        startRow: undefined,
        startColumn: undefined,
        endRow: undefined,
        endColumn: undefined,
      };
    return parseRange(text);
  }

  private resolveSheet(book: StubSpreadsheet, range: ParsedRange, text: string): StubSheet {
    const sheet =
      range.sheet === undefined ? book.sheets[0] : book.sheets.find((s) => s.title === range.sheet);
    if (!sheet) throw new HttpError(400, `Unable to parse range: ${text}`);
    return sheet;
  }

  private get(book: StubSpreadsheet, text: string, render: string | null): unknown {
    const range = this.parse(book, text);
    const sheet = this.resolveSheet(book, range, text);
    const r0 = (range.startRow ?? 1) - 1;
    const c0 = (range.startColumn ?? 1) - 1;
    const r1 = Math.min(range.endRow ?? sheet.rowCount, sheet.rowCount);
    const c1 = Math.min(range.endColumn ?? sheet.columnCount, sheet.columnCount);
    const out: (StubValue | '')[][] = [];
    for (let r = r0; r < r1; r++) {
      const row: (StubValue | '')[] = [];
      for (let c = c0; c < c1; c++) {
        const cell = sheet.rows[r]?.[c];
        row.push(
          cell === undefined
            ? ''
            : render === 'FORMULA' && cell.formula
              ? cell.formula
              : rendered(cell, render),
        );
      }
      out.push(row);
    }
    const values = trimRows(out.map((row) => row.map((v) => (v === '' ? null : v)))).map((row) =>
      row.map((v) => v ?? ''),
    );
    const endRow = range.endRow ?? r0 + Math.max(values.length, 1);
    const endCol = range.endColumn ?? c0 + Math.max(1, ...values.map((r) => r.length));
    const result: Record<string, unknown> = {
      range: `${quoteSheet(sheet.title)}!${columnLetters(c0 + 1)}${r0 + 1}:${columnLetters(endCol)}${endRow}`,
      majorDimension: 'ROWS',
    };
    if (values.length > 0) result.values = values;
    return result;
  }

  private valuesBatchUpdate(
    book: StubSpreadsheet,
    valueInputOption: unknown,
    data: unknown,
  ): { responses: Record<string, unknown>[] } & Record<string, unknown> {
    const option = checkInputOption(valueInputOption);
    if (!Array.isArray(data)) throw new HttpError(400, "Invalid value at 'data'");
    const plans = (data as { range?: string; values?: unknown[][]; majorDimension?: string }[]).map((d) => {
      if (typeof d.range !== 'string') throw new HttpError(400, "Invalid data[0]: 'range' is required");
      if (d.majorDimension && d.majorDimension !== 'ROWS')
        throw new HttpError(400, 'Only majorDimension ROWS is supported by this stub.');
      const range = this.parse(book, d.range);
      const sheet = this.resolveSheet(book, range, d.range);
      const values = d.values ?? [];
      const r0 = (range.startRow ?? 1) - 1;
      const c0 = (range.startColumn ?? 1) - 1;
      const width = Math.max(0, ...values.map((row) => (Array.isArray(row) ? row.length : 0)));
      if (range.endRow !== undefined && r0 + values.length > range.endRow)
        throw new HttpError(
          400,
          `Requested writing within range [${d.range}], but tried writing to row [${r0 + values.length}]`,
        );
      if (range.endColumn !== undefined && c0 + width > range.endColumn)
        throw new HttpError(
          400,
          `Requested writing within range [${d.range}], but tried writing to column [${columnLetters(c0 + width)}]`,
        );
      if (r0 + values.length > sheet.rowCount || c0 + width > sheet.columnCount)
        throw new HttpError(
          400,
          `Range (${d.range}) exceeds grid limits. Max rows: ${sheet.rowCount}, max columns: ${sheet.columnCount}`,
        );
      return { sheet, r0, c0, values, width, text: d.range };
    });
    const responses = plans.map((p) => {
      const cells = writeCells(p.sheet, p.r0, p.c0, p.values, option);
      return {
        spreadsheetId: book.spreadsheetId,
        updatedRange: `${quoteSheet(p.sheet.title)}!${columnLetters(p.c0 + 1)}${p.r0 + 1}:${columnLetters(p.c0 + Math.max(p.width, 1))}${p.r0 + Math.max(p.values.length, 1)}`,
        updatedRows: p.values.length,
        updatedColumns: p.width,
        updatedCells: cells,
      };
    });
    return {
      spreadsheetId: book.spreadsheetId,
      totalUpdatedRows: responses.reduce((n, r) => n + r.updatedRows, 0),
      totalUpdatedColumns: Math.max(0, ...responses.map((r) => r.updatedColumns)),
      totalUpdatedCells: responses.reduce((n, r) => n + r.updatedCells, 0),
      totalUpdatedSheets: new Set(plans.map((p) => p.sheet.sheetId)).size,
      responses,
    };
  }

  /**
   * values.append: finds the table at the range (the first rows with data at or below the range's
   * first row, up to the next empty row) and writes after its last row, from the range's first
   * column. INSERT_ROWS inserts new rows there (the rows below move down); OVERWRITE writes over
   * what is there. Either way the grid grows when the data reaches past its end (Google: "adding
   * data to the end of the sheet will still insert new rows or columns").
   */
  private append(
    book: StubSpreadsheet,
    text: string,
    valueInputOption: string | null,
    insertDataOption: string | null,
    body: Record<string, unknown>,
  ): unknown {
    const option = checkInputOption(valueInputOption);
    const insert = insertDataOption ?? 'OVERWRITE';
    if (insert !== 'OVERWRITE' && insert !== 'INSERT_ROWS')
      throw new HttpError(400, `Invalid value at 'insert_data_option' (${insert})`);
    const range = this.parse(book, text);
    const sheet = this.resolveSheet(book, range, text);
    const values = (Array.isArray(body.values) ? body.values : []) as unknown[][];
    const c0 = (range.startColumn ?? 1) - 1;
    const width = Math.max(0, ...values.map((r) => r.length));
    const hasData = (i: number): boolean => (sheet.rows[i] ?? []).some((c) => c !== undefined);
    let first = (range.startRow ?? 1) - 1;
    const end = Math.max(sheet.rows.length, first);
    while (first < end && !hasData(first)) first++;
    let last = first;
    while (last < sheet.rows.length && hasData(last)) last++;
    const found = first < sheet.rows.length;
    const r0 = found ? last : (range.startRow ?? 1) - 1;
    const before = [sheet.rowCount, sheet.columnCount, sheet.rows] as const;
    if (insert === 'INSERT_ROWS' && r0 < sheet.rows.length) {
      sheet.rows = [...sheet.rows];
      sheet.rows.splice(r0, 0, ...Array.from({ length: values.length }, () => []));
      sheet.rowCount += values.length;
    }
    sheet.rowCount = Math.max(sheet.rowCount, r0 + values.length);
    sheet.columnCount = Math.max(sheet.columnCount, c0 + width);
    let cells: number;
    try {
      this.checkColumns(sheet);
      this.checkCells(book, 'append');
      cells = writeCells(sheet, r0, c0, values, option);
    } catch (error) {
      [sheet.rowCount, sheet.columnCount, sheet.rows] = before;
      throw error;
    }
    return {
      spreadsheetId: book.spreadsheetId,
      ...(found
        ? {
            tableRange: `${quoteSheet(sheet.title)}!${columnLetters(c0 + 1)}${first + 1}:${columnLetters(c0 + Math.max(width, 1))}${last}`,
          }
        : {}),
      updates: {
        spreadsheetId: book.spreadsheetId,
        updatedRange: `${quoteSheet(sheet.title)}!${columnLetters(c0 + 1)}${r0 + 1}:${columnLetters(c0 + Math.max(width, 1))}${r0 + Math.max(values.length, 1)}`,
        updatedRows: values.length,
        updatedColumns: width,
        updatedCells: cells,
      },
    };
  }
}

interface GridRange {
  sheetId?: number;
  startRowIndex?: number;
  endRowIndex?: number;
  startColumnIndex?: number;
  endColumnIndex?: number;
}

interface CellData {
  userEnteredValue?: {
    stringValue?: string;
    numberValue?: number;
    boolValue?: boolean;
    formulaValue?: string;
  };
  userEnteredFormat?: { numberFormat?: { type?: string; pattern?: string } };
}

/** [row0, row1, col0, col1) of a GridRange; open ends reach the end of the grid. */
function gridBounds(sheet: StubSheet, range: GridRange): [number, number, number, number] {
  const r1 = range.endRowIndex ?? sheet.rowCount;
  const c1 = range.endColumnIndex ?? sheet.columnCount;
  if (r1 > sheet.rowCount || c1 > sheet.columnCount)
    throw new HttpError(
      400,
      `Range exceeds grid limits. Max rows: ${sheet.rowCount}, max columns: ${sheet.columnCount}`,
    );
  return [range.startRowIndex ?? 0, r1, range.startColumnIndex ?? 0, c1];
}

/** Index after the last row that has a value (0 for an empty sheet). */
function lastRowWithData(sheet: StubSheet): number {
  for (let i = sheet.rows.length - 1; i >= 0; i--)
    if ((sheet.rows[i] ?? []).some((c) => c !== undefined)) return i + 1;
  return 0;
}

/** Writes CellData (values and number formats) into a row; an empty CellData clears the cell. */
function setCells(sheet: StubSheet, r: number, c0: number, cells: CellData[]): void {
  const target = (sheet.rows[r] ??= []);
  cells.forEach((cell, j) => {
    const v = cell.userEnteredValue;
    const format = cell.userEnteredFormat?.numberFormat?.pattern;
    let out: StubCell | undefined;
    if (v?.formulaValue !== undefined)
      out = { value: `#FORMULA(${v.formulaValue.slice(1)})`, formula: v.formulaValue };
    else if (v?.stringValue !== undefined) out = { value: v.stringValue };
    else if (v?.numberValue !== undefined) {
      if (!Number.isFinite(v.numberValue))
        throw new HttpError(400, `Invalid value at 'numberValue' (${v.numberValue})`);
      out = { value: v.numberValue };
    } else if (v?.boolValue !== undefined) out = { value: v.boolValue };
    if (out && format) out.format = format;
    if (typeof out?.value === 'string' && out.value.length > 50_000)
      throw new HttpError(
        400,
        'Your input contains more than the maximum of 50000 characters in a single cell.',
      );
    target[c0 + j] = out;
  });
}

/**
 * Google's rules for a sheet title: not empty (nor only spaces), at most 100 characters, unique in
 * the spreadsheet without regard to case.
 */
function checkTitle(book: Pick<StubSpreadsheet, 'sheets'>, title: string): void {
  if (title.trim() === '') throw new HttpError(400, 'The sheet name can not be empty.');
  if (title.length > MAX_TITLE)
    throw new HttpError(400, `The sheet name can not be longer than ${MAX_TITLE} characters.`);
  if (book.sheets.some((s) => s.title.toLowerCase() === title.toLowerCase()))
    throw new HttpError(400, `A sheet with the name "${title}" already exists. Please enter another name.`);
}

function firstKey(o: Record<string, unknown>): string {
  const k = Object.keys(o)[0] ?? '';
  return k;
}

function checkInputOption(option: unknown): 'RAW' | 'USER_ENTERED' {
  if (option === undefined || option === null || option === '')
    throw new HttpError(400, "'valueInputOption' is required but not specified");
  if (option !== 'RAW' && option !== 'USER_ENTERED')
    throw new HttpError(400, `Invalid value at 'value_input_option' (${String(option)})`);
  return option;
}

function sheetProperties(s: StubSheet): Record<string, unknown> {
  return {
    sheetId: s.sheetId,
    title: s.title,
    index: s.index,
    sheetType: 'GRID',
    gridProperties: { rowCount: s.rowCount, columnCount: s.columnCount },
  };
}

/** How USER_ENTERED reads typed text: numbers, booleans, formulas, a leading apostrophe keeps text. */
function parseEntered(value: StubValue): StubCell {
  if (typeof value !== 'string') return { value };
  if (value.startsWith("'")) return { value: value.slice(1) };
  if (value.startsWith('=')) return { value: `#FORMULA(${value.slice(1)})`, formula: value };
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value.trim())) return { value: Number(value) };
  if (/^(true|false)$/i.test(value)) return { value: value.toLowerCase() === 'true' };
  return { value };
}

function writeCells(
  sheet: StubSheet,
  r0: number,
  c0: number,
  values: unknown[][],
  option: 'RAW' | 'USER_ENTERED',
): number {
  let cells = 0;
  values.forEach((row, i) => {
    const target = (sheet.rows[r0 + i] ??= []);
    (Array.isArray(row) ? row : []).forEach((v, j) => {
      // null leaves a cell as it is (Sheets' rule for JSON null); "" clears it.
      if (v === null || v === undefined) return;
      if (typeof v === 'object') throw new HttpError(400, `Invalid values[${i}][${j}]: ${JSON.stringify(v)}`);
      const value = v as StubValue;
      if (typeof value === 'string' && value.length > 50_000)
        throw new HttpError(
          400,
          'Your input contains more than the maximum of 50000 characters in a single cell.',
        );
      const format = target[c0 + j]?.format;
      const cell = value === '' ? undefined : option === 'RAW' ? { value } : parseEntered(value);
      // A value written over a formatted cell keeps the cell's format.
      target[c0 + j] = cell && format ? { ...cell, format } : cell;
      cells++;
    });
  });
  return cells;
}

function rendered(cell: StubCell, render: string | null): StubValue {
  if (render === 'UNFORMATTED_VALUE' || render === 'FORMULA') return cell.value;
  if (typeof cell.value === 'boolean') return cell.value ? 'TRUE' : 'FALSE';
  return String(cell.value);
}

function trimRows<T>(rows: (T | null)[][]): (T | null)[][] {
  const out = rows.map((row) => {
    let end = row.length;
    while (end > 0 && (row[end - 1] === null || row[end - 1] === undefined)) end--;
    return row.slice(0, end).map((v) => (v === undefined ? null : v));
  });
  let last = out.length;
  while (last > 0 && out[last - 1]?.length === 0) last--;
  return out.slice(0, last);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
