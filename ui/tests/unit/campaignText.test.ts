// Canvas edits carried into an author's text: the data is the edit's, and every comment outside
// the part the edit removed or rewrote is still there, verbatim.
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";
import { isMap, isSeq, LineCounter, parseDocument, type YAMLSeq } from "yaml";

import {
  addNode,
  type CampaignDocument,
  campaignText,
  connect,
  edgeKey,
  editedCampaignText,
  moveNodes,
  newCampaign,
  parseCampaignText,
  removeEdges,
  removeNodes,
  updateNode,
} from "../../src/campaignDocument";

const examplesDir = fileURLToPath(new URL("../../../examples/", import.meta.url));
const EXAMPLES = readdirSync(examplesDir).filter((f) => f.endsWith(".yaml")).sort();

interface Comment {
  line: number; // 1-based
  text: string; // a whole comment line, or a trailing `# ...`
  whole: boolean;
}

/** The comments of a text: `#` at a line's start or after a space (not `<b>#{{` in a body). */
function comments(text: string): Comment[] {
  const found: Comment[] = [];
  text.split("\n").forEach((line, i) => {
    if (/^\s*#/.test(line)) found.push({ line: i + 1, text: line, whole: true });
    else {
      const at = line.search(/\s#/);
      if (at >= 0) found.push({ line: i + 1, text: line.slice(at + 1), whole: false });
    }
  });
  return found;
}

/** The source lines of an example's nodes/edges items and settings keys, for what an edit removes. */
function sourceMap(text: string) {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines });
  const lineOf = (offset: number) => lines.linePos(offset).line;
  // An item owns its lines and the comment lines above it, back to the item before.
  const itemLines = (seq: YAMLSeq, index: number): [number, number] => {
    const item = seq.items[index] as { range: [number, number, number] };
    const previous = index > 0 ? (seq.items[index - 1] as { range: [number, number, number] }) : null;
    const first = previous ? lineOf(previous.range[1] - 1) + 1 : lineOf(item.range[0]);
    return [first, lineOf(item.range[1] - 1)];
  };
  const seqAt = (key: string) => {
    const seq = document.get(key, true);
    if (!isSeq(seq)) throw new Error(`${key} is not a list`);
    return seq;
  };
  return {
    node: (index: number) => itemLines(seqAt("nodes"), index),
    edge: (index: number) => itemLines(seqAt("edges"), index),
    settingsKey: (index: number, key: string): [number, number] => {
      const settings = document.getIn(["nodes", index, "settings"], true);
      if (!isMap(settings)) throw new Error(`nodes[${index}] has no settings`);
      const pair = settings.items.find((p) => (p.key as { value?: unknown }).value === key)!;
      const keyRange = (pair.key as { range: [number, number, number] }).range;
      const valueRange = (pair.value as { range: [number, number, number] }).range;
      return [lineOf(keyRange[0]), lineOf(valueRange[1] - 1)];
    },
  };
}

interface Edit {
  kind: string;
  data: CampaignDocument;
  removed: [number, number][]; // line ranges of the original the edit removes or rewrites
}

function editsOf(text: string): Edit[] {
  const base = parseCampaignText(text);
  const source = sourceMap(text);
  const edgesGone = (data: CampaignDocument): [number, number][] => {
    const kept = new Set(data.edges.map(edgeKey));
    return base.edges.flatMap((e, i) => (kept.has(edgeKey(e)) ? [] : [source.edge(i)]));
  };
  const middle = Math.floor(base.nodes.length / 2);
  const first = base.nodes[0]!.id;
  const last = base.nodes.at(-1)!.id;
  const edits: Edit[] = [
    { kind: "move a node", data: moveNodes(base, { [first]: { x: 12.3, y: 45.6 }, [last]: { x: -7, y: 300 } }), removed: [] },
    { kind: "add a node", data: addNode(base, "email", { x: 40, y: 900 }).doc, removed: [] },
    { kind: "rename a node", data: updateNode(base, base.nodes[middle]!.id, { id: "renamed", label: "Renamed" }), removed: [] },
  ];
  const connected = connect(base, base.nodes[middle]!.id, "out", last);
  edits.push({ kind: "connect", data: connected, removed: edgesGone(connected) });
  const edgeCut = removeEdges(base, [edgeKey(base.edges[1]!)]);
  edits.push({ kind: "delete an edge", data: edgeCut, removed: edgesGone(edgeCut) });
  const nodeCut = removeNodes(base, [base.nodes[middle]!.id]);
  edits.push({ kind: "delete a node", data: nodeCut, removed: [source.node(middle), ...edgesGone(nodeCut)] });
  base.nodes.forEach((node, index) => {
    const key = Object.keys(node.settings ?? {})[0];
    if (key === undefined) return;
    const data = updateNode(base, node.id, { settings: { ...node.settings, [key]: "edited", added: [1, 2] } });
    edits.push({ kind: `edit ${node.id}'s settings`, data, removed: [source.settingsKey(index, key)] });
  });
  return edits;
}

