import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import type * as Opcua from 'node-opcua';
import {
  NotConnectedError,
  backoffDelay,
  errorMessage,
  redact,
  sleep,
  type ComponentContext,
  type ComponentCounter,
  type ComponentGauge,
  type Logger,
} from '../../src/sdk/index.js';
import type { OpcuaConnectionConfig } from './spec.js';

export type Lib = typeof Opcua;

let loading: Promise<Lib> | undefined;

/**
 * node-opcua notices that say nothing to an operator, kept off stderr: W27 (Node 20 cannot decrypt
 * RSA PKCS#1 v1.5, used only by the deprecated policies passerelle refuses) and the one-time
 * creation of a self-signed client certificate.
 */
export const OPCUA_NOISE = /NODE-OPCUA-W27|CVE-2023-46809|Creating default certificate/;

/**
 * node-opcua's own output (a dozen lines per refused connection, certificates in base64) is
 * process-wide: it goes to the logger of an open OPC UA connection at debug level, and to stderr
 * only when none is open (`passerelle simulate`). Never to stdout, where the log sink writes JSON.
 */
const outputLoggers = new Set<Logger>();

function routeOutput(level: 'warning' | 'error' | 'debug') {
  return (_context?: unknown, ...args: unknown[]): void => {
    const text = format(...args);
    const [logger] = outputLoggers;
    if (logger) logger.debug({ nodeOpcua: level }, `node-opcua: ${text}`);
    else if (level !== 'debug' && !OPCUA_NOISE.test(text)) process.stderr.write(`node-opcua: ${text}\n`);
  };
}

/** Set before node-opcua loads, as it warns while loading (NODE-OPCUA-W27 on Node 20). */
async function routeNodeOpcuaOutput(): Promise<void> {
  const debug = await import('node-opcua-debug');
  debug.setWarningLogger(routeOutput('warning'));
  debug.setErrorLogger(routeOutput('error'));
  debug.setDebugLogger(routeOutput('debug'));
}

/** node-opcua takes ~0.9 s to load: only the commands that talk OPC UA pay for it. */
export function loadOpcua(): Promise<Lib> {
  loading ??= (async () => {
    await routeNodeOpcuaOutput();
    return import('node-opcua');
  })();
  return loading;
}

let loadingClient: Promise<Lib> | undefined;

/**
 * The client side only (node-opcua-client and its certificate manager), for the source and the
 * sink: the whole node-opcua also loads the server, its address space and the standard nodeset,
 * about 20 MB more per process for nothing. Typed as the whole package: client-load.test.ts checks
 * that every name the client code takes from it is there. The simulator loads the whole package.
 */
export function loadOpcuaClient(): Promise<Lib> {
  // Already loaded whole (the simulator in the same process): no second copy.
  if (loading) return loading;
  loadingClient ??= (async () => {
    await routeNodeOpcuaOutput();
    const [client, certificates] = await Promise.all([
      import('node-opcua-client'),
      import('node-opcua-certificate-manager'),
    ]);
    return { ...client, OPCUACertificateManager: certificates.OPCUACertificateManager } as unknown as Lib;
  })();
  return loadingClient;
}

/** The default PKI folder of a client identity: one per application name (the certificate is bound to it). */
export function defaultPkiFolder(applicationName: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'passerelle', 'opcua-pki', applicationName);
}

export function sha1Fingerprint(der: Buffer): string {
  return createHash('sha1').update(der).digest('hex');
}

/** Colon-separated upper-case, as openssl prints it. */
export function formatFingerprint(hex: string): string {
  return hex.toUpperCase().match(/../g)?.join(':') ?? hex;
}

/** A PEM or DER certificate file, as DER. */
export function readCertificateDer(path: string): Buffer {
  const raw = readFileSync(path);
  try {
    return Buffer.from(new X509Certificate(raw).raw);
  } catch (error) {
    throw new Error(`${path} is not a PEM or DER certificate: ${errorMessage(error)}`, { cause: error });
  }
}

type CertificateManager = Opcua.OPCUACertificateManager;

