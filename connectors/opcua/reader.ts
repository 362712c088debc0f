import {
  NotConnectedError,
  RUN_META_KEY,
  receptionTime,
  type ComponentContext,
  type Message,
  type Run,
  type RunReader,
} from '../../src/sdk/index.js';
import { OpcuaConnection, type OpcuaSession } from './connection.js';
import { nameCollisions, namespaceChanges, resolveNodes, type ResolvedNode } from './resolve.js';
import { convertDataValue, deadLetterValue } from './source.js';
import type { OpcuaSourceConfig } from './spec.js';

const READ_CHUNK = 1000;

/**
 * OPC UA on a tick (scheduled pipelines): one Read of every configured node per run, a message per
 * node as in poll mode (the read time as its time, the source timestamp in the payload, bad and
 * uncertain values as `badQuality`/`uncertainQuality` say). The session is kept between runs and
 * reopened in the background when lost (the connection's own backoff, re-resolving the nodes); a run
 * that finds no session fails with NotConnectedError and is retried by the schedule.
 */
export class OpcuaReader implements RunReader {
  private conn: OpcuaConnection | undefined;
  /** The nodes resolved on the current session, with its generation. */
  private resolved: { generation: number; nodes: ResolvedNode[] } | undefined;
  private namespacesSeen: string[] | undefined;

  constructor(
    private readonly config: OpcuaSourceConfig,
    private readonly ctx: ComponentContext,
  ) {}

  async connect(signal: AbortSignal): Promise<void> {
    await this.close();
    const conn: OpcuaConnection = new OpcuaConnection(this.config, this.ctx, {
      onSession: (s) => this.start(s, conn),
      keepSessionAlive: true,
    });
    this.conn = conn;
    try {
      await conn.open(signal);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async *read(run: Run, signal: AbortSignal): AsyncGenerator<Message[]> {
    const conn = this.conn;
    if (!conn) throw new NotConnectedError('opcua reader: read() before connect()');
    const s = conn.current;
    const resolved = this.resolved;
    if (!s || !resolved || resolved.generation !== s.generation) throw conn.notConnected();
    if (signal.aborted) throw signal.reason as Error;
    const runMeta = { id: run.id, window: { start: run.window.start, end: run.window.end } };
    const { nodes } = resolved;
    for (let i = 0; i < nodes.length; i += READ_CHUNK) {
      const part = nodes.slice(i, i + READ_CHUNK);
      let values;
      try {
        values = await s.session.read(
          part.map((node) => ({ nodeId: node.nodeId, attributeId: s.lib.AttributeIds.Value })),
          0,
        );
      } catch (error) {
        conn.lost(s.generation, 'read failed', error);
        throw conn.notConnected();
      }
      if (signal.aborted) throw signal.reason as Error;
      const readAt = receptionTime();
      const batch: Message[] = [];
      values.forEach((dv, j) => {
        const node = part[j]!;
        let converted;
        try {
          converted = convertDataValue(this.config, node, dv, readAt);
        } catch (error) {
          return deadLetterValue(this.ctx, node, dv, error);
        }
        if (typeof converted === 'string') return this.ctx.countDropped(1, converted);
        converted.meta[RUN_META_KEY] = runMeta;
        // One value per node and run: a rerun of the run reads again under the same ids.
        batch.push({ id: `${run.id}/${node.nodeIdText}`, ...converted });
      });
      if (batch.length > 0) yield batch;
    }
  }

  async close(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    this.resolved = undefined;
    if (!conn) return;
    await conn.close();
    this.ctx.setState('stopped');
  }

  /** On every new session: resolve the nodes (namespaces may have moved). */
  private async start(s: OpcuaSession, conn: OpcuaConnection): Promise<void> {
    if (this.namespacesSeen)
      for (const warning of namespaceChanges(this.config.nodes, this.namespacesSeen, s.namespaces))
        this.ctx.logger.warn({ endpoint: conn.where }, `OPC UA namespace changed: ${warning}`);
    this.namespacesSeen = s.namespaces;
    const { nodes, problems } = await resolveNodes(s, this.config.nodes);
    for (const collision of nameCollisions(nodes))
      this.ctx.logger.warn({ endpoint: conn.where }, `OPC UA node names collide: ${collision}`);
    for (const p of problems)
      this.ctx.logger.error({ endpoint: conn.where, problem: p }, `OPC UA node skipped: ${p}`);
    if (nodes.length === 0)
      throw new Error(`none of the configured nodes can be read: ${problems.join('; ')}`);
    this.resolved = { generation: s.generation, nodes };
  }
}
