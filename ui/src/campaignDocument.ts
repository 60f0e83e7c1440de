// The campaign document (docs/campaigns.md) as the canvas edits it: YAML text ⇄ object, and the
// pure edits the canvas makes (add, connect, move, rename, delete). Nothing here validates —
// the server does — it only keeps the document drawable and the edits faithful.
import { parse, stringify, YAMLParseError } from "yaml";

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
