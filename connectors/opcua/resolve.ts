import type * as Opcua from 'node-opcua';
import type { Lib, OpcuaSession } from './connection.js';
import type { MonitoringSettings, NodeSpec } from './spec.js';

/**
 * Turns the configured nodes (NodeIds, `nsu=` NodeIds, browse paths, folders) into the variables
 * of the server as it is now. Runs at every connect: a restarted server may have renumbered its
 * namespaces or changed its folders.
 */

export interface ResolvedNode {
  nodeId: Opcua.NodeId;
  /**
   * The NodeId as text, by namespace URI (`nsu=<uri>;s=...`; `i=85` in namespace 0): the node's
   * identity in message ids and `opcua.nodeId`, the same across sessions and servers whatever
   * their namespace indexes (stableNodeIdText).
   */
  nodeIdText: string;
  /** Name in messages: configured name, else the browse path from Objects (the NodeId outside Objects). */
  name: string;
  browsePath?: string;
  displayName?: string;
  settings: MonitoringSettings;
}

export interface Resolution {
  nodes: ResolvedNode[];
  /** One readable line per configured node that could not be resolved. */
  problems: string[];
}

const OBJECTS_FOLDER = 'i=85';
const CHUNK = 500;

/** `nsu=<uri>;s=...` -> `ns=<index>;s=...` with this session's namespace array. */
export function resolveNamespace(text: string, namespaces: string[]): string {
  const m = /^nsu=([^;]+);(.*)$/s.exec(text.trim());
  if (!m) return text.trim();
  const index = namespaces.indexOf(m[1]!);
  if (index < 0)
    throw new Error(`namespace "${m[1]}" is not on the server (it has: ${namespaces.join(', ')})`);
  return `ns=${index};${m[2]}`;
}

/**
 * A NodeId as text that does not depend on the session's namespace array: `nsu=<uri>;...` (the
 * namespace index can change when the server restarts or reorders its namespaces), `i=2258` in the
 * OPC UA namespace (0, fixed). An index the array does not have keeps its `ns=` form.
 */
export function stableNodeIdText(nodeId: Opcua.NodeId, namespaces: string[]): string {
  if (nodeId.namespace === 0) return nodeId.toString({ namespaceArray: namespaces });
  return namespaces[nodeId.namespace] ? nodeId.toString({ namespaceArray: namespaces }) : nodeId.toString();
}

export function parseNodeId(lib: Lib, text: string, namespaces: string[]): Opcua.NodeId {
  const resolved = resolveNamespace(text, namespaces);
  try {
    return lib.resolveNodeId(resolved);
  } catch (error) {
    throw new Error(`"${text}" is not a valid NodeId: ${(error as Error).message}`, { cause: error });
  }
}

/** A glob on paths below a folder: `*` within one level, `**` across levels, `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

type Reference = Opcua.ReferenceDescription;

/** Browses children of many nodes (hierarchical references, properties excluded), following continuation points. */
export class Browser {
  private readonly cache = new Map<string, Reference[]>();

  constructor(
    private readonly lib: Lib,
    private readonly session: Opcua.ClientSession,
  ) {}

  async children(nodeIds: Opcua.NodeId[]): Promise<Reference[][]> {
    const { lib } = this;
    const missing = [...new Set(nodeIds.map((n) => n.toString()).filter((k) => !this.cache.has(k)))];
    for (let i = 0; i < missing.length; i += CHUNK) {
      const part = missing.slice(i, i + CHUNK);
      const results = await this.session.browse(
        part.map((nodeId) => ({
          nodeId,
          browseDirection: lib.BrowseDirection.Forward,
          referenceTypeId: 'HierarchicalReferences',
          includeSubtypes: true,
          nodeClassMask: 0,
          resultMask: 63,
        })),
      );
      for (let j = 0; j < part.length; j++) {
        const result = results[j]!;
        const refs = [...(result.references ?? [])];
        let cp: Buffer | null | undefined = result.continuationPoint;
        while (cp && cp.length > 0) {
          const [next]: Opcua.BrowseResult[] = await this.session.browseNext([cp], false);
          refs.push(...(next?.references ?? []));
          cp = next?.continuationPoint ?? null;
        }
        // Properties (EURange, EngineeringUnits...) describe a variable; they are not data points.
        const hasProperty = `ns=0;i=${lib.ReferenceTypeIds.HasProperty}`;
        this.cache.set(
          part[j]!,
          refs.filter((r) => r.referenceTypeId.toString() !== hasProperty),
        );
      }
    }
    return nodeIds.map((n) => this.cache.get(n.toString()) ?? []);
  }

