import type * as Opcua from 'node-opcua';
import {
  Inbox,
  NotConnectedError,
  errorMessage,
  receptionTime,
  type ComponentContext,
  type ComponentGauge,
  type Delivery,
  type Message,
  type Source,
} from '../../src/sdk/index.js';
import { OpcuaConnection, type OpcuaSession } from './connection.js';
import { nameCollisions, namespaceChanges, resolveNodes, type ResolvedNode } from './resolve.js';
import type { MonitoringSettings, OpcuaSourceConfig } from './spec.js';
import { OPCUA_NULL_TIME, dataTypeName, qualityOf, variantToJson } from './values.js';

const MONITOR_CHUNK = 1000;
const READ_CHUNK = 1000;

/** What one data change becomes: the payload of a message. */
export interface OpcuaPayload {
  node: string;
  value: unknown;
  dataType: string;
  quality: 'good' | 'uncertain' | 'bad';
  status: string;
  sourceTimestamp: string | null;
  serverTimestamp: string | null;
}

interface NodeState {
  node: ResolvedNode;
  lastTime: number;
  repeat: number;
}

export class OpcuaSource implements Source {
  private conn: OpcuaConnection | undefined;
  private failedConnects = 0;
  private inbox: Inbox | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private lastActivity = Date.now();
  /** The server's namespace array at the previous session, to notice a reordering. */
  private namespacesSeen: string[] | undefined;
  private readonly lastValue: ComponentGauge;
  private readonly nodeErrors: ComponentGauge;
  private readonly monitored: ComponentGauge;
  /** Nodes with a last-value series: opt-in (`nodeMetrics`), at most its cap. */
  private readonly nodeSeries = new Set<string>();
  private readonly maxNodeSeries: number;

  constructor(
    private readonly config: OpcuaSourceConfig,
    private readonly ctx: ComponentContext,
  ) {
    const { nodeMetrics } = config;
    this.maxNodeSeries = nodeMetrics === true ? 1_000 : nodeMetrics === false ? 0 : nodeMetrics;
    this.lastValue = ctx.metrics.gauge(
      'passerelle_opcua_last_value_timestamp_seconds',
      'Time (Unix seconds) of the last value received for each OPC UA node.',
      ['node'],
    );
    this.nodeErrors = ctx.metrics.gauge(
      'passerelle_opcua_node_errors',
      'Configured OPC UA nodes that could not be resolved or monitored at the last connect.',
    );
    this.monitored = ctx.metrics.gauge(
      'passerelle_opcua_nodes',
      'OPC UA nodes read (monitored or polled) since the last connect.',
    );
  }

  async connect(signal: AbortSignal): Promise<void> {
    await this.teardown();
    const inbox = new Inbox({
      capacity: this.config.maxQueuedValues,
      maxBatch: this.config.batchSize,
      budget: this.ctx.memoryBudget,
    });
    const conn: OpcuaConnection = new OpcuaConnection(this.config, this.ctx, {
      onSession: (s): Promise<() => void> => this.start(s, inbox, conn),
    });
    this.inbox = inbox;
    this.conn = conn;
    try {
      // After a first failure, the connection retries with its own backoff (reconnectMaxDelay).
      await conn.open(signal, this.failedConnects > 0);
      this.failedConnects = 0;
    } catch (error) {
      this.failedConnects++;
      await this.teardown();
      throw error;
    }
    this.lastActivity = Date.now();
    const every = Math.min(1000, Math.max(100, Math.floor(this.config.watchdog / 4)));
    this.watchdogTimer = setInterval(() => this.checkWatchdog(conn), every);
    this.watchdogTimer.unref();
  }

  /** The inbox bounds values received and not yet stored (Source.window). */
  get window(): number {
    return this.config.maxQueuedValues;
  }

  read(signal: AbortSignal): Promise<Delivery | null> {
    if (!this.inbox) return Promise.reject(new NotConnectedError('opcua source: read() before connect()'));
    return this.inbox.read(signal);
  }

  async close(): Promise<void> {
    if (await this.teardown()) this.ctx.setState('stopped');
  }