interface TrustStore {
  manager: CertificateManager;
  fingerprints: Set<string>;
  /** The last server certificate refused as untrusted: SHA-1 hex. */
  lastRejected?: string;
  folder: string;
}

const stores = new Map<string, Promise<TrustStore>>();

/**
 * One certificate manager per PKI folder in the process (node-opcua watches the folder). It never
 * trusts an unknown certificate, except those whose SHA-1 fingerprint was configured: these are
 * added to trusted/ when the server presents them.
 */
function trustStore(lib: Lib, folder: string): Promise<TrustStore> {
  let store = stores.get(folder);
  if (!store) {
    store = (async () => {
      const holder: { store?: TrustStore } = {};
      class FingerprintTrustingManager extends lib.OPCUACertificateManager {
        override async verifyCertificate(
          certificate: Buffer,
          options?: Parameters<CertificateManager['verifyCertificate']>[1],
        ): ReturnType<CertificateManager['verifyCertificate']> {
          const s = holder.store;
          const first = lib.extractFirstCertificateInChain(certificate);
          const fingerprint = first ? sha1Fingerprint(first) : undefined;
          if (s && first && fingerprint && s.fingerprints.has(fingerprint)) {
            const status = await super.verifyCertificate(certificate, options);
            if (String(status) !== 'BadCertificateUntrusted') return status;
            await this.trustCertificate(first);
          }
          const status = await super.verifyCertificate(certificate, options);
          if (s && fingerprint && String(status) === 'BadCertificateUntrusted') s.lastRejected = fingerprint;
          return status;
        }
      }
      const manager = new FingerprintTrustingManager({
        rootFolder: folder,
        automaticallyAcceptUnknownCertificate: false,
        keySize: 2048,
        name: 'PKI',
      });
      await manager.initialize();
      const s: TrustStore = { manager, fingerprints: new Set(), folder };
      holder.store = s;
      return s;
    })();
    stores.set(folder, store);
    store.catch(() => stores.delete(folder));
  }
  return store;
}

/** The status code a server answered a refused channel with, when node-opcua's message carries it. */
function serverRefusal(text: string): string | undefined {
  return /\b(Bad(?:SecurityPolicyRejected|SecurityChecksFailed|SecurityModeRejected|CertificateUntrusted|CertificateInvalid|CertificateUriInvalid|CertificateTimeInvalid|CertificateRevoked|CertificateUseNotAllowed|CertificateHostNameInvalid|NonceInvalid|TcpEndpointUrlInvalid|TcpServerTooBusy|TooManySessions|ServerHalted|RequestTypeInvalid|ProtocolVersionUnsupported))\b/.exec(
    text,
  )?.[1];
}

function hint(refusal: string, secure: boolean): string {
  if (refusal === 'BadSecurityPolicyRejected')
    return secure
      ? ': the server offers no endpoint with this mode and policy; pick one from its endpoint list'
      : ': the server offers no None channel; use securityMode Sign or SignAndEncrypt and give its certificate in trustedServerCertificates';
  if (refusal === 'BadSecurityChecksFailed' || refusal.startsWith('BadCertificate'))
    return ": the server does not trust passerelle's certificate: trust it on the server (it is in its rejected list)";
  return '';
}

/** node-opcua's messages span lines and repeat themselves: one line for ours. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * The server certificates known before connecting, to open the secure channel without discovery:
 * the non-CA files of trustedServerCertificates, then the certificates in trusted/ and rejected/
 * whose fingerprint is configured. Those valid now first, newest first.
 */
