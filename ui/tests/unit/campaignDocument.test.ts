import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import {
  addNode,
  campaignText,
  type CampaignDocument,
  connect,
  DocumentTextError,
  edgeKey,
  moveNodes,
  parseCampaignText,
  parseSettingsText,
  removeEdges,
  removeNodes,
  settingsText,
  updateNode,
} from "../../src/campaignDocument";

const example = (name: string) =>
  readFileSync(fileURLToPath(new URL(`../../../examples/${name}`, import.meta.url)), "utf8");

describe("the document as text", () => {
  it("reads the example campaign and writes it back to the same data", () => {
    const doc = parseCampaignText(example("upcoming_stays.yaml"));
    expect(doc.name).toBe("upcoming_stays");
    expect(doc.nodes.map((n) => n.id)).toEqual([
      "stays", "customers", "one_per_address", "next_stay", "segments", "email_gold", "sms_others",
    ]);
    expect(doc.edges).toContainEqual({ from: "segments.gold", to: "email_gold" });
    expect(parseCampaignText(campaignText(doc))).toEqual(doc);
  });

  it("round-trips every example in examples/", () => {
    for (const file of ["upcoming_stays.yaml", "flight_checkin_reminders.yaml", "pre_arrival_journey.yaml"]) {
      const doc = parseCampaignText(example(file));
      expect(parseCampaignText(campaignText(doc)), file).toEqual(doc);
    }
  });

  it("keeps wall-clock times and dates as the text wrote them", () => {
    const doc = parseCampaignText("name: t\nschedule: {daily: {at: 08:00}, start: 2026-04-01}\nnodes: []\n");
    expect(doc.schedule).toEqual({ daily: { at: "08:00" }, start: "2026-04-01" });
  });

  it("writes name first, nodes and edges last, one line per edge", () => {
    const text = campaignText({
      nodes: [{ id: "a", type: "start" }, { id: "b", type: "end" }],
      edges: [{ from: "a", to: "b" }],
      time_zone: "UTC",
      name: "order",
    });
    expect(text).toBe(
      "name: order\ntime_zone: UTC\nnodes:\n  - id: a\n    type: start\n  - id: b\n    type: end\nedges:\n  - {from: a, to: b}\n",
    );
  });

  it("reads JSON text too (a stored version's definition)", () => {
    const doc = parseCampaignText(JSON.stringify({ name: "j", nodes: [{ id: "s", type: "start" }] }));
    expect(doc).toEqual({ name: "j", nodes: [{ id: "s", type: "start" }], edges: [] });
  });

  it("names the line of a YAML syntax error", () => {
    const attempt = () => parseCampaignText("name: x\nnodes:\n  - id: a\n   type: [\n");
    expect(attempt).toThrow(DocumentTextError);
    try {
      attempt();
    } catch (e) {
      expect((e as DocumentTextError).line).toBeGreaterThanOrEqual(3);
    }
  });

  it("refuses text it cannot draw", () => {
    expect(() => parseCampaignText("- a\n- b\n")).toThrow(/must be a mapping/);
    expect(() => parseCampaignText("name: x\nnodes: {a: 1}\n")).toThrow(/nodes must be a list/);
    expect(() => parseCampaignText("name: x\nnodes: []\nedges: [{from: a}]\n")).toThrow(/edges must be a list/);
  });
});

describe("canvas edits", () => {
  const base = parseCampaignText(example("upcoming_stays.yaml"));

  it("adds a node with a fresh id and starter settings", () => {
    const once = addNode(base, "email", { x: 10.4, y: 20.6 });
    expect(once.id).toBe("email");
    const twice = addNode(once.doc, "email");
    expect(twice.id).toBe("email2");
    expect(twice.doc.nodes.at(-2)).toEqual({ id: "email", type: "email", settings: { subject: "", body: "" }, position: { x: 10, y: 21 } });
  });

  it("connects a port, writing `node` for out and `node.port` otherwise", () => {
    let doc = addNode(base, "wait").doc;
    doc = connect(doc, "email_gold", "out", "wait");
    expect(doc.edges.at(-1)).toEqual({ from: "email_gold", to: "wait" });
    doc = connect(doc, "segments", "holdout", "wait");
    expect(doc.edges.at(-1)).toEqual({ from: "segments.holdout", to: "wait" });
  });

  it("replaces the edge a port already had, except from a fork", () => {
    const moved = connect(base, "segments", "gold", "sms_others");
    expect(moved.edges.filter((e) => e.from === "segments.gold")).toEqual([{ from: "segments.gold", to: "sms_others" }]);
    expect(moved.edges).toHaveLength(base.edges.length);

    let fork: CampaignDocument = { name: "f", nodes: [{ id: "f", type: "fork" }, { id: "a", type: "email" }, { id: "b", type: "sms" }], edges: [] };
    fork = connect(connect(fork, "f", "out", "a"), "f", "out", "b");
    expect(fork.edges).toEqual([{ from: "f", to: "a" }, { from: "f", to: "b" }]);
    expect(connect(fork, "f", "out", "a").edges).toHaveLength(2);
  });

  it("deletes a node with every edge that touches it", () => {
    const doc = removeNodes(base, ["segments"]);
    expect(doc.nodes.some((n) => n.id === "segments")).toBe(false);
    expect(doc.edges.map((e) => e.from)).toEqual(["stays", "customers", "one_per_address"]);
  });

  it("deletes edges by key", () => {
    const doc = removeEdges(base, ["segments.gold->email_gold"]);
    expect(doc.edges.map(edgeKey)).not.toContain("segments.gold->email_gold");
    expect(doc.edges).toHaveLength(base.edges.length - 1);
  });

  it("keeps moved positions as whole numbers", () => {
    const doc = moveNodes(base, { stays: { x: 1.6, y: -2.2 } });
    expect(doc.nodes[0]!.position).toEqual({ x: 2, y: -2 });
    expect(doc.nodes[1]!.position).toBeUndefined();
  });

  it("renames a node in every edge, keeping the edge's form", () => {
    const doc = updateNode(base, "segments", { id: "tiers", label: "By tier" });
    expect(doc.nodes[4]).toMatchObject({ id: "tiers", type: "split", label: "By tier" });
    expect(doc.edges).toContainEqual({ from: "next_stay", to: "tiers" });
    expect(doc.edges).toContainEqual({ from: "tiers.gold", to: "email_gold" });
    const plain = updateNode(base, "stays", { id: "bookings" });
    expect(plain.edges[0]).toEqual({ from: "bookings", to: "customers" });
  });

  it("removes an emptied label and replaces settings", () => {
    const labelled = updateNode(base, "stays", { label: "" });
    expect("label" in labelled.nodes[0]!).toBe(false);
    const changed = updateNode(base, "customers", { settings: { link: "guest" } });
    expect(changed.nodes[1]!.settings).toEqual({ link: "guest" });
  });
});

describe("settings text", () => {
  it("round-trips YAML and reads JSON", () => {
    const settings = { subsets: [{ name: "gold", rule: 'tier = "gold"' }], skip_empty: true };
    expect(parseSettingsText(settingsText(settings))).toEqual(settings);
    expect(parseSettingsText('{"link": "customer"}')).toEqual({ link: "customer" });
    expect(parseSettingsText("  ")).toEqual({});
    expect(settingsText({})).toBe("");
  });

  it("refuses settings that are not a mapping", () => {
    expect(() => parseSettingsText("- a")).toThrow(/must be a mapping/);
    expect(() => parseSettingsText("a: [")).toThrow(DocumentTextError);
  });
});