  private async teardown(): Promise<boolean> {
    clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
    const conn = this.conn;
    this.conn = undefined;
    this.inbox?.close();
    if (!conn) return false;
    await conn.close();
    return true;
  }

  private checkWatchdog(conn: OpcuaConnection): void {
    const s = conn.current;
    if (!s) return;
    const silent = Date.now() - this.lastActivity;
    if (silent > this.config.watchdog)
      conn.lost(
        s.generation,
        'watchdog',
        new Error(`no data and no keep-alive for ${Math.round(silent / 1000)} s`),
      );
  }

  /** On every new session: resolve the nodes, then subscribe or start polling. */
  private async start(s: OpcuaSession, inbox: Inbox, conn: OpcuaConnection): Promise<() => void> {
    if (this.namespacesSeen)
      for (const warning of namespaceChanges(this.config.nodes, this.namespacesSeen, s.namespaces))
        this.ctx.logger.warn({ endpoint: conn.where }, `OPC UA namespace changed: ${warning}`);
    this.namespacesSeen = s.namespaces;
    const { nodes, problems } = await resolveNodes(s, this.config.nodes);
    for (const collision of nameCollisions(nodes))
      this.ctx.logger.warn({ endpoint: conn.where }, `OPC UA node names collide: ${collision}`);
    const states = nodes.map((node) => ({ node, lastTime: 0, repeat: 0 }));
    // resolveNodes checked that every node exists and is a Variable; monitoring may refuse more.
    const monitorProblems: string[] = [];
    let stop: () => void;
    if (this.config.mode === 'subscription') {
      const result = await this.subscribe(s, states, inbox, conn);
      monitorProblems.push(...result.problems);
      stop = result.stop;
    } else {
      stop = this.poll(s, states, inbox, conn);
    }
    const all = [...problems, ...monitorProblems];
    this.nodeErrors.set(undefined, all.length);
    for (const p of all)
      this.ctx.logger.error({ endpoint: conn.where, problem: p }, `OPC UA node skipped: ${p}`);
    const working = nodes.length - monitorProblems.length;
    if (working <= 0) {
      stop();
      throw new Error(`none of the configured nodes can be read: ${all.join('; ')}`);
    }
    this.monitored.set(undefined, working);
    this.lastActivity = Date.now();
    this.ctx.logger.info(
      { endpoint: conn.where, nodes: working, mode: this.config.mode },
      'OPC UA source reading',
    );
    return stop;
  }

  private monitoringParameters(s: OpcuaSession, settings: MonitoringSettings) {
    const { lib } = s;
    const c = this.config;
    const deadband = settings.deadband ?? c.deadband;
    const trigger = settings.trigger ?? c.trigger;
    const triggers = {
      status: lib.DataChangeTrigger.Status,
      statusValue: lib.DataChangeTrigger.StatusValue,
      statusValueTimestamp: lib.DataChangeTrigger.StatusValueTimestamp,
    } as const;
    const filter =
      deadband || trigger
        ? new lib.DataChangeFilter({
            trigger: triggers[trigger ?? 'statusValue'],
            deadbandType: !deadband
              ? lib.DeadbandType.None
              : deadband.type === 'percent'
                ? lib.DeadbandType.Percent
                : lib.DeadbandType.Absolute,
            deadbandValue: deadband?.value ?? 0,
          })
        : null;
    return {
      samplingInterval: settings.samplingInterval ?? c.samplingInterval ?? c.publishingInterval,
      queueSize: settings.queueSize ?? c.queueSize ?? 10,
      discardOldest: true,
      filter,
    };
  }