async function knownServerCertificates(
  lib: Lib,
  store: TrustStore,
  config: OpcuaConnectionConfig,
  trustedFiles: Buffer[],
): Promise<Buffer[]> {
  const found = new Map<string, Buffer>();
  const add = (der: Buffer): void => {
    try {
      if (new X509Certificate(der).ca) return; // an issuer, not the server
    } catch {
      return;
    }
    found.set(sha1Fingerprint(der), der);
  };
  for (const der of trustedFiles) add(der);
  const wanted = new Set(config.trustedServerFingerprints.map((f) => f.replace(/:/g, '').toLowerCase()));
  if (wanted.size > 0) {
    for (const dir of [join(store.folder, 'trusted', 'certs'), join(store.folder, 'rejected')]) {
      let files: string[];
      try {
        files = await readdir(dir);
      } catch {
        continue;
      }
      for (const file of files) {
        let der: Buffer;
        try {
          der = readCertificateDer(join(dir, file));
        } catch {
          continue;
        }
        if (!wanted.has(sha1Fingerprint(der)) || found.has(sha1Fingerprint(der))) continue;
        // It is trusted by its fingerprint: node-opcua checks it against trusted/ on the channel.
        const status = await store.manager.getTrustStatus(der);
        if (!status.equals(lib.StatusCodes.Good)) await store.manager.trustCertificate(der);
        add(der);
      }
    }
  }
  const now = Date.now();
  const score = (der: Buffer): [number, number] => {
    const c = new X509Certificate(der);
    const from = Date.parse(c.validFrom);
    const valid = from <= now && now <= Date.parse(c.validTo) ? 1 : 0;
    return [valid, from];
  };
  return [...found.values()].sort((x, y) => {
    const [vx, fx] = score(x);
    const [vy, fy] = score(y);
    return vy - vx || fy - fx;
  });
}

