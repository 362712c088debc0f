import type * as Opcua from 'node-opcua';
import {
  BatchError,
  FatalError,
  NotConnectedError,
  RetryableError,
  compileGetter,
  compileTemplate,
  errorMessage,
  redact,
  type BatchFailure,
  type ComponentContext,
  type Message,
  type RenderFn,
  type Sink,
} from '../../src/sdk/index.js';
import { OpcuaConnection, type OpcuaSession } from '../opcua/connection.js';
import { parseNodeId } from '../opcua/resolve.js';
import { nodeIdProblem } from '../opcua/spec.js';
import {
  BuiltIn,
  CoercionError,
  dataTypeName,
  jsonToVariant,
  variantToJson,
  type NodeType,
} from '../opcua/values.js';
import type { OpcuaWriteSinkConfig } from './spec.js';

/**
 * Write status codes that a retry can fix (the server is busy or the link hiccuped); every other
 * Bad status (not writable, access denied, type mismatch, out of range...) is final.
 */
const TRANSIENT_STATUS = new Set([
  'BadTimeout',
  'BadCommunicationError',
  'BadServerTooBusy',
  'BadTooManyOperations',
  'BadResourceUnavailable',
  'BadOutOfMemory',
  'BadServerNotConnected',
  'BadSessionClosed',
  'BadSessionIdInvalid',
  'BadSecureChannelClosed',
  'BadConnectionClosed',
  'BadRequestTimeout',
  'BadShutdown',
  'BadWouldBlock',
]);

interface Pending {
  index: number;
  nodeId: Opcua.NodeId;
  nodeIdText: string;
  variant: Opcua.Variant;
}

export class OpcuaWriteSink implements Sink {
  private conn: OpcuaConnection | undefined;
  private failedConnects = 0;
  private readonly nodeId: RenderFn;
  private readonly value: (m: Message) => unknown;
  /** Data types of the nodes written, read once per session (a restarted server may differ). */
  private types = new Map<string, NodeType>();
  private typesGeneration = -1;

  constructor(
    private readonly config: OpcuaWriteSinkConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.nodeId = compileTemplate(config.nodeId, { strict: true });
    this.value = compileGetter(config.value);
  }