  private async subscribe(
    s: OpcuaSession,
    states: NodeState[],
    inbox: Inbox,
    conn: OpcuaConnection,
  ): Promise<{ problems: string[]; stop: () => void }> {
    const { lib, session, generation } = s;
    const c = this.config;
    // The server sends a keep-alive at least every publishingInterval x maxKeepAliveCount.
    const keepAliveCount = Math.max(1, Math.min(1000, Math.floor(c.watchdog / 3 / c.publishingInterval)));
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: c.publishingInterval,
      requestedMaxKeepAliveCount: keepAliveCount,
      requestedLifetimeCount: keepAliveCount * 6,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 10,
    });
    let stopped = false;
    const lost = (reason: string) => (error?: unknown) => {
      if (!stopped) conn.lost(generation, reason, error);
    };
    subscription.on('keepalive', () => (this.lastActivity = Date.now()));
    const publishTimes = c.publishTime ? publishTimesOf(subscription) : undefined;
    const burstEnds = burstEndsOf(subscription);
    // The server publishes this subscription at most once per (revised) publishing interval.
    const quietMs = subscription.publishingInterval;
    subscription.on('terminated', lost('subscription terminated'));
    subscription.on('internal_error', lost('subscription error'));
    subscription.on('error', lost('subscription error'));

    // Items with the same settings go in one CreateMonitoredItems call (chunked).
    // (Appended in place: a copy of the group per node was quadratic, ~100 MB of garbage for 5,000 nodes.)
    const groups = new Map<string, NodeState[]>();
    for (const st of states) {
      const key = JSON.stringify(st.node.settings);
      const group = groups.get(key);
      if (group) group.push(st);
      else groups.set(key, [st]);
    }
    const problems: string[] = [];
    for (const group of groups.values()) {
      const params = this.monitoringParameters(s, group[0]!.node.settings);
      for (let i = 0; i < group.length; i += MONITOR_CHUNK) {
        const part = group.slice(i, i + MONITOR_CHUNK);
        const monitored = await subscription.monitorItems(
          part.map((st) => ({ nodeId: st.node.nodeId, attributeId: lib.AttributeIds.Value })),
          params,
          lib.TimestampsToReturn.Both,
        );
        monitored.on('changed', (_item: unknown, dataValue: Opcua.DataValue, index: number) => {
          const st = part[index];
          if (stopped) return;
          if (st) this.safeReceive(st, dataValue, inbox, undefined, publishTimes?.get(dataValue));
          // The publish's last value: its burst is over until the next publishing interval.
          if (burstEnds.has(dataValue)) inbox.endBurst(quietMs);
        });
        monitored.monitoredItems.forEach((item, j) => {
          const code = item.statusCode;
          if (code && code.isNotGood())
            problems.push(this.explainMonitorError(part[j]!, code.name, params.filter));
        });
      }
    }
    return {
      problems,
      stop: () => {
        stopped = true;
      },
    };
  }

  private explainMonitorError(st: NodeState, code: string, filter: unknown): string {
    const deadband = st.node.settings.deadband ?? this.config.deadband;
    if (code === 'BadMonitoredItemFilterUnsupported' && filter && deadband?.type === 'percent')
      return `${st.node.name}: the server refused the percent deadband (BadMonitoredItemFilterUnsupported): a percent deadband needs an AnalogItem with an EURange; use deadband type absolute for this node`;
    if (code === 'BadDeadbandFilterInvalid')
      return `${st.node.name}: the server refused the deadband (BadDeadbandFilterInvalid)`;
    if (code === 'BadNodeIdUnknown') return `${st.node.name}: the node does not exist (BadNodeIdUnknown)`;
    return `${st.node.name}: cannot monitor ${st.node.nodeIdText}: ${code}`;
  }

  private poll(s: OpcuaSession, states: NodeState[], inbox: Inbox, conn: OpcuaConnection): () => void {
    const { lib, session, generation } = s;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const interval = this.config.pollInterval;
    const run = async (due: number): Promise<void> => {
      if (stopped) return;
      try {
        for (let i = 0; i < states.length && !stopped; i += READ_CHUNK) {
          const part = states.slice(i, i + READ_CHUNK);
          const values = await session.read(
            part.map((st) => ({ nodeId: st.node.nodeId, attributeId: lib.AttributeIds.Value })),
            0,
          );
          if (stopped) return;
          values.forEach((dv, j) => this.safeReceive(part[j]!, dv, inbox, receptionTime()));
        }
        this.lastActivity = Date.now();
        // The poll's burst is over until the next one (in this tick: the reader has not read it yet).
        inbox.endBurst(Math.max(0, due + interval - Date.now()));
      } catch (error) {
        if (!stopped) conn.lost(generation, 'poll read failed', error);
        return;
      }
      // Fixed rate, not fixed delay: a slow read does not shift every later poll.
      let next = due + interval;
      const now = Date.now();
      if (next < now) next = now;
      if (!stopped) timer = setTimeout(() => void run(next), next - now);
    };
    timer = setTimeout(() => void run(Date.now()), 0);
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  /** A value that can not be turned into a message is dead-lettered with the reason: the stream goes on. */
  private safeReceive(
    st: NodeState,
    dv: Opcua.DataValue,
    inbox: Inbox,
    readAt?: number,
    publishTime?: string,
  ): void {
    try {
      this.receive(st, dv, inbox, readAt, publishTime);
    } catch (error) {
      deadLetterValue(this.ctx, st.node, dv, error);
    }
  }

  /**
   * One DataValue -> one message (or a counted drop). `readAt`: a polled value, stamped with the
   * read time (unique in the process, so ids stay unique across polls and reconnects) to make a
   * regular series of an unchanged value; the source timestamp stays in the payload. `publishTime`:
   * the notification's, with the `publishTime` option.
   */
  private receive(
    st: NodeState,
    dv: Opcua.DataValue,
    inbox: Inbox,
    readAt?: number,
    publishTime?: string,
  ): void {
    this.lastActivity = Date.now();
    const converted = convertDataValue(this.config, st.node, dv, readAt);
    if (typeof converted === 'string') return this.ctx.countDropped(1, converted);
    if (publishTime !== undefined) converted.meta['opcua.publishTime'] = publishTime;
    if (inbox.full) {
      this.ctx.countDropped(1, 'inbox full (the pipeline is behind)');
      return;
    }
    const { time, payload, meta } = converted;
    const node = st.node;
    // The same node and source timestamp is the same event (a republish); a second change in the same millisecond gets a suffix.
    if (time === st.lastTime) st.repeat++;
    else {
      st.lastTime = time;
      st.repeat = 0;
    }
    const message: Message = {
      id: `${node.nodeIdText}@${time}${st.repeat ? `#${st.repeat}` : ''}`,
      payload,
      meta,
      time,
    };
    inbox.push(message);
    if (this.nodeSeries.has(node.name) || this.nodeSeries.size < this.maxNodeSeries) {
      this.nodeSeries.add(node.name);
      this.lastValue.set({ node: node.name }, Date.now() / 1000);
    }
  }
}