  /** The node at a browse path from the Objects folder; each segment matches a browse name in any namespace. */
  async followPath(path: string): Promise<Opcua.NodeId> {
    const segments = path.replace(/^\/+/, '').split('/');
    if (segments[0] === 'Objects') segments.shift();
    let current = this.lib.resolveNodeId(OBJECTS_FOLDER);
    const walked: string[] = [];
    for (const segment of segments) {
      const [refs] = await this.children([current]);
      const matches = (refs ?? []).filter((r) => r.browseName.name === segment);
      const distinct = [...new Map(matches.map((m) => [m.nodeId.toString(), m])).values()];
      walked.push(segment);
      if (distinct.length === 0) {
        const names = (refs ?? []).map((r) => r.browseName.name).slice(0, 20);
        throw new Error(
          `browse path "${path}": no "${segment}" under ${walked.length > 1 ? `"${walked.slice(0, -1).join('/')}"` : 'Objects'} (found: ${names.join(', ') || 'nothing'})`,
        );
      }
      if (distinct.length > 1)
        throw new Error(
          `browse path "${path}": "${walked.join('/')}" is ambiguous (${distinct.map((d) => d.nodeId.toString()).join(', ')}): use a NodeId`,
        );
      current = this.lib.resolveNodeId(distinct[0]!.nodeId.toString());
    }
    return current;
  }
}

function settingsOf(spec: NodeSpec): MonitoringSettings {
  if (typeof spec === 'string') return {};
  const s: MonitoringSettings = {};
  if (spec.samplingInterval !== undefined) s.samplingInterval = spec.samplingInterval;
  if (spec.queueSize !== undefined) s.queueSize = spec.queueSize;
  if (spec.deadband !== undefined) s.deadband = spec.deadband;
  if (spec.trigger !== undefined) s.trigger = spec.trigger;
  return s;
}

function describeSpec(spec: NodeSpec): string {
  if (typeof spec === 'string') return spec;
  return spec.nodeId ?? (spec.browsePath ? `browse path ${spec.browsePath}` : `folder ${spec.folder}`);
}

/** Every configured node, as variables of this session; what could not be found is in `problems`. */
export async function resolveNodes(s: OpcuaSession, specs: NodeSpec[]): Promise<Resolution> {
  const { lib, session, namespaces } = s;
  const browser = new Browser(lib, session);
  const nodes: ResolvedNode[] = [];
  const problems: string[] = [];

  for (const spec of specs) {
    try {
      if (typeof spec === 'string' || spec.nodeId !== undefined) {
        const text = typeof spec === 'string' ? spec : spec.nodeId!;
        const nodeId = parseNodeId(lib, text, namespaces);
        const node: ResolvedNode = {
          nodeId,
          nodeIdText: stableNodeIdText(nodeId, namespaces),
          name: typeof spec === 'string' ? '' : (spec.name ?? ''),
          settings: settingsOf(spec),
        };
        nodes.push(node);
      } else if (spec.browsePath !== undefined) {
        const nodeId = await browser.followPath(spec.browsePath);
        const path = spec.browsePath.replace(/^\/+/, '');
        nodes.push({
          nodeId,
          nodeIdText: stableNodeIdText(nodeId, namespaces),
          name: spec.name ?? path,
          browsePath: path,
          settings: settingsOf(spec),
        });
      } else {
        nodes.push(...(await browseFolder(lib, browser, spec, namespaces)));
      }
    } catch (error) {
      problems.push(`${describeSpec(spec)}: ${(error as Error).message}`);
    }
  }

  // One read for every node: it must exist and be a Variable.
  const checked: ResolvedNode[] = [];
  for (let i = 0; i < nodes.length; i += CHUNK) {
    const part = nodes.slice(i, i + CHUNK);
    const values = await session.read(
      part.flatMap((n) => [
        { nodeId: n.nodeId, attributeId: lib.AttributeIds.NodeClass },
        { nodeId: n.nodeId, attributeId: lib.AttributeIds.DisplayName },
      ]),
    );
    part.forEach((node, j) => {
      const nodeClass = values[2 * j]!;
      const displayName = values[2 * j + 1]!;
      if (nodeClass.statusCode.isNotGood()) {
        problems.push(
          `${node.name || node.nodeIdText}: ${nodeClass.statusCode.name} (the node does not exist or is not readable)`,
        );
        return;
      }
      if (nodeClass.value.value !== lib.NodeClass.Variable) {
        problems.push(
          `${node.name || node.nodeIdText}: is a ${lib.NodeClass[nodeClass.value.value as number] ?? 'node'}, not a Variable (use folder: to read the variables under it)`,
        );
        return;
      }
      const text = (displayName.value?.value as { text?: string } | null)?.text ?? undefined;
      if (text) node.displayName = text;
      checked.push(node);
    });
  }
  // A NodeId node is named by its browse path from Objects, like browse-path and folder nodes: its
  // display name alone is not unique (Line1/Temperature and Line2/Temperature).
  const unnamed = checked.filter((n) => !n.name);
  const paths = await browsePathsOf(
    lib,
    session,
    unnamed.map((n) => n.nodeId),
  );
  unnamed.forEach((node, i) => {
    const path = paths[i];
    if (path !== undefined) node.browsePath = path;
    // Outside Objects (types, views): the NodeId itself, unique by definition.
    node.name = path ?? node.nodeIdText;
  });
  return { nodes: dedupe(checked, problems), problems };
}

