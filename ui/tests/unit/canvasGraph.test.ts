import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import { outputPorts } from "../../src/activities";
import { parseCampaignText } from "../../src/campaignDocument";
import { canvasEdges, canvasNodes, countsFromTransitions, edgeLabel } from "../../src/canvasGraph";
import { layoutPositions, NODE_HEIGHT, nodeWidth } from "../../src/layout";

const doc = parseCampaignText(
  readFileSync(fileURLToPath(new URL("../../../examples/upcoming_stays.yaml", import.meta.url)), "utf8"),
);

describe("document → canvas", () => {
  it("draws a node per activity with its kind and one handle per output port", () => {
    const nodes = canvasNodes(doc, layoutPositions(doc));
    const byId = Object.fromEntries(nodes.map((n) => [n.id, n.data]));
    expect(byId.stays).toMatchObject({ kind: "source", ports: ["out"], input: false });
    expect(byId.customers).toMatchObject({ kind: "targeting", ports: ["out", "complement"], input: true });
    expect(byId.segments!.ports).toEqual(["holdout", "gold", "others", "complement"]);
    expect(byId.email_gold).toMatchObject({ kind: "channel", ports: ["out"] });
  });

  it("gives an edge's undeclared port a handle so the edge is still drawn", () => {
    const typo = { ...doc, edges: [...doc.edges, { from: "segments.gld", to: "sms_others" }] };
    const segments = canvasNodes(typo, {}).find((n) => n.id === "segments")!;
    expect(segments.data.ports).toContain("gld");
  });

  it("draws edges from their port, labelled with it", () => {
    const edges = canvasEdges(doc, null);
    expect(edges).toHaveLength(6);
    expect(edges.find((e) => e.target === "email_gold")).toMatchObject({
      id: "segments.gold->email_gold",
      source: "segments",
      sourceHandle: "gold",
      label: "gold",
    });
    expect(edges[0]).toMatchObject({ source: "stays", sourceHandle: "out", label: "out" });
  });

  it("skips edges naming unknown nodes (the server reports them)", () => {
    const broken = { ...doc, edges: [...doc.edges, { from: "ghost", to: "stays" }] };
    expect(canvasEdges(broken, null)).toHaveLength(6);
  });

  it("labels edges with a test run's rows", () => {
    const counts = countsFromTransitions([
      { from: "stays.out", rows: 1234, activated: true },
      { from: "segments.gold", rows: 0, activated: false },
      { from: "email_gold.out", rows: null, activated: false },
    ]);
    expect(counts).toEqual({ "stays.out": { rows: 1234, activated: true }, "segments.gold": { rows: 0, activated: false } });
    const labels = Object.fromEntries(canvasEdges(doc, counts).map((e) => [e.id, e.label]));
    expect(labels["stays.out->customers"]).toBe("out · 1,234");
    expect(labels["segments.gold->email_gold"]).toBe("gold · 0 (not activated)");
    expect(labels["customers.out->one_per_address"]).toBe("out");
    expect(edgeLabel("segments.others", counts)).toBe("others");
  });

  it("marks the nodes and edges the server's problems name", () => {
    const problems = [
      { path: "nodes.customers.settings.link", message: "no link 'guest'", node: "customers" },
      { path: "edges[5].from", message: "no port", node: "segments" },
    ];
    const nodes = canvasNodes(doc, {}, problems);
    expect(nodes.find((n) => n.id === "customers")!.data.problems).toEqual(["no link 'guest'"]);
    expect(nodes.find((n) => n.id === "stays")!.data.problems).toEqual([]);
    const edges = canvasEdges(doc, null, problems);
    expect(edges.filter((e) => e.className === "problem").map((e) => e.id)).toEqual(["segments.others->sms_others"]);
  });
});

describe("output ports", () => {
  it("follow the settings of splits, tests and combines", () => {
    expect(outputPorts("test", { branches: [{ name: "many", when: "count(a) > 1" }] })).toEqual(["many", "default"]);
    expect(outputPorts("combine", { operation: "union" })).toEqual(["out"]);
    expect(outputPorts("combine", { operation: "exclusion" })).toEqual(["out", "complement"]);
    expect(outputPorts("end", {})).toEqual([]);
    expect(outputPorts("split", undefined)).toEqual(["complement"]);
  });
});

describe("layout", () => {
  it("ranks every node below the ones it comes from", () => {
    const positions = layoutPositions(doc);
    for (const edge of doc.edges) {
      const from = edge.from.split(".")[0]!;
      expect(positions[edge.to]!.y, `${edge.from} → ${edge.to}`).toBeGreaterThanOrEqual(positions[from]!.y + NODE_HEIGHT);
    }
  });

  it("puts the two channels of the split side by side", () => {
    const positions = layoutPositions(doc);
    expect(positions.email_gold!.y).toBe(positions.sms_others!.y);
    expect(positions.email_gold!.x).not.toBe(positions.sms_others!.x);
  });

  it("keeps a position written in the document", () => {
    const placed = { ...doc, nodes: doc.nodes.map((n) => (n.id === "next_stay" ? { ...n, position: { x: 900, y: 5 } } : n)) };
    expect(layoutPositions(placed).next_stay).toEqual({ x: 900, y: 5 });
  });

  it("lays out a document with a cycle or a dangling edge without failing", () => {
    const odd = {
      name: "odd",
      nodes: [{ id: "a", type: "fork" }, { id: "b", type: "fork" }],
      edges: [{ from: "a", to: "b" }, { from: "b", to: "a" }, { from: "a", to: "ghost" }],
    };
    expect(Object.keys(layoutPositions(odd))).toEqual(["a", "b"]);
  });
});

describe("ports that lead nowhere", () => {
  it("carry a test run's rows on their handle", () => {
    const counts = countsFromTransitions([
      { from: "segments.holdout", rows: 3, activated: true },
      { from: "segments.gold", rows: 2, activated: true },
      { from: "email_gold.out", rows: 2, activated: false },
    ]);
    const byId = Object.fromEntries(canvasNodes(doc, {}, [], counts).map((n) => [n.id, n.data]));
    expect(byId.segments!.unlinked).toEqual({ holdout: 3 });
    expect(byId.email_gold!.unlinked).toEqual({ out: 2 });
    expect(byId.stays!.unlinked).toEqual({});
  });
});

describe("node width", () => {
  it("grows with the ports so their names do not overlap", () => {
    expect(nodeWidth(1)).toBe(190);
    expect(nodeWidth(4)).toBeGreaterThan(nodeWidth(2));
    const positions = layoutPositions(doc);
    // The split's four ports widen it; its neighbours in the column stay centred under it.
    expect(positions.segments!.x + nodeWidth(4) / 2).toBeCloseTo(positions.next_stay!.x + nodeWidth(1) / 2, 0);
  });
});
