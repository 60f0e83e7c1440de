// The campaign document (docs/campaigns.md) as the canvas edits it: YAML text ⇄ object, the
// pure edits the canvas makes (add, connect, move, rename, delete), and those edits carried into
// the author's text touching only what changed. Nothing here validates — the server does — it
// only keeps the document drawable and the edits faithful.
import { type Document, isMap, isScalar, isSeq, parse, parseDocument, stringify, YAMLParseError } from "yaml";

import { starterSettings } from "./activities";

export interface Position {
  x: number;
  y: number;
}

export interface CampaignNode {
  id: string;
  type: string;
  settings?: Record<string, unknown>;
  label?: string;
  description?: string;
  position?: Position;
  [key: string]: unknown;
}

export interface CampaignEdge {
  from: string;
  to: string;
  [key: string]: unknown;
}

export interface CampaignDocument {
  name: string;
  nodes: CampaignNode[];
  edges: CampaignEdge[];
  [key: string]: unknown;
}

/** Text that cannot be drawn: a YAML syntax error, or no list of nodes. */
export class DocumentTextError extends Error {
  constructor(
    message: string,
    readonly line: number | null,
  ) {
    super(line === null ? message : `line ${line}: ${message}`);
    this.name = "DocumentTextError";
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The document in YAML or JSON text (JSON is YAML). Shape beyond "drawable" is the server's call. */
export function parseCampaignText(text: string): CampaignDocument {
  let data: unknown;
  try {
    data = parse(text);
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const line = error.linePos?.[0]?.line ?? null;
      throw new DocumentTextError(error.message.split("\n")[0] ?? error.message, line);
    }
    throw error;
  }
  if (!isRecord(data)) throw new DocumentTextError("the campaign must be a mapping (name:, nodes:, edges:)", null);
  const nodes = data.nodes ?? [];
  const edges = data.edges ?? [];
  if (!Array.isArray(nodes) || !nodes.every((n) => isRecord(n) && typeof n.id === "string")) {
    throw new DocumentTextError("nodes must be a list of {id, type, settings}", null);
  }
  if (!Array.isArray(edges) || !edges.every((e) => isRecord(e) && typeof e.from === "string" && typeof e.to === "string")) {
    throw new DocumentTextError("edges must be a list of {from, to}", null);
  }
  return { ...data, name: typeof data.name === "string" ? data.name : "", nodes, edges } as CampaignDocument;
}

/** YAML with the keys in the order of docs/campaigns.md, and edges as one-line flow maps. */
export function campaignText(doc: CampaignDocument): string {
  const { name, nodes, edges, ...rest } = doc;
  const ordered: Record<string, unknown> = { name, ...rest, nodes: nodes.map(orderNode), edges };
  return stringify(ordered, {
    lineWidth: 0,
    // `{from: a, to: b}` on one line per edge, as the examples write them.
    flowCollectionPadding: false,
    collectionStyle: "any",
    aliasDuplicateObjects: false,
  }).replace(/^( {2}- )from: (.+)\n {4}to: (.+)$/gm, "$1{from: $2, to: $3}");
}

// Re-rendering an untouched part as the author wrote it: no folding of long lines, `{a: b}`.
const KEPT_TEXT = { lineWidth: 0, flowCollectionPadding: false } as const;

/**
 * `previous` text carried to the data `next` by editing only the parts that differ, through the
 * YAML Document: comments, key order and blank lines elsewhere — and on the untouched keys of an
 * edited node — stay as written. JSON text stays JSON (re-serialised); text that does not read as
 * a mapping, or an edit whose result would not read back as `next`, gets `campaignText(next)`.
 */
export function editedCampaignText(previous: string, next: CampaignDocument): string {
  const document = parseDocument(previous);
  const root = document.contents;
  if (document.errors.length || !isMap(root)) return campaignText(next);
  if (root.flow) return `${JSON.stringify(next, null, 2)}\n`;
  reconcile(document, root, next, "root");
  const text = document.toString(KEPT_TEXT);
  let reread: unknown;
  try {
    reread = parse(text);
  } catch {
    reread = undefined;
  }
  return sameData(reread, next) ? text : campaignText(next);
}

type Place = "root" | "node" | "edge" | "other";

// Where a key new to a mapping goes, in the order of docs/campaigns.md (ties go last).
const KEY_RANKS: Partial<Record<Place, Record<string, number>>> = {
  root: { name: 0, nodes: 2, edges: 3 },
  node: { id: 0, type: 1, label: 2, description: 3, settings: 5, position: 6 },
};
const DEFAULT_RANK: Record<Place, number> = { root: 1, node: 4, edge: 0, other: 0 };

type YamlNode = NonNullable<Document["contents"]>;

/** Data equality as YAML means it: key order does not matter, an undefined key is no key. */
function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameData(x, b[i]));
  }
  if (!isRecord(a) || !isRecord(b)) return false;
  const keys = (r: Record<string, unknown>) => Object.keys(r).filter((k) => r[k] !== undefined);
  const ka = keys(a);
  const kb = keys(b);
  return ka.length === kb.length && ka.every((k) => k in b && sameData(a[k], b[k]));
}

