// The document drawn as a canvas: xyflow nodes (one handle per output port) and edges labelled
// with their port and, after a test run, the rows they carried.
import type { Edge, Node } from "@xyflow/react";

import { kindOf, outputPorts, takesInput, type Kind } from "./activities";
import { type CampaignDocument, edgeKey, type Position, portKey, splitEnd } from "./campaignDocument";

export interface ActivityData extends Record<string, unknown> {
  id: string;
  type: string;
  label?: string;
  kind: Kind | "unknown";
  ports: string[];
  input: boolean;
  problems: string[];
  /** Rows a test run put on ports that lead nowhere (a control group), shown on the handle. */
  unlinked: Record<string, number>;
}

export type ActivityNode = Node<ActivityData, "activity">;

/** Rows on each output port after a test run, keyed `node.port`. */
export type TransitionCounts = Record<string, { rows: number; activated: boolean }>;

export interface Problem {
  path: string;
  message: string;
  node?: string | null;
  line?: number | null;
}

export function canvasNodes(
  doc: CampaignDocument,
  positions: Record<string, Position>,
  problems: Problem[] = [],
  counts: TransitionCounts | null = null,
): ActivityNode[] {
  const linked = new Set(doc.edges.map((e) => portKey(e.from)));
  return doc.nodes.map((node) => {
    const ports = outputPorts(node.type, node.settings);
    // An edge naming a port the settings do not declare still gets a handle, so it is drawn
    // (and the server's problem about it can be seen on the canvas).
    for (const edge of doc.edges) {
      const end = splitEnd(edge.from);
      if (end.node === node.id && !ports.includes(end.port)) ports.push(end.port);
    }
    const unlinked: Record<string, number> = {};
    for (const port of ports) {
      const key = `${node.id}.${port}`;
      const count = counts?.[key];
      if (count && !linked.has(key)) unlinked[port] = count.rows;
    }
    return {
      id: node.id,
      type: "activity",
      position: positions[node.id] ?? { x: 0, y: 0 },
      data: {
        id: node.id,
        type: node.type,
        label: node.label,
        kind: kindOf(node.type),
        ports,
        input: takesInput(node.type),
        problems: problems.filter((p) => p.node === node.id).map((p) => p.message),
        unlinked,
      },
    };
  });
}

export function edgeLabel(from: string, counts: TransitionCounts | null): string {
  const { port } = splitEnd(from);
  const count = counts?.[portKey(from)];
  if (!count) return port;
  return `${port} · ${count.rows.toLocaleString("en")}${count.activated ? "" : " (not activated)"}`;
}

/** Problems about edges name them by index (`edges[4].from`). */
function edgeProblemIndexes(problems: Problem[]): Set<number> {
  const found = new Set<number>();
  for (const p of problems) {
    const match = /^edges\[(\d+)\]/.exec(p.path);
    if (match) found.add(Number(match[1]));
  }
  return found;
}

export function canvasEdges(doc: CampaignDocument, counts: TransitionCounts | null, problems: Problem[] = []): Edge[] {
  const ids = new Set(doc.nodes.map((n) => n.id));
  const flagged = edgeProblemIndexes(problems);
  const edges: Edge[] = [];
  doc.edges.forEach((edge, index) => {
    const { node, port } = splitEnd(edge.from);
    if (!ids.has(node) || !ids.has(edge.to)) return;
    edges.push({
      id: edgeKey(edge),
      source: node,
      sourceHandle: port,
      target: edge.to,
      label: edgeLabel(edge.from, counts),
      className: flagged.has(index) ? "problem" : undefined,
      data: { index },
    });
  });
  return edges;
}

/** Test-run transitions (`{from: "node.port", rows, activated}`) as counts by port. */
export function countsFromTransitions(
  transitions: { from: string; rows: number | null; activated: boolean }[],
): TransitionCounts {
  const counts: TransitionCounts = {};
  for (const t of transitions) {
    if (t.rows !== null && t.rows !== undefined) counts[portKey(t.from)] = { rows: t.rows, activated: t.activated };
  }
  return counts;
}