/**
 * The publishTime of the notification message that brought each value, by DataValue: node-opcua
 * emits a message (`raw_notification`) before its values (`changed`), but values may come after a
 * later message's event (an ExtensionObject is decoded first, asynchronously), so a "last publish
 * time" would be wrong. One ISO text per message, shared by its values.
 */
export function publishTimesOf(subscription: Opcua.ClientSubscription): WeakMap<Opcua.DataValue, string> {
  const times = new WeakMap<Opcua.DataValue, string>();
  subscription.on('raw_notification', (message: Opcua.NotificationMessage) => {
    // A server that sends the null DateTime (node-opcua 2.182.2's own server) gives no publishTime.
    const sent = message.publishTime?.getTime() ?? OPCUA_NULL_TIME;
    if (sent <= OPCUA_NULL_TIME) return;
    let iso: string | undefined;
    for (const data of message.notificationData ?? []) {
      const items = (data as Partial<Opcua.DataChangeNotification> | null)?.monitoredItems;
      if (!items) continue;
      iso ??= new Date(sent).toISOString();
      for (const item of items) times.set(item.value, iso);
    }
  });
  return times;
}

/**
 * The last value of each notification message (node-opcua emits a message's values in order, in
 * one go): when it has been received, the publish's burst is over. By DataValue, like the publish
 * times, since a later message's values may come first.
 */
