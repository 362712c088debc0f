import { readFileSync } from 'node:fs';
import type { IClientOptions, MqttClient } from 'mqtt';
import {
  ConfigError,
  NotConnectedError,
  RetryableError,
  backoffDelay,
  errorMessage,
  redact,
  redactUrl,
  uniqueHex,
  type ComponentContext,
} from '../../src/sdk/index.js';
import type { MqttConnectionConfig } from './spec.js';
import { connectClient } from './transport.js';

function readPem(path: string | undefined, key: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError([{ path: `tls.${key}`, message: `cannot read ${path}: ${errorMessage(error)}` }]);
  }
}

/** mqtt.js options for a connection; the caller adds what is specific to its role. */
export function clientOptions(config: MqttConnectionConfig): IClientOptions {
  const tls = config.tls;
  return {
    clientId: config.clientId ?? `passerelle_${uniqueHex(6)}`,
    protocolVersion: config.protocolVersion,
    username: config.username,
    password: config.password,
    keepalive: Math.round(config.keepalive / 1000),
    connectTimeout: config.connectTimeout,
    reconnectPeriod: config.reconnectDelay,
    // A refused CONNACK (bad credentials, server busy) is retried like any other failure, with backoff.
    reconnectOnConnackError: true,
    // Never buffer publishes in memory while offline: the sink fails fast and the outbox keeps the data.
    queueQoSZero: false,
    // Subscriptions are made by the source itself, so it can check what the broker granted.
    resubscribe: false,
    manualConnect: true,
    // mqtt.js calls its `debug` logger several times per packet, and a disabled `debug` still
    // costs a call with its arguments (3 % of a relay's CPU): a no-op unless DEBUG asks for them.
    ...(process.env.DEBUG ? {} : { log: noLog }),
    // mqtt-packet otherwise builds a table of 65,536 two-byte Buffers on the first packet (6.3 MB
    // of heap for the process's life); writing the 2-byte numbers on demand is as fast (issue 17).
    writeCache: false,
    ...(tls
      ? {
          ca: readPem(tls.ca, 'ca'),
          cert: readPem(tls.cert, 'cert'),
          key: readPem(tls.key, 'key'),
          passphrase: tls.passphrase,
          rejectUnauthorized: tls.rejectUnauthorized,
          servername: tls.servername,
        }
      : {}),
  };
}

function noLog(): void {}

/** What {@link MqttConnection.untilAnswered} hands to the work it waits for. */
export interface Answer {
  /** True once the wait is over (answered, failed, closed, aborted or timed out): send nothing more. */
  readonly settled: boolean;
  /** Ends the wait: resolves it, or rejects it with `error`. Later calls are ignored. */
  settle(error?: Error): void;
}

/**
 * One mqtt.js client with the behaviour both connectors need: reconnection forever with
 * exponential backoff and jitter (mqtt.js only knows a fixed `reconnectPeriod`, so it is set
 * before each attempt), connection states reported to the engine, errors logged with the URL
 * redacted. The client is created with `manualConnect`, so callers install their hooks before
 * the first packet can arrive.
 */
export class MqttConnection {
  readonly client: MqttClient;
  readonly where: string;
  lastError: Error | undefined;
  private attempt = 0;
  private wasConnected = false;
  private closing = false;