function dataOf(document: Document, node: unknown): unknown {
  return node && typeof node === "object" && "toJS" in node ? (node as YamlNode).toJS(document) : node;
}

function keyOf(key: unknown): unknown {
  return isScalar(key) ? key.value : key;
}

/** `node` edited in place into `value` where it can be; else a new node with its comments. */
function reconcile(document: Document, node: unknown, value: unknown, place: Place): YamlNode {
  if (sameData(dataOf(document, node), value)) return node as YamlNode;
  if (isMap(node) && isRecord(value)) {
    reconcileMap(document, node, value, place);
    return node;
  }
  if (isSeq(node) && Array.isArray(value)) {
    reconcileSeq(document, node, value, place === "root" ? "other" : place);
    return node;
  }
  if (isScalar(node) && (value === null || typeof value !== "object")) {
    // A quoted "5" set to 5 must lose its quotes, or it would read back as text.
    if (typeof node.value !== typeof value) node.type = undefined;
    node.value = value;
    return node;
  }
  const created = document.createNode(value, { flow: place === "edge" }) as YamlNode;
  if (node && typeof node === "object") {
    const old = node as YamlNode;
    created.commentBefore = old.commentBefore;
    created.comment = old.comment;
    created.spaceBefore = old.spaceBefore;
  }
  return created;
}

function reconcileMap(document: Document, map: import("yaml").YAMLMap, value: Record<string, unknown>, place: Place) {
  const childPlace = (key: string): Place => (place === "root" && key === "nodes" ? "node" : place === "root" && key === "edges" ? "edge" : "other");
  const wasEmpty = map.items.length === 0;
  map.items = map.items.filter((pair) => {
    const key = keyOf(pair.key);
    return typeof key === "string" && value[key] !== undefined;
  });
  const ranks = KEY_RANKS[place] ?? {};
  const rank = (key: unknown) => (typeof key === "string" ? ranks[key] : undefined) ?? DEFAULT_RANK[place];
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const pair = map.items.find((p) => keyOf(p.key) === key);
    if (pair) {
      pair.value = reconcile(document, pair.value, v, childPlace(key));
      continue;
    }
    const created = document.createPair(key, v, { flow: childPlace(key) === "edge" && !Array.isArray(v) });
    const at = map.items.findIndex((p) => rank(keyOf(p.key)) > rank(key));
    map.items.splice(at < 0 ? map.items.length : at, 0, created);
  }
  // `settings: {}` filled in from the panel reads better as a block.
  if (wasEmpty && map.flow && place !== "edge") map.flow = false;
}

/**
 * Items kept whole (a longest common subsequence of equal items) stay untouched; between them,
 * the old items are edited into the new ones in order, the surplus removed or added.
 */
function reconcileSeq(document: Document, seq: import("yaml").YAMLSeq, values: unknown[], place: Place) {
  const old = seq.items;
  const oldData = old.map((item) => dataOf(document, item));
  const n = old.length;
  const m = values.length;
  const common: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      common[i]![j] = sameData(oldData[i], values[j]) ? common[i + 1]![j + 1]! + 1 : Math.max(common[i + 1]![j]!, common[i]![j + 1]!);
    }
  }
  const items: unknown[] = [];
  let gapOld: unknown[] = [];
  let gapNew: unknown[] = [];
  const closeGap = () => {
    gapNew.forEach((v, k) => {
      if (k < gapOld.length) items.push(reconcile(document, gapOld[k], v, place));
      else items.push(created(v));
    });
    gapOld = [];
    gapNew = [];
  };
  const created = (v: unknown) => {
    const node = document.createNode(v, { flow: place === "edge" }) as YamlNode;
    // A new node is set apart like its neighbours (the examples leave a blank line between nodes).
    const before = (items.at(-1) ?? old.at(-1)) as YamlNode | undefined;
    if (place === "node" && before && typeof before === "object" && before.spaceBefore) node.spaceBefore = true;
    return node;
  };
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && sameData(oldData[i], values[j])) {
      closeGap();
      items.push(old[i]);
      i += 1;
      j += 1;
    } else if (j < m && (i >= n || common[i]![j + 1]! >= common[i + 1]![j]!)) {
      gapNew.push(values[j]);
      j += 1;
    } else {
      gapOld.push(old[i]);
      i += 1;
    }
  }
  closeGap();
  if (n === 0 && seq.flow) seq.flow = false;
  seq.items = items;
}

function orderNode(node: CampaignNode): CampaignNode {
  const { id, type, label, description, settings, position, ...rest } = node;
  const ordered: Record<string, unknown> = { id, type };
  if (label !== undefined) ordered.label = label;
  if (description !== undefined) ordered.description = description;
  Object.assign(ordered, rest);
  if (settings !== undefined) ordered.settings = settings;
  if (position !== undefined) ordered.position = position;
  return ordered as CampaignNode;
}

