// Layered auto-layout: dagre ranks the canvas top to bottom along its transitions. A node with
// a `position` in the document keeps it; the layout only places the others.
import dagre from "@dagrejs/dagre";

import { outputPorts } from "./activities";
import { type CampaignDocument, type Position, splitEnd } from "./campaignDocument";

export const NODE_WIDTH = 190;
export const NODE_HEIGHT = 64;
const PORT_WIDTH = 80;

/** Wide enough for every output port's name side by side. */
export function nodeWidth(ports: number): number {
  return Math.max(NODE_WIDTH, ports * PORT_WIDTH);
}

export function layoutPositions(doc: CampaignDocument): Record<string, Position> {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "TB", nodesep: 40, ranksep: 70, marginx: 20, marginy: 20 });
  graph.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(doc.nodes.map((n) => n.id));
  const widths: Record<string, number> = {};
  for (const node of doc.nodes) {
    widths[node.id] = nodeWidth(outputPorts(node.type, node.settings).length);
    graph.setNode(node.id, { width: widths[node.id], height: NODE_HEIGHT });
  }
  for (const edge of doc.edges) {
    const source = splitEnd(edge.from).node;
    // Edges to unknown nodes are the server's to report; they cannot be laid out.
    if (ids.has(source) && ids.has(edge.to) && source !== edge.to) graph.setEdge(source, edge.to);
  }
  dagre.layout(graph);
  const positions: Record<string, Position> = {};
  for (const node of doc.nodes) {
    if (node.position) {
      positions[node.id] = node.position;
      continue;
    }
    const placed = graph.node(node.id);
    // dagre gives centres; the canvas wants top-left corners.
    positions[node.id] = { x: Math.round(placed.x - widths[node.id]! / 2), y: Math.round(placed.y - NODE_HEIGHT / 2) };
  }
  return positions;
}