const OBJECTS = 'ns=0;i=85';
const MAX_DEPTH = 32;

/**
 * The browse path from the Objects folder of each node, found by following inverse hierarchical
 * references up (the first parent of each node, as most servers have one); undefined for a node
 * not under Objects. One Browse call per level for all nodes.
 */
export async function browsePathsOf(
  lib: Lib,
  session: Opcua.ClientSession,
  nodeIds: Opcua.NodeId[],
): Promise<(string | undefined)[]> {
  const result: (string | undefined)[] = nodeIds.map(() => undefined);
  if (nodeIds.length === 0) return result;
  const names: Opcua.DataValue[] = [];
  for (let i = 0; i < nodeIds.length; i += CHUNK)
    names.push(
      ...(await session.read(
        nodeIds.slice(i, i + CHUNK).map((nodeId) => ({ nodeId, attributeId: lib.AttributeIds.BrowseName })),
      )),
    );
  interface Walk {
    index: number;
    at: Opcua.NodeId;
    segments: string[];
    seen: Set<string>;
  }
  let walking: Walk[] = [];
  nodeIds.forEach((nodeId, index) => {
    const name = (names[index]?.value?.value as { name?: string } | null)?.name;
    if (name) walking.push({ index, at: nodeId, segments: [name], seen: new Set([nodeId.toString()]) });
  });
  for (let depth = 0; depth < MAX_DEPTH && walking.length > 0; depth++) {
    const next: Walk[] = [];
    for (let i = 0; i < walking.length; i += CHUNK) {
      const part = walking.slice(i, i + CHUNK);
      const results = await session.browse(
        part.map((w) => ({
          nodeId: w.at,
          browseDirection: lib.BrowseDirection.Inverse,
          referenceTypeId: 'HierarchicalReferences',
          includeSubtypes: true,
          nodeClassMask: 0,
          resultMask: 63,
        })),
      );
      part.forEach((w, j) => {
        const parent = results[j]?.references?.[0];
        if (!parent) return;
        const key = parent.nodeId.toString();
        if (key === OBJECTS) {
          result[w.index] = w.segments.join('/');
          return;
        }
        if (w.seen.has(key)) return;
        w.seen.add(key);
        next.push({
          index: w.index,
          at: lib.resolveNodeId(key),
          segments: [parent.browseName.name ?? '', ...w.segments],
          seen: w.seen,
        });
      });
    }
    walking = next;
  }
  return result;
}

/** Configured names that two nodes share (they would collide on one topic or series). */
export function nameCollisions(nodes: ResolvedNode[]): string[] {
  const byName = new Map<string, string[]>();
  for (const n of nodes) {
    const ids = byName.get(n.name);
    if (ids) ids.push(n.nodeIdText);
    else byName.set(n.name, [n.nodeIdText]);
  }
  return [...byName]
    .filter(([, ids]) => ids.length > 1)
    .map(
      ([name, ids]) => `${ids.join(', ')} are all named "${name}": give them distinct names with \`name\``,
    );
}