/** `node` means `node.out`; ids hold no dots, so the first dot splits node and port. */
export function splitEnd(from: string): { node: string; port: string } {
  const dot = from.indexOf(".");
  return dot < 0 ? { node: from, port: "out" } : { node: from.slice(0, dot), port: from.slice(dot + 1) };
}

export function portKey(from: string): string {
  const { node, port } = splitEnd(from);
  return `${node}.${port}`;
}

export function edgeKey(edge: CampaignEdge): string {
  return `${portKey(edge.from)}->${edge.to}`;
}

export function newCampaign(name: string): CampaignDocument {
  return { name, schedule: "manual", nodes: [], edges: [] };
}

/** A node of `type` with a fresh id (`email`, `email2`, ...) and starter settings. */
export function addNode(doc: CampaignDocument, type: string, position?: Position): { doc: CampaignDocument; id: string } {
  const taken = new Set(doc.nodes.map((n) => n.id));
  let id = type;
  for (let n = 2; taken.has(id); n += 1) id = `${type}${n}`;
  const node: CampaignNode = { id, type, settings: starterSettings(type) };
  if (position) node.position = roundPosition(position);
  return { doc: { ...doc, nodes: [...doc.nodes, node] }, id };
}

/**
 * A transition from `source`'s `port` to `target`. One output port leads to one activity, so a
 * new edge replaces the port's old one — except a fork's `out`, which leads to several.
 */
export function connect(doc: CampaignDocument, source: string, port: string, target: string): CampaignDocument {
  const from = port === "out" ? source : `${source}.${port}`;
  const sourceType = doc.nodes.find((n) => n.id === source)?.type;
  const key = portKey(from);
  const kept = doc.edges.filter((e) => {
    if (portKey(e.from) !== key) return true;
    return sourceType === "fork" && e.to !== target;
  });
  return { ...doc, edges: [...kept, { from, to: target }] };
}

export function removeNodes(doc: CampaignDocument, ids: Iterable<string>): CampaignDocument {
  const gone = new Set(ids);
  return {
    ...doc,
    nodes: doc.nodes.filter((n) => !gone.has(n.id)),
    edges: doc.edges.filter((e) => !gone.has(splitEnd(e.from).node) && !gone.has(e.to)),
  };
}

export function removeEdges(doc: CampaignDocument, keys: Iterable<string>): CampaignDocument {
  const gone = new Set(keys);
  return { ...doc, edges: doc.edges.filter((e) => !gone.has(edgeKey(e))) };
}

function roundPosition(p: Position): Position {
  return { x: Math.round(p.x), y: Math.round(p.y) };
}

/** Positions are kept in the document (docs/campaigns.md) so a saved layout diffs well. */
export function moveNodes(doc: CampaignDocument, moves: Record<string, Position>): CampaignDocument {
  return {
    ...doc,
    nodes: doc.nodes.map((n) => (moves[n.id] ? { ...n, position: roundPosition(moves[n.id]!) } : n)),
  };
}

export interface NodePatch {
  id?: string;
  type?: string;
  label?: string;
  settings?: Record<string, unknown>;
}

/**
 * Changes one node; a new id is carried into every edge that names it (the settings that name
 * inbound transitions — `primary`, `wait_for` — are left for the server to flag).
 */
export function updateNode(doc: CampaignDocument, id: string, patch: NodePatch): CampaignDocument {
  const newId = patch.id ?? id;
  const nodes = doc.nodes.map((n) => {
    if (n.id !== id) return n;
    const next: CampaignNode = { ...n, id: newId };
    if (patch.type !== undefined) next.type = patch.type;
    if (patch.settings !== undefined) next.settings = patch.settings;
    if (patch.label !== undefined) {
      if (patch.label === "") delete next.label;
      else next.label = patch.label;
    }
    return next;
  });
  if (newId === id) return { ...doc, nodes };
  const edges = doc.edges.map((e) => {
    const { node, port } = splitEnd(e.from);
    const from = node === id ? (e.from.includes(".") ? `${newId}.${port}` : newId) : e.from;
    return { ...e, from, to: e.to === id ? newId : e.to };
  });
  return { ...doc, nodes, edges };
}

/** A node's settings as the side panel shows them. */
export function settingsText(settings: Record<string, unknown> | undefined): string {
  if (!settings || Object.keys(settings).length === 0) return "";
  return stringify(settings, { lineWidth: 0 });
}

/** The side panel's settings text (YAML or JSON) back as a mapping; empty means no settings. */
export function parseSettingsText(text: string): Record<string, unknown> {
  if (!text.trim()) return {};
  let data: unknown;
  try {
    data = parse(text);
  } catch (error) {
    if (error instanceof YAMLParseError) {
      throw new DocumentTextError(error.message.split("\n")[0] ?? error.message, error.linePos?.[0]?.line ?? null);
    }
    throw error;
  }
  if (data === null) return {};
  if (!isRecord(data)) throw new DocumentTextError("settings must be a mapping (key: value)", null);
  return data;
}