describe.each(EXAMPLES)("canvas edits on examples/%s", (file) => {
  const original = readFileSync(`${examplesDir}${file}`, "utf8");
  const originalComments = comments(original);

  it("has comments to keep", () => {
    expect(originalComments.length).toBeGreaterThan(3);
  });

  it.each(editsOf(original).map((e) => [e.kind, e] as const))("%s: the edit's data, the other comments kept", (_kind, edit) => {
    const text = editedCampaignText(original, edit.data);
    expect(parseCampaignText(text)).toEqual(edit.data);
    const resultLines = text.split("\n");
    const inRemoved = (line: number) => edit.removed.some(([a, b]) => line >= a && line <= b);
    for (const c of originalComments) {
      if (inRemoved(c.line)) continue;
      if (c.whole) expect(resultLines, `line ${c.line}`).toContain(c.text);
      else expect(text, `line ${c.line}`).toContain(c.text);
    }
  });
});

describe("edited text", () => {
  const text = "# head\nname: t\nnodes:\n  # the start\n  - id: a   # first\n    type: start\n\n  - id: b\n    type: end\nedges:\n  - {from: a, to: b}\n";

  it("touches only the lines of what changed", () => {
    const data = parseCampaignText(text);
    const moved = editedCampaignText(text, moveNodes(data, { b: { x: 1, y: 2 } }));
    expect(moved).toBe(text.replace("    type: end\n", "    type: end\n    position:\n      x: 1\n      y: 2\n").replace("a   #", "a #"));
  });

  it("places a new label before settings and a new edge on one line, a new node set apart", () => {
    const data = parseCampaignText(text);
    const labelled = editedCampaignText(text, updateNode(data, "a", { label: "Start here" }));
    expect(labelled).toContain("  - id: a # first\n    type: start\n    label: Start here\n");
    const added = addNode(data, "end").doc;
    const grown = editedCampaignText(text, connect(added, "b", "out", "end"));
    expect(grown).toContain("    type: end\n\n  - id: end\n    type: end\n    settings: {}\n");
    expect(grown).toContain("  - {from: a, to: b}\n  - {from: b, to: end}\n");
  });

  it("keeps JSON text JSON", () => {
    const json = JSON.stringify({ name: "j", nodes: [{ id: "s", type: "start" }], edges: [] });
    const data = addNode(parseCampaignText(json), "end").doc;
    const edited = editedCampaignText(json, data);
    expect(JSON.parse(edited)).toEqual(data);
  });

  it("writes a new or unreadable text whole", () => {
    const fresh = newCampaign("n");
    const data = addNode(fresh, "start").doc;
    expect(editedCampaignText(campaignText(fresh), data)).toBe(campaignText(data));
    expect(editedCampaignText("name: [", data)).toBe(campaignText(data));
  });

  it("unquotes a quoted scalar whose value becomes a number", () => {
    const quoted = 'name: q\nnodes:\n  - id: w\n    type: wait\n    settings: {duration: "5"}\nedges: []\n';
    const data = updateNode(parseCampaignText(quoted), "w", { settings: { duration: 5 } });
    expect(parseCampaignText(editedCampaignText(quoted, data))).toEqual(data);
  });
});
