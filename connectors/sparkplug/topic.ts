/**
 * The Sparkplug B topic namespace (Sparkplug 3.0 §4.1):
 * `spBv1.0/<group_id>/<message_type>/<edge_node_id>[/<device_id>]`, and
 * `spBv1.0/STATE/<host_id>` for primary host applications.
 */

export const NAMESPACE = 'spBv1.0';

export const NODE_MESSAGE_TYPES = ['NBIRTH', 'NDEATH', 'NDATA', 'NCMD'] as const;
export const DEVICE_MESSAGE_TYPES = ['DBIRTH', 'DDEATH', 'DDATA', 'DCMD'] as const;
export type NodeMessageType = (typeof NODE_MESSAGE_TYPES)[number];
export type DeviceMessageType = (typeof DEVICE_MESSAGE_TYPES)[number];
export type MessageType = NodeMessageType | DeviceMessageType;

const NODE_TYPES = new Set<string>(NODE_MESSAGE_TYPES);
const DEVICE_TYPES = new Set<string>(DEVICE_MESSAGE_TYPES);

/** A node or device topic. */
export interface SparkplugTopic {
  kind: 'node' | 'device';
  groupId: string;
  messageType: MessageType;
  edgeNodeId: string;
  /** Present exactly for DBIRTH, DDEATH, DDATA and DCMD. */
  deviceId?: string;
}

/** `spBv1.0/STATE/<host_id>`. */
export interface StateTopic {
  kind: 'state';
  hostId: string;
}

export type ParsedTopic = SparkplugTopic | StateTopic;

/**
 * Why an id can not be an element of a Sparkplug topic, or undefined when it can. The
 * specification forbids the MQTT separators and wildcards in group, edge node, device and host
 * ids; an empty element would make a different topic level count.
 */
export function invalidIdReason(id: string): string | undefined {
  if (id.length === 0) return 'is empty';
  if (/[/+#]/.test(id)) return `"${id}" contains "/", "+" or "#"`;
  // U+0000 is not allowed in MQTT topic names (MQTT 3.1.1 §1.5.3).
  if (id.includes('\u0000')) return `"${id}" contains a NUL character`;
  return undefined;
}

/** Parses a topic; returns a reason when it is not a Sparkplug B topic. */
export function parseTopic(topic: string): ParsedTopic | { error: string } {
  const levels = topic.split('/');
  if (levels[0] !== NAMESPACE) return { error: `topic "${topic}" is not in the ${NAMESPACE} namespace` };
  if (levels.length === 3 && levels[1] === 'STATE') {
    const hostId = levels[2]!;
    const bad = invalidIdReason(hostId);
    return bad ? { error: `topic "${topic}": host id ${bad}` } : { kind: 'state', hostId };
  }
  if (levels.length !== 4 && levels.length !== 5)
    return { error: `topic "${topic}" has ${levels.length} levels; Sparkplug B topics have 4 or 5` };
  const [, groupId, messageType, edgeNodeId, deviceId] = levels as [string, string, string, string, string?];
  for (const [what, id] of [
    ['group id', groupId],
    ['edge node id', edgeNodeId],
    ['device id', deviceId],
  ] as const) {
    if (id === undefined) continue;
    const bad = invalidIdReason(id);
    if (bad) return { error: `topic "${topic}": ${what} ${bad}` };
  }
  if (deviceId === undefined) {
    if (NODE_TYPES.has(messageType))
      return { kind: 'node', groupId, messageType: messageType as NodeMessageType, edgeNodeId };
    if (DEVICE_TYPES.has(messageType)) return { error: `topic "${topic}": ${messageType} needs a device id` };
  } else {
    if (DEVICE_TYPES.has(messageType))
      return {
        kind: 'device',
        groupId,
        messageType: messageType as DeviceMessageType,
        edgeNodeId,
        deviceId,
      };
    if (NODE_TYPES.has(messageType))
      return { error: `topic "${topic}": ${messageType} has no device id level` };
  }
  return { error: `topic "${topic}": unknown message type "${messageType}"` };
}

/** Builds a node or device topic; throws on an id that can not be a topic element. */
export function formatTopic(topic: {
  groupId: string;
  messageType: MessageType;
  edgeNodeId: string;
  deviceId?: string;
}): string {
  const { groupId, messageType, edgeNodeId, deviceId } = topic;
  const device = DEVICE_TYPES.has(messageType);
  if (device !== (deviceId !== undefined))
    throw new Error(
      device ? `${messageType} needs a device id` : `${messageType} is a node message: no device id`,
    );
  assertId('group id', groupId);
  assertId('edge node id', edgeNodeId);
  if (deviceId !== undefined) assertId('device id', deviceId);
  const base = `${NAMESPACE}/${groupId}/${messageType}/${edgeNodeId}`;
  return deviceId === undefined ? base : `${base}/${deviceId}`;
}

/** `spBv1.0/STATE/<host_id>` (Sparkplug 3.0; 2.2 used `STATE/<host_id>`). */
export function stateTopic(hostId: string): string {
  assertId('host id', hostId);
  return `${NAMESPACE}/STATE/${hostId}`;
}

/** The subscription filter for one group, or every group with `+`. */
export function groupFilter(groupId: string): string {
  if (groupId !== '+') assertId('group id', groupId);
  return `${NAMESPACE}/${groupId}/#`;
}

/** A key naming an edge node, unambiguous because ids never contain "/". */
export function edgeNodeKey(groupId: string, edgeNodeId: string): string {
  return `${groupId}/${edgeNodeId}`;
}

/** A key naming a device of an edge node. */
export function deviceKey(groupId: string, edgeNodeId: string, deviceId: string): string {
  return `${groupId}/${edgeNodeId}/${deviceId}`;
}

function assertId(what: string, id: string): void {
  const bad = invalidIdReason(id);
  if (bad) throw new Error(`Sparkplug ${what} ${bad}`);
}

/**
 * The STATE payload of Sparkplug 3.0 (§7.1): UTF-8 JSON `{"online": bool, "timestamp": ms}`.
 * The birth and the Will of one connection carry the same timestamp.
 */
export function statePayload(online: boolean, timestamp: number): string {
  return JSON.stringify({ online, timestamp });
}

/** Reads a STATE payload; a reason when it is not the 3.0 JSON form. */
export function parseStatePayload(
  bytes: Uint8Array | string,
): { online: boolean; timestamp: number } | { error: string } {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  if (text.length > 1024) return { error: `STATE payload of ${text.length} characters is too long` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: 'STATE payload is not JSON (Sparkplug 3.0 sends {"online": …, "timestamp": …})' };
  }
  const v = value as { online?: unknown; timestamp?: unknown } | null;
  if (typeof v !== 'object' || v === null || typeof v.online !== 'boolean' || typeof v.timestamp !== 'number')
    return { error: 'STATE payload needs a boolean "online" and a number "timestamp"' };
  return { online: v.online, timestamp: v.timestamp };
}