/** The user identity for createSession. */
function userIdentity(lib: Lib, config: OpcuaConnectionConfig): Opcua.UserIdentityInfo {
  if (config.username !== undefined && config.password !== undefined)
    return { type: lib.UserTokenType.UserName, userName: config.username, password: config.password };
  if (config.userCertificate !== undefined && config.userPrivateKey !== undefined) {
    let certificateData: Buffer;
    let privateKey: string;
    try {
      certificateData = readCertificateDer(config.userCertificate);
      privateKey = readFileSync(config.userPrivateKey, 'utf8');
    } catch (error) {
      throw new Error(`user certificate: ${errorMessage(error)}`, { cause: error });
    }
    return { type: lib.UserTokenType.Certificate, certificateData, privateKey };
  }
  return { type: lib.UserTokenType.Anonymous };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One live client + session; replaced as a whole on every reconnection. */
export interface OpcuaSession {
  readonly lib: Lib;
  readonly client: Opcua.OPCUAClient;
  readonly session: Opcua.ClientSession;
  /** The server's namespace array, read at this connect. */
  readonly namespaces: string[];
  /** Increases with every new session; work bound to an older one stops. */
  readonly generation: number;
}

export interface ConnectionHooks {
  /**
   * Sets up the work on a new session (subscription, poll timer, caches). Throwing fails this
   * connection attempt. The returned function undoes it when the session goes away.
   */
  onSession?(s: OpcuaSession): Promise<(() => void) | void>;
  /** Ask node-opcua to read periodically so a dead session is noticed without traffic. */
  keepSessionAlive?: boolean;
}

interface Metrics {
  connected: ComponentGauge;
  reconnects: ComponentCounter;
  outage: ComponentCounter;
}

function metricsOf(ctx: ComponentContext): Metrics {
  return {
    connected: ctx.metrics.gauge('passerelle_opcua_connected', '1 while an OPC UA session is open.'),
    reconnects: ctx.metrics.counter(
      'passerelle_opcua_reconnects_total',
      'OPC UA sessions lost and reopened, by the reason they were lost.',
      ['reason'],
    ),
    outage: ctx.metrics.counter(
      'passerelle_opcua_disconnected_seconds_total',
      'Seconds without an OPC UA session after one was lost (the gap in the data).',
    ),
  };
}

/**
 * A connection to an OPC UA server that never gives up: the first attempt is the caller's (the
 * engine retries `connect()` with backoff); once connected, any loss (connection closed, session
 * closed, subscription terminated, watchdog) throws the client away and opens a new one with
 * backoff, re-resolving everything. node-opcua's own reconnection is off (maxRetry 0): after a
 * restart the server may number its namespaces differently, and recreated items would then
 * point at the wrong nodes.
 */
export class OpcuaConnection {
  readonly where: string;
  current: OpcuaSession | undefined;
  lastError: Error | undefined;
  private generation = 0;
  private undo: (() => void) | undefined;
  private closing = false;
  private reconnecting: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private readonly metrics: Metrics;
  private lostAt: number | undefined;
  private readonly output: Logger;

  constructor(
    private readonly config: OpcuaConnectionConfig,
    private readonly ctx: ComponentContext,
    private readonly hooks: ConnectionHooks = {},
  ) {
    this.where = config.url;
    this.metrics = metricsOf(ctx);
    this.output = ctx.logger.child({ endpoint: config.url });
    outputLoggers.add(this.output);
  }

  get pkiFolder(): string {
    return this.config.pkiFolder ?? defaultPkiFolder(this.config.applicationName);
  }

  /**
   * The first connection. The first failure rejects with a readable NotConnectedError (the engine
   * logs it and calls again); with `keepTrying` (the owner's later calls) it retries itself with
   * reconnectDelay .. reconnectMaxDelay until it succeeds or the signal aborts, as after a loss:
   * the engine's own backoff (0.5 s doubling to 30 s) knows nothing of reconnectMaxDelay.
   */
  async open(signal: AbortSignal, keepTrying = false): Promise<void> {
    this.ctx.setState('connecting');
    for (let attempt = 0; ; attempt++) {
      try {
        await this.attempt(signal);
        break;
      } catch (error) {
        this.lastError = error as Error;
        if (!keepTrying || signal.aborted || this.closing) throw error;
        const delay = backoffDelay(attempt, this.config.reconnectDelay, this.config.reconnectMaxDelay);
        this.ctx.logger.warn(
          { endpoint: this.where, attempt: attempt + 2, delayMs: delay, err: redact(errorMessage(error)) },
          'OPC UA connection failed, retrying',
        );
        this.ctx.setState('reconnecting', this.lastError);
        await sleep(delay, AbortSignal.any([signal, this.abort.signal]));
        if (signal.aborted || this.closing) throw error;
      }
    }
    this.lastError = undefined;
    this.ctx.setState('connected');
  }

  notConnected(): NotConnectedError {
    return new NotConnectedError(
      `not connected to ${this.where}${this.lastError ? ` (${this.lastError.message})` : ''}`,
    );
  }

  /**
   * The session `generation` is lost: close it and reconnect in the background. Later calls for
   * the same generation (several events for one loss) do nothing.
   */
  lost(generation: number, reason: string, error?: unknown): void {
    if (this.closing || generation !== this.generation || !this.current) return;
    const detail = error === undefined ? reason : `${reason}: ${redact(errorMessage(error))}`;
    this.lastError = new NotConnectedError(`${this.where}: ${detail}`);
    this.ctx.logger.warn({ endpoint: this.where, reason: detail }, 'OPC UA session lost, reconnecting');
    this.metrics.reconnects.inc({ reason });
    this.metrics.connected.set(undefined, 0);
    this.lostAt = Date.now();
    this.ctx.setState('reconnecting', this.lastError);
    const old = this.current;
    this.current = undefined;
    this.generation++;
    void this.dispose(old);
    this.reconnecting = this.reconnectLoop();
  }

  async close(): Promise<void> {
    this.closing = true;
    outputLoggers.delete(this.output);
    this.abort.abort();
    const old = this.current;
    this.current = undefined;
    this.generation++;
    await this.reconnecting?.catch(() => {});
    if (old) await this.dispose(old);
    this.metrics.connected.set(undefined, 0);
  }

  private async reconnectLoop(): Promise<void> {
    const signal = this.abort.signal;
    for (let attempt = 0; !signal.aborted; attempt++) {
      await sleep(backoffDelay(attempt, this.config.reconnectDelay, this.config.reconnectMaxDelay), signal);
      if (signal.aborted) return;
      try {
        await this.attempt(signal);
        if (this.lostAt !== undefined) this.metrics.outage.inc(undefined, (Date.now() - this.lostAt) / 1000);
        this.lostAt = undefined;
        this.lastError = undefined;
        this.ctx.logger.info({ endpoint: this.where, attempts: attempt + 1 }, 'OPC UA session reopened');
        this.ctx.setState('connected');
        return;
      } catch (error) {
        this.lastError = error as Error;
        this.ctx.logger.warn(
          { endpoint: this.where, attempt: attempt + 1, err: redact(errorMessage(error)) },
          'OPC UA reconnection failed, retrying',
        );
        this.ctx.setState('reconnecting', this.lastError);
      }
    }
  }

  /** One connection attempt: channel, session, namespaces, then the caller's setup. */
  private async attempt(signal: AbortSignal): Promise<void> {
    const { config } = this;
    const lib = await loadOpcuaClient();
    if (signal.aborted) throw new NotConnectedError(`connecting to ${this.where} aborted`);
    const store = await trustStore(lib, this.pkiFolder);
    for (const f of config.trustedServerFingerprints)
      store.fingerprints.add(f.replace(/:/g, '').toLowerCase());
    const trustedFiles: Buffer[] = [];
    for (const path of config.trustedServerCertificates) {
      let der: Buffer;
      try {
        der = readCertificateDer(path);
      } catch (error) {
        throw new NotConnectedError(`trustedServerCertificates: ${errorMessage(error)}`);
      }
      trustedFiles.push(der);
      // Trusting moves a file out of rejected/ (where a user may have pointed at it): read first.
      const status = await store.manager.getTrustStatus(der);
      if (!status.equals(lib.StatusCodes.Good)) await store.manager.trustCertificate(der);
    }
    const policy = config.securityPolicy ?? (config.securityMode === 'None' ? 'None' : 'Basic256Sha256');
    const generation = ++this.generation;
    const client = await this.openChannel(lib, store, policy, signal, trustedFiles);
    let session: Opcua.ClientSession | undefined;
    const onAbort = (): void => void client.disconnect().catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      try {
        session = await withTimeout(
          client.createSession(userIdentity(lib, config)),
          config.connectTimeout,
          'creating the session',
        );
      } catch (error) {
        throw this.explainSessionError(error);
      }
      const namespaces = await withTimeout(
        session.readNamespaceArray(),
        config.connectTimeout,
        'reading the namespace array',
      );
      const s: OpcuaSession = { lib, client, session, namespaces, generation };
      const lost = (reason: string) => (error?: unknown) => this.lost(generation, reason, error);
      client.on('connection_lost', lost('connection lost'));
      client.on('close', lost('connection closed'));
      session.on('session_closed', lost('session closed by the server'));
      session.on('keepalive_failure', lost('session keep-alive failed'));
      this.current = s;
      this.undo = (await this.hooks.onSession?.(s)) ?? undefined;
      if (signal.aborted || generation !== this.generation)
        throw new NotConnectedError('connection replaced');
      this.metrics.connected.set(undefined, 1);
    } catch (error) {
      if (this.current?.generation === generation) this.current = undefined;
      this.undo?.();
      this.undo = undefined;
      void withTimeout(client.disconnect(), 2000, 'disconnect').catch(() => {});
      throw error instanceof NotConnectedError
        ? error
        : new NotConnectedError(`${this.where}: ${redact(errorMessage(error))}`, { cause: error });
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  private createClient(
    lib: Lib,
    store: TrustStore,
    policy: string,
    serverCertificate: Buffer | undefined,
    mode: 'None' | undefined,
  ): Opcua.OPCUAClient {
    const { config } = this;
    return lib.OPCUAClient.create({
      applicationName: config.applicationName,
      securityMode: lib.MessageSecurityMode[mode ?? config.securityMode],
      securityPolicy: lib.SecurityPolicy[policy as keyof typeof lib.SecurityPolicy],
      endpointMustExist: false,
      // Reconnection is ours (see the class comment); one try per attempt.
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
      requestedSessionTimeout: config.sessionTimeout,
      clientCertificateManager: store.manager,
      keepSessionAlive: this.hooks.keepSessionAlive ?? false,
      keepAliveInterval: Math.max(1000, Math.min(config.sessionTimeout / 3, 10_000)),
      // Known: the secure channel is opened at once, with no None channel to read the endpoints.
      ...(serverCertificate ? { serverCertificate } : {}),
    });
  }

  /**
   * The channel. In a secure mode it is always opened directly with the server certificate: the
   * one known beforehand (trustedServerCertificates, or a file in the PKI folder with a configured
   * fingerprint), else the one from the endpoint list read over a None channel. node-opcua would
   * do the discovery itself, but it replaces the server's refusal with "premature disconnection",
   * and a server without None channels (not even for discovery) is only reachable directly.
   */
  private async openChannel(
    lib: Lib,
    store: TrustStore,
    policy: string,
    signal: AbortSignal,
    trustedFiles: Buffer[],
  ): Promise<Opcua.OPCUAClient> {
    const secure = this.config.securityMode !== 'None';
    const known = secure ? await knownServerCertificates(lib, store, this.config, trustedFiles) : [];
    let directError: unknown;
    for (const certificate of known) {
      try {
        return await this.connectClient(lib, store, policy, signal, certificate);
      } catch (error) {
        // The refusal of a direct channel is the server's real answer: it wins over the discovery's.
        directError ??= error;
      }
    }
    let discovered: Buffer | undefined;
    if (secure) {
      try {
        discovered = await this.discoverCertificate(lib, store, policy, signal);
      } catch (error) {
        throw this.explainConnectError(directError ?? error, store, policy, {
          knewCertificate: known.length > 0,
          discovery: directError === undefined,
        });
      }
      if (known.length > 0)
        this.ctx.logger.warn(
          { endpoint: this.where, err: redact(errorMessage(directError)) },
          'the OPC UA server refused the channel with the known certificate, its endpoint list gave another: update trustedServerCertificates',
        );
    }
    try {
      return await this.connectClient(lib, store, policy, signal, discovered);
    } catch (error) {
      throw this.explainConnectError(error, store, policy, { knewCertificate: known.length > 0 });
    }
  }

  private async connectClient(
    lib: Lib,
    store: TrustStore,
    policy: string,
    signal: AbortSignal,
    certificate: Buffer | undefined,
    mode?: 'None',
  ): Promise<Opcua.OPCUAClient> {
    if (signal.aborted) throw new NotConnectedError(`connecting to ${this.where} aborted`);
    const client = this.createClient(lib, store, mode ?? policy, certificate, mode);
    const onAbort = (): void => void client.disconnect().catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await withTimeout(client.connect(this.config.url), this.config.connectTimeout, 'opening the channel');
      return client;
    } catch (error) {
      void withTimeout(client.disconnect(), 2000, 'disconnect').catch(() => {});
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** The server certificate of the endpoint with our mode and policy, read over a None channel and checked. */
  private async discoverCertificate(
    lib: Lib,
    store: TrustStore,
    policy: string,
    signal: AbortSignal,
  ): Promise<Buffer> {
    const client = await this.connectClient(lib, store, policy, signal, undefined, 'None');
    let endpoints: Opcua.EndpointDescription[];
    try {
      endpoints = await withTimeout(
        client.getEndpoints(),
        this.config.connectTimeout,
        'reading the endpoints',
      );
    } finally {
      void withTimeout(client.disconnect(), 2000, 'disconnect').catch(() => {});
    }
    const mode = lib.MessageSecurityMode[this.config.securityMode];
    const uri = lib.SecurityPolicy[policy as keyof typeof lib.SecurityPolicy];
    const endpoint = endpoints.find((e) => e.securityMode === mode && e.securityPolicyUri === uri);
    if (!endpoint?.serverCertificate) {
      const offered = [
        ...new Set(
          endpoints.map(
            (e) =>
              `${lib.MessageSecurityMode[e.securityMode]} / ${e.securityPolicyUri?.split('#')[1] ?? e.securityPolicyUri}`,
          ),
        ),
      ];
      throw new Error(
        `BadSecurityPolicyRejected: the server offers no ${this.config.securityMode} / ${policy} endpoint (it offers: ${offered.join(', ')})`,
      );
    }
    const certificate = Buffer.from(endpoint.serverCertificate);
    const status = await store.manager.checkCertificate(certificate);
    if (!status.isGood()) throw new Error(`server certificate verification failed: ${status.name}`);
    return certificate;
  }

  private async dispose(s: OpcuaSession): Promise<void> {
    const undo = this.undo;
    this.undo = undefined;
    try {
      undo?.();
    } catch (error) {
      this.ctx.logger.warn({ err: errorMessage(error) }, 'OPC UA cleanup failed');
    }
    // A dead peer never answers CloseSession: bound the goodbye.
    await withTimeout(
      (async () => {
        await s.session.close(true).catch(() => {});
        await s.client.disconnect();
      })(),
      2000,
      'closing the session',
    ).catch(() => s.client.disconnect().catch(() => {}));
  }

  private explainConnectError(
    error: unknown,
    store: TrustStore,
    policy: string,
    how: { knewCertificate: boolean; discovery?: boolean },
  ): NotConnectedError {
    const text = redact(errorMessage(error));
    const refusal = serverRefusal(text);
    // Our own check of the server certificate (a refusal by the server is reported below).
    if (/certificate verification failed/i.test(text) || (/BadCertificateUntrusted/.test(text) && !refusal)) {
      const fp = store.lastRejected ? ` (SHA-1 ${formatFingerprint(store.lastRejected)})` : '';
      return new NotConnectedError(
        `${this.where}: the server certificate${fp} is not trusted. It was saved in ${join(store.folder, 'rejected')}; ` +
          `trust it by moving it to ${join(store.folder, 'trusted', 'certs')}, by listing it in trustedServerCertificates, ` +
          `or by adding its fingerprint to trustedServerFingerprints`,
        { cause: error },
      );
    }
    const secure = this.config.securityMode !== 'None';
    const channel = `${this.config.securityMode} / ${policy}`;
    if (
      how.discovery &&
      (refusal === 'BadSecurityPolicyRejected' ||
        refusal === 'BadSecurityModeRejected' ||
        (refusal === undefined && /premature|disconnect|closed|ECONNRESET|EPIPE/i.test(text))) &&
      !/offers no/.test(text)
    )
      // node-opcua reads the endpoints (and the server certificate) over a None channel first.
      return new NotConnectedError(
        `${this.where}: the server refused the None channel used to read its endpoints and certificate` +
          `${refusal ? ` (${refusal})` : ''}; a server without None channels needs its certificate ` +
          `given beforehand: list the certificate file (PEM or DER) in trustedServerCertificates, or put it in ` +
          `${join(store.folder, 'trusted', 'certs')} with its fingerprint in trustedServerFingerprints ` +
          `(a fingerprint alone cannot open the channel). node-opcua: ${oneLine(text)}`,
        { cause: error },
      );
    if (refusal)
      return new NotConnectedError(
        `${this.where}: the server refused the ${secure ? channel : 'None'} channel: ${refusal}` +
          `${hint(refusal, secure)} (node-opcua: ${oneLine(text)})`,
        { cause: error },
      );
    if (/endpoint|security/i.test(text) && secure)
      return new NotConnectedError(`${this.where}: cannot open a ${channel} channel: ${oneLine(text)}`, {
        cause: error,
      });
    return new NotConnectedError(`cannot connect to ${this.where}: ${oneLine(text)}`, { cause: error });
  }

  private explainSessionError(error: unknown): NotConnectedError {
    const text = redact(errorMessage(error));
    if (/BadUserAccessDenied|BadIdentityTokenInvalid|BadIdentityTokenRejected/.test(text)) {
      const who =
        this.config.username !== undefined
          ? `user "${this.config.username}"`
          : this.config.userCertificate !== undefined
            ? 'the user certificate'
            : 'anonymous access';
      return new NotConnectedError(`${this.where}: the server refused ${who}: ${text}`, { cause: error });
    }
    return new NotConnectedError(`${this.where}: cannot create a session: ${text}`, { cause: error });
  }
}