export function burstEndsOf(subscription: Opcua.ClientSubscription): WeakSet<Opcua.DataValue> {
  const ends = new WeakSet<Opcua.DataValue>();
  subscription.on('raw_notification', (message: Opcua.NotificationMessage) => {
    const data = message.notificationData ?? [];
    for (let i = data.length - 1; i >= 0; i--) {
      const items = (data[i] as Partial<Opcua.DataChangeNotification> | null)?.monitoredItems;
      if (items && items.length > 0) {
        ends.add(items[items.length - 1]!.value);
        return;
      }
    }
  });
  return ends;
}

const metaTemplates = new WeakMap<ResolvedNode, Record<string, unknown>>();

/** The meta fields of a node's messages, in their order; the per-value ones are placeholders. */
function metaTemplate(node: ResolvedNode): Record<string, unknown> {
  let template = metaTemplates.get(node);
  if (!template) {
    template = {
      'opcua.nodeId': node.nodeIdText,
      'opcua.name': node.name,
      'opcua.statusCode': 0,
      'opcua.quality': '',
      'opcua.dataType': '',
    };
    if (node.browsePath !== undefined) template['opcua.browsePath'] = node.browsePath;
    if (node.displayName !== undefined) template['opcua.displayName'] = node.displayName;
    metaTemplates.set(node, template);
  }
  return template;
}

/**
 * One DataValue -> what its message carries, or why it is dropped (bad or uncertain quality, as
 * configured). `readAt`: a value that was read (poll, a tick), stamped with the read time; the
 * source timestamp stays in the payload. Throws when the value can not be converted.
 */
export function convertDataValue(
  config: Pick<OpcuaSourceConfig, 'badQuality' | 'uncertainQuality'>,
  node: ResolvedNode,
  dv: Opcua.DataValue,
  readAt?: number,
): { time: number; payload: OpcuaPayload; meta: Record<string, unknown> } | string {
  const code = dv.statusCode?.value ?? 0;
  const quality = qualityOf(code);
  if (quality === 'bad' && config.badQuality === 'drop') return 'bad quality';
  if (quality === 'uncertain' && config.uncertainQuality === 'drop') return 'uncertain quality';
  const sourceDate = dv.sourceTimestamp;
  const serverDate = dv.serverTimestamp;
  const source = sourceDate ? sourceDate.getTime() : NaN;
  const server = serverDate ? serverDate.getTime() : NaN;
  // Without a device or server time: the time it was received, unique below the millisecond.
  const time =
    readAt ?? (Number.isFinite(source) ? source : Number.isFinite(server) ? server : receptionTime());
  const dataType = dataTypeName((dv.value?.dataType as number | undefined) ?? 0);
  const status = dv.statusCode?.name ?? 'Good';
  const payload: OpcuaPayload = {
    node: node.name,
    value: variantToJson(dv.value),
    dataType,
    quality,
    status,
    // node-opcua's own Date objects: no copy per timestamp.
    sourceTimestamp: Number.isFinite(source) ? (sourceDate as Date).toISOString() : null,
    serverTimestamp: Number.isFinite(server) ? (serverDate as Date).toISOString() : null,
  };
  // A clone of the node's template (one exactly sized object), then the per-value fields: adding
  // the optional names one by one grew the object's property store for every value.
  const meta: Record<string, unknown> = { ...metaTemplate(node) };
  meta['opcua.statusCode'] = code;
  meta['opcua.quality'] = quality;
  meta['opcua.dataType'] = dataType;
  return { time, payload, meta };
}

/** Dead-letters a value that can not be converted, with the reason; logging if that fails too. */
export function deadLetterValue(
  ctx: ComponentContext,
  node: ResolvedNode,
  dv: Opcua.DataValue,
  error: unknown,
): void {
  const reason = `cannot convert the value of ${node.nodeIdText}: ${errorMessage(error)}`;
  ctx.logger.error({ node: node.name }, reason);
  const time = receptionTime();
  const raw = { node: node.name, nodeId: node.nodeIdText, value: String(dv.value?.value) };
  void ctx
    .deadLetter(
      { id: `${node.nodeIdText}@${time}!`, payload: raw, meta: { 'opcua.nodeId': node.nodeIdText }, time },
      reason,
    )
    .catch((e: unknown) => ctx.logger.error({ err: errorMessage(e) }, 'could not store a dead letter'));
}