  constructor(
    config: MqttConnectionConfig,
    private readonly ctx: ComponentContext,
    extra: IClientOptions = {},
  ) {
    this.where = redactUrl(config.url);
    const options = { ...clientOptions(config), ...extra };
    this.client = connectClient(config.url, options);
    const client = this.client;
    client.on('connect', () => {
      // Small MQTT packets sent in bursts: without TCP_NODELAY, Nagle's algorithm and the broker's
      // delayed ACKs add tens of milliseconds of latency.
      (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
      this.attempt = 0;
      this.wasConnected = true;
      this.lastError = undefined;
      client.options.reconnectPeriod = backoffDelay(0, config.reconnectDelay, config.reconnectMaxDelay);
      ctx.setState('connected');
    });
    client.on('reconnect', () => {
      // Sets the delay mqtt.js waits after this attempt, should it fail.
      this.attempt++;
      client.options.reconnectPeriod = backoffDelay(
        this.attempt,
        config.reconnectDelay,
        config.reconnectMaxDelay,
      );
      ctx.setState('reconnecting', this.lastError);
    });
    client.on('close', () => {
      if (this.closing) return;
      if (this.wasConnected) {
        this.wasConnected = false;
        ctx.logger.warn({ url: this.where }, 'MQTT connection lost, reconnecting');
        ctx.setState(
          'reconnecting',
          this.lastError ?? new NotConnectedError(`connection to ${this.where} lost`),
        );
      }
    });
    client.on('error', (error) => {
      this.lastError = new NotConnectedError(`${this.where}: ${redact(errorMessage(error))}`, {
        cause: error,
      });
      if (!this.closing)
        ctx.logger.warn({ url: this.where, err: this.lastError.message }, 'MQTT connection error');
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** The reason to give when not connected. */
  notConnected(): NotConnectedError {
    return new NotConnectedError(
      `not connected to ${this.where}${this.lastError ? ` (${this.lastError.message})` : ''}`,
    );
  }

  /**
   * Waits for the broker to answer what `send` sends (it calls `answer.settle()`). Rejects with
   * NotConnectedError if the connection closes first, and with RetryableError if `signal` aborts
   * or nothing settles it within `timeout` ms: an answer lost in a way mqtt.js does not report
   * must not hold the outbox forever. Listeners and timer are released when it settles.
   */
  untilAnswered(
    signal: AbortSignal,
    timeout: number,
    awaited: string,
    send: (answer: Answer) => void,
  ): Promise<void> {
    if (signal.aborted) return Promise.reject(new RetryableError('write aborted'));
    const client = this.client;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => answer.settle(new RetryableError(`no ${awaited} from ${this.where} within ${timeout} ms`)),
        timeout,
      );
      const answer = {
        settled: false,
        settle: (error?: Error): void => {
          if (answer.settled) return;
          answer.settled = true;
          clearTimeout(timer);
          client.off('close', onClose);
          signal.removeEventListener('abort', onAbort);
          if (error) reject(error);
          else resolve();
        },
      };
      const onClose = (): void => answer.settle(this.notConnected());
      const onAbort = (): void => answer.settle(new RetryableError('write aborted'));
      client.on('close', onClose);
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        send(answer);
      } catch (error) {
        answer.settle(error instanceof Error ? error : new Error(errorMessage(error)));
      }
    });
  }

  /**
   * Starts connecting. Resolves on the first CONNACK; rejects if the first attempt fails (the
   * engine retries `connect()` with its own backoff) or the signal aborts. Later losses are
   * handled here, by reconnecting forever.
   */
  open(signal: AbortSignal): Promise<void> {
    this.ctx.setState('connecting');
    return new Promise<void>((resolve, reject) => {
      const client = this.client;
      const cleanup = (): void => {
        client.off('connect', onConnect);
        client.off('close', onFail);
        client.off('error', onError);
        signal.removeEventListener('abort', onAbort);
      };
      const fail = (error: Error): void => {
        cleanup();
        void this.end(true);
        reject(error);
      };
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const onError = (error: Error): void =>
        fail(
          new NotConnectedError(`cannot connect to ${this.where}: ${redact(errorMessage(error))}`, {
            cause: error,
          }),
        );
      const onFail = (): void =>
        fail(this.lastError ?? new NotConnectedError(`cannot connect to ${this.where}: connection closed`));
      const onAbort = (): void => fail(new NotConnectedError(`connecting to ${this.where} aborted`));
      if (signal.aborted) return onAbort();
      client.on('connect', onConnect);
      client.on('close', onFail);
      client.on('error', onError);
      signal.addEventListener('abort', onAbort, { once: true });
      client.connect();
    });
  }

  /**
   * Disconnects for good (a DISCONNECT packet unless forced). Safe to call twice. `disconnect`
   * fills the MQTT 5 DISCONNECT, e.g. reason code 0x04 to have the broker send the Will.
   */
  end(force = false, disconnect?: { reasonCode?: number }): Promise<void> {
    this.closing = true;
    // mqtt.js 5.16 schedules a reconnect after a refused CONNACK even when end() follows at once;
    // a zero period is the only thing that stops it.
    this.client.options.reconnectPeriod = 0;
    return new Promise<void>((resolve) => {
      // end() waits for the socket to close; a dead socket never does, so bound the wait.
      const timer = setTimeout(() => {
        this.client.end(true, () => resolve());
      }, 2000);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      if (disconnect) this.client.end(force, disconnect, done);
      else this.client.end(force, done);
    });
  }
}