  async connect(signal: AbortSignal): Promise<void> {
    const previous = this.conn;
    this.conn = undefined;
    if (previous) await previous.close();
    const conn = new OpcuaConnection(this.config, this.ctx, { keepSessionAlive: true });
    this.conn = conn;
    try {
      // After a first failure, the connection retries with its own backoff (reconnectMaxDelay).
      await conn.open(signal, this.failedConnects > 0);
      this.failedConnects = 0;
    } catch (error) {
      this.failedConnects++;
      this.conn = undefined;
      await conn.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    if (conn) {
      await conn.close();
      this.ctx.setState('stopped');
    }
  }

  async write(batch: Message[], signal: AbortSignal): Promise<void> {
    const conn = this.conn;
    const s = conn?.current;
    if (!conn || !s)
      throw conn ? conn.notConnected() : new NotConnectedError('opcua-write: write() before connect()');
    if (this.typesGeneration !== s.generation) {
      this.types = new Map();
      this.typesGeneration = s.generation;
    }
    const failures: BatchFailure[] = [];
    const fail = (index: number, error: Error): void => void failures.push({ index, error });

    // 1. Node ids.
    const targets: { index: number; nodeId: Opcua.NodeId; text: string }[] = [];
    batch.forEach((message, index) => {
      try {
        const text = this.nodeId(message).trim();
        const problem = nodeIdProblem(text);
        if (problem) throw new Error(`node id from template "${this.config.nodeId}": ${problem}`);
        const nodeId = parseNodeId(s.lib, text, s.namespaces);
        targets.push({ index, nodeId, text: nodeId.toString() });
      } catch (error) {
        fail(index, new FatalError(errorMessage(error)));
      }
    });

    await this.guard(conn, s, signal, async () => {
      // 2. Data types of nodes not seen yet in this session.
      await this.learnTypes(
        s,
        targets.filter((t) => !this.types.has(t.text)).map((t) => t.nodeId),
      );

      // 3. Values converted to each node's type.
      const pending: Pending[] = [];
      for (const t of targets) {
        const type = this.types.get(t.text);
        if (!type) {
          fail(
            t.index,
            new FatalError(`${t.text}: the node does not exist or its data type can not be read`),
          );
          continue;
        }
        try {
          const variant = jsonToVariant(s.lib, type, this.value(batch[t.index]!));
          pending.push({ index: t.index, nodeId: t.nodeId, nodeIdText: t.text, variant });
        } catch (error) {
          if (!(error instanceof CoercionError)) throw error;
          fail(t.index, new FatalError(`${t.text} (${dataTypeName(type.dataType)}): ${error.message}`));
        }
      }

      // 4. Write, chunked; each value's status code is checked.
      const written: Pending[] = [];
      for (let i = 0; i < pending.length; i += this.config.maxNodesPerWrite) {
        const part = pending.slice(i, i + this.config.maxNodesPerWrite);
        const statuses = await s.session.write(
          part.map((p) => ({
            nodeId: p.nodeId,
            attributeId: s.lib.AttributeIds.Value,
            value: { value: p.variant },
          })),
        );
        part.forEach((p, j) => {
          const status = statuses[j];
          if (status && status.isGood()) return void written.push(p);
          const name = status?.name ?? 'no status';
          const reason = `writing ${p.nodeIdText}: the server answered ${name}${status ? ` (0x${status.value.toString(16).padStart(8, '0')})` : ''}`;
          fail(p.index, TRANSIENT_STATUS.has(name) ? new RetryableError(reason) : new FatalError(reason));
        });
      }

      // 5. Optional read-back.
      if (this.config.readBack && written.length > 0) {
        for (let i = 0; i < written.length; i += this.config.maxNodesPerWrite) {
          const part = written.slice(i, i + this.config.maxNodesPerWrite);
          const values = await s.session.read(
            part.map((p) => ({ nodeId: p.nodeId, attributeId: s.lib.AttributeIds.Value })),
            0,
          );
          part.forEach((p, j) => {
            const dv = values[j];
            const wrote = JSON.stringify(variantToJson(p.variant));
            const got = dv ? JSON.stringify(variantToJson(dv.value)) : 'nothing';
            if (!dv || dv.statusCode.isNotGood())
              fail(
                p.index,
                new FatalError(`read-back of ${p.nodeIdText} failed: ${dv?.statusCode.name ?? 'no value'}`),
              );
            else if (got !== wrote)
              fail(
                p.index,
                new FatalError(`read-back of ${p.nodeIdText}: wrote ${wrote}, the server holds ${got}`),
              );
          });
        }
      }
    });
    if (failures.length > 0) throw new BatchError(failures.sort((a, b) => a.index - b.index));
  }

  /** Runs the session calls: a lost session becomes NotConnectedError, a slow one RetryableError. */
  private async guard(
    conn: OpcuaConnection,
    s: OpcuaSession,
    signal: AbortSignal,
    work: () => Promise<void>,
  ): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new RetryableError(`no answer from ${conn.where} within ${this.config.writeTimeout} ms`)),
        this.config.writeTimeout,
      );
      onAbort = () => reject(new RetryableError('write aborted'));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    const running = work();
    // Whichever loses the race settles later: not an unhandled rejection.
    running.catch(() => {});
    stop.catch(() => {});
    try {
      await Promise.race([running, stop]);
    } catch (error) {
      if (error instanceof RetryableError || error instanceof FatalError || error instanceof BatchError)
        throw error;
      if (conn.current?.generation !== s.generation) throw conn.notConnected();
      const text = redact(errorMessage(error));
      if (/closed|connection|BadSession|BadSecureChannel|socket|ECONN/i.test(text)) {
        conn.lost(s.generation, 'request failed', error);
        throw new NotConnectedError(`${conn.where}: ${text}`);
      }
      throw new RetryableError(`${conn.where}: ${text}`, { cause: error });
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /** Reads DataType and ValueRank of the nodes, and maps subtypes (enumerations, UtcTime...) to their built-in type. */
  private async learnTypes(s: OpcuaSession, nodeIds: Opcua.NodeId[]): Promise<void> {
    const { lib, session } = s;
    const unique = [...new Map(nodeIds.map((n) => [n.toString(), n])).values()];
    for (let i = 0; i < unique.length; i += 500) {
      const part = unique.slice(i, i + 500);
      const values = await session.read(
        part.flatMap((nodeId) => [
          { nodeId, attributeId: lib.AttributeIds.DataType },
          { nodeId, attributeId: lib.AttributeIds.ValueRank },
        ]),
      );
      for (let j = 0; j < part.length; j++) {
        const dataTypeValue = values[2 * j]!;
        const rankValue = values[2 * j + 1]!;
        if (dataTypeValue.statusCode.isNotGood()) continue;
        const typeId = dataTypeValue.value.value as Opcua.NodeId;
        let dataType: number;
        if (
          typeId.namespace === 0 &&
          typeof typeId.value === 'number' &&
          typeId.value <= BuiltIn.DiagnosticInfo
        )
          dataType = typeId.value;
        else dataType = await session.getBuiltInDataType(part[j]!);
        const valueRank = rankValue.statusCode.isGood() ? (rankValue.value.value as number) : -1;
        this.types.set(part[j]!.toString(), { dataType, valueRank });
      }
    }
  }
}
