import { readFile } from 'node:fs/promises';
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type AgentOptions } from 'node:https';
import type { z } from 'zod';
import { NotConnectedError, errorMessage, type tlsOptions } from '../../src/sdk/index.js';

/** What InfluxDB answered: any status, the body as text. */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** No answer within the sink's `timeout`. */
// Internal: the source and sink turn it into a RetryableError that names the endpoint.
export class HttpTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'HttpTimeoutError';
  }
}

/** Bodies of error answers are short JSON; a proxy's HTML page is cut here. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * One keep-alive connection pool to the InfluxDB HTTP API (plain node:http / node:https: the
 * three write APIs are one POST each, and the TLS options are the sink's own).
 */
export class HttpClient {
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly https: boolean;
  private readonly basePath: string;

  constructor(
    private readonly base: URL,
    tls: AgentOptions,
    private readonly timeoutMs: number,
  ) {
    this.https = base.protocol === 'https:';
    this.basePath = base.pathname.replace(/\/$/, '');
    this.agent = this.https
      ? new HttpsAgent({ keepAlive: true, maxSockets: 8, ...tls })
      : new HttpAgent({ keepAlive: true, maxSockets: 8 });
  }

  async post(
    path: string,
    query: Record<string, string>,
    headers: Record<string, string>,
    body: string | Buffer,
    signal: AbortSignal,
  ): Promise<HttpAnswer> {
    try {
      return await this.once(path, query, headers, body, signal);
    } catch (error) {
      // A kept-alive connection the server closed while idle fails on reuse: once more on a new one
      // (the Node.js documentation's advice; a write is idempotent).
      const code = (error as { code?: unknown }).code;
      if ((error as { reusedSocket?: boolean }).reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE'))
        return this.once(path, query, headers, body, signal);
      throw error;
    }
  }

  private async once(
    path: string,
    query: Record<string, string>,
    headers: Record<string, string>,
    body: string | Buffer,
    signal: AbortSignal,
  ): Promise<HttpAnswer> {
    const res = await this.open('POST', path, query, headers, body, signal);
    return new Promise<HttpAnswer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_ANSWER_BYTES) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
  }

  /**
   * One request; resolves with the response as a stream once its head is in (the query source reads
   * large results chunk by chunk). The `timeout` applies to socket inactivity. Headers given
   * override the defaults (content type).
   */
  open(
    method: 'GET' | 'POST',
    path: string,
    query: Record<string, string>,
    headers: Record<string, string>,
    body: string | Buffer,
    signal: AbortSignal,
  ): Promise<IncomingMessage> {
    const search = new URLSearchParams(query).toString();
    const request = this.https ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason as Error);
      const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      const req = request(
        {
          agent: this.agent,
          protocol: this.base.protocol,
          hostname: this.base.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: this.base.port || (this.https ? 443 : 80),
          method,
          path: `${this.basePath}${path}${search ? `?${search}` : ''}`,
          headers: {
            'content-type': 'text/plain; charset=utf-8',
            accept: 'application/json',
            ...headers,
            'content-length': String(payload.length),
          },
          signal,
          timeout: this.timeoutMs,
        },
        resolve,
      );
      req.on('timeout', () => req.destroy(new HttpTimeoutError(this.timeoutMs)));
      req.on('error', (error: Error & { reusedSocket?: boolean }) => {
        error.reusedSocket = req.reusedSocket;
        reject(error);
      });
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Node's TLS options from a `tls` config: the PEM files read (unreadable: NotConnectedError, as a connect failure). */
export async function agentTlsOptions(config: {
  url: string;
  tls?: z.output<typeof tlsOptions>;
}): Promise<AgentOptions> {
  const tls = config.tls;
  if (!tls || !config.url.startsWith('https:')) return {};
  const read = async (what: string, path: string | undefined): Promise<Buffer | undefined> => {
    if (!path) return undefined;
    try {
      return await readFile(path);
    } catch (error) {
      throw new NotConnectedError(`tls.${what}: can not read ${path}: ${errorMessage(error)}`);
    }
  };
  const [ca, cert, key] = await Promise.all([
    read('ca', tls.ca),
    read('cert', tls.cert),
    read('key', tls.key),
  ]);
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(tls.passphrase ? { passphrase: tls.passphrase } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}