/** Two configured entries may reach the same variable (a folder and a NodeId): keep the first. */
function dedupe(nodes: ResolvedNode[], problems: string[]): ResolvedNode[] {
  const seen = new Set<string>();
  return nodes.filter((n) => {
    if (seen.has(n.nodeIdText)) {
      problems.push(`${n.name}: configured twice (${n.nodeIdText}); read once`);
      return false;
    }
    seen.add(n.nodeIdText);
    return true;
  });
}

async function browseFolder(
  lib: Lib,
  browser: Browser,
  spec: Exclude<NodeSpec, string>,
  namespaces: string[],
): Promise<ResolvedNode[]> {
  const folderText = spec.folder!;
  const isNodeId = /^(?:(?:ns=\d+|nsu=[^;]+);)?[isgb]=/.test(folderText);
  const root = isNodeId ? parseNodeId(lib, folderText, namespaces) : await browser.followPath(folderText);
  const prefix = spec.name ? `${spec.name}/` : isNodeId ? '' : `${folderText.replace(/^\/+/, '')}/`;
  const include = spec.include?.map(globToRegExp);
  const exclude = spec.exclude?.map(globToRegExp);
  const found: ResolvedNode[] = [];
  const visited = new Set<string>([root.toString()]);
  let level: { nodeId: Opcua.NodeId; path: string }[] = [{ nodeId: root, path: '' }];
  for (let depth = 1; depth <= spec.depth && level.length > 0; depth++) {
    const children = await browser.children(level.map((l) => l.nodeId));
    const next: typeof level = [];
    level.forEach((parent, i) => {
      for (const ref of children[i] ?? []) {
        const key = ref.nodeId.toString();
        if (visited.has(key)) continue;
        visited.add(key);
        const path = parent.path ? `${parent.path}/${ref.browseName.name}` : `${ref.browseName.name}`;
        const nodeId = lib.resolveNodeId(key);
        if (ref.nodeClass === lib.NodeClass.Variable) {
          const kept =
            (!include || include.some((r) => r.test(path))) &&
            !(exclude && exclude.some((r) => r.test(path)));
          if (kept)
            found.push({
              nodeId,
              nodeIdText: stableNodeIdText(nodeId, namespaces),
              name: `${prefix}${path}`,
              browsePath: isNodeId ? undefined : `${folderText.replace(/^\/+/, '')}/${path}`,
              displayName: ref.displayName?.text ?? undefined,
              settings: settingsOf(spec),
            });
        }
        if (ref.nodeClass === lib.NodeClass.Object || ref.nodeClass === lib.NodeClass.Variable)
          next.push({ nodeId, path });
      }
    });
    level = next;
  }
  if (found.length === 0)
    throw new Error(
      `no variable under ${folderText} within ${spec.depth} level(s)${include || exclude ? ' matching include/exclude' : ''}`,
    );
  return found;
}

/** The plain `ns=<index>` NodeIds of the config (nodes and folders), by namespace index. */
function plainNodeIds(specs: NodeSpec[]): Map<number, string[]> {
  const byIndex = new Map<number, string[]>();
  for (const spec of specs) {
    const text = typeof spec === 'string' ? spec : (spec.nodeId ?? spec.folder);
    const m = text === undefined ? null : /^ns=(\d+);/.exec(text.trim());
    if (!m) continue;
    const index = Number(m[1]);
    byIndex.set(index, [...(byIndex.get(index) ?? []), text!.trim()]);
  }
  return byIndex;
}

/**
 * A server that reorders its namespaces (a restart, a new module) moves what a plain `ns=` index
 * points at: one warning per index whose namespace URI changed since the previous connect,
 * naming the `nsu=` form that would have followed the change.
 */
export function namespaceChanges(specs: NodeSpec[], before: string[], now: string[]): string[] {
  const warnings: string[] = [];
  for (const [index, texts] of plainNodeIds(specs)) {
    const was = before[index];
    const is = now[index];
    if (was === undefined || was === is) continue;
    const suggestions = texts.map((t) => t.replace(/^ns=\d+;/, `nsu=${was};`));
    warnings.push(
      `the server's namespace ${index} was "${was}" at the previous connect and is now ${is === undefined ? 'gone' : `"${is}"`}: ` +
        `${texts.join(', ')} ${texts.length > 1 ? 'now point' : 'now points'} at ${is === undefined ? 'nothing' : 'other nodes'}; ` +
        `name ${texts.length > 1 ? 'them' : 'it'} by namespace URI to follow such changes: ${suggestions.join(', ')}`,
    );
  }
  return warnings;
}
