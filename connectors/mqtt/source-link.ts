import { ErrorWithSubackPacket, type IConnackPacket, type MqttClient } from 'mqtt';
import { Inbox, errorMessage, type ComponentContext, type Delivery } from '../../src/sdk/index.js';
import type { MqttConnection } from './connection.js';

/**
 * Subscribes to `filters`; rejects with an error naming them when the broker refuses one (a SUBACK
 * failure code) or the connection is lost first.
 */
export async function subscribeOrFail(client: MqttClient, filters: string[], qos: 0 | 1 | 2): Promise<void> {
  try {
    await client.subscribeAsync(filters, { qos });
  } catch (error) {
    const refused = error instanceof ErrorWithSubackPacket;
    const what = refused ? 'the broker refused the subscription to' : 'could not subscribe to';
    throw new Error(`${what} ${filters.join(', ')}: ${errorMessage(error)}`, { cause: error });
  }
}

export interface SourceLinkHooks {
  /** Makes the connection and installs its hooks: they are in before the first packet can arrive. */
  create(inbox: Inbox): MqttConnection;
  /**
   * Subscribes after a CONNACK. With `first`, for the connection that connect() opens: awaited, a
   * failure fails connect(). Otherwise after a reconnection, in the background: a failure is logged.
   */
  subscribe(client: MqttClient, connack: IConnackPacket, first: boolean): Promise<void>;
}

/**
 * The connection and inbox of a source that reads MQTT (the mqtt source, both Sparkplug sources):
 * connect() replaces any earlier connection with a new one and a new inbox, read() reads that
 * inbox, and close() ends the connection once. The inbox stays after close(), so read() then
 * returns null.
 */
export class MqttSourceLink {
  conn: MqttConnection | undefined;
  inbox: Inbox | undefined;

  constructor(
    /** The component type, for messages. */
    private readonly type: string,
    private readonly ctx: ComponentContext,
    /** Called at each teardown, before the connection ends. */
    private readonly onTeardown: () => void = () => {},
  ) {}

  async connect(
    signal: AbortSignal,
    limits: { capacity: number; batchSize: number },
    hooks: SourceLinkHooks,
  ): Promise<void> {
    await this.teardown();
    const inbox = new Inbox({
      capacity: limits.capacity,
      maxBatch: limits.batchSize,
      budget: this.ctx.memoryBudget,
    });
    const conn = hooks.create(inbox);
    const client = conn.client;
    let opened = false;
    let firstConnack: IConnackPacket | undefined;
    client.on('connect', (connack) => {
      if (!opened) {
        firstConnack = connack;
        return;
      }
      hooks.subscribe(client, connack, false).catch((error: unknown) => {
        this.ctx.logger.error(
          { url: conn.where, err: errorMessage(error) },
          `${this.type}: subscription failed after reconnect`,
        );
      });
    });
    this.conn = conn;
    this.inbox = inbox;
    try {
      await conn.open(signal);
      opened = true;
      await hooks.subscribe(client, firstConnack!, true);
    } catch (error) {
      await this.teardown();
      throw error;
    }
  }

  read(signal: AbortSignal): Promise<Delivery | null> {
    if (!this.inbox) return Promise.reject(new Error(`${this.type} source: read() before connect()`));
    return this.inbox.read(signal);
  }

  /** Ends the connection for good; reports the state `stopped` when there was one. */
  async close(): Promise<void> {
    if (await this.teardown()) this.ctx.setState('stopped');
  }

  /** Closes the inbox and ends the connection; true when there was one. */
  async teardown(): Promise<boolean> {
    const conn = this.conn;
    this.inbox?.close();
    this.onTeardown();
    this.conn = undefined;
    if (!conn) return false;
    await conn.end();
    return true;
  }
}
