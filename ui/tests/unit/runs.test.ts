import { describe, expect, it } from "vitest";

import type { ActivityRun } from "../../src/apiClient";
import { declaredVariables, newIdempotencyKey, startVariables, testVariables } from "../../src/campaignVariables";
import { cellText, countsText, inCanvasOrder, movesFor } from "../../src/runView";

describe("a campaign's variables", () => {
  const definition = {
    name: "c",
    variables: {
      offer_code: { type: "string", default: "WELCOME10", description: "Code" },
      limit: { type: "integer" },
      vip_only: { type: "boolean", default: false },
      budget: { type: "decimal", default: "10.50" },
    },
  };
  const declared = declaredVariables(definition);

  it("are read from the document", () => {
    expect(declared).toEqual([
      { name: "offer_code", type: "string", default: "WELCOME10", description: "Code" },
      { name: "limit", type: "integer", default: null, description: "" },
      { name: "vip_only", type: "boolean", default: false, description: "" },
      { name: "budget", type: "decimal", default: "10.50", description: "" },
    ]);
    expect(declaredVariables({ name: "c" })).toEqual([]);
    expect(declaredVariables(null)).toEqual([]);
  });

  it("go to a test run as text, the empty ones left to their defaults", () => {
    expect(testVariables({ offer_code: "JUNE", limit: "", vip_only: "true" })).toEqual({ offer_code: "JUNE", vip_only: "true" });
  });

  it("go to a start typed as the server reads them", () => {
    expect(startVariables(declared, { offer_code: " 42 ", limit: "12", vip_only: "true", budget: "9.99" })).toEqual({
      offer_code: " 42 ",
      limit: 12,
      vip_only: true,
      budget: "9.99",
    });
    // Not an integer: sent as typed, for the server to name it.
    expect(startVariables(declared, { limit: "twelve", vip_only: "yes" })).toEqual({ limit: "twelve", vip_only: "yes" });
  });

  it("start with a fresh idempotency key each time", () => {
    expect(newIdempotencyKey(() => "abc")).toBe("ui-abc");
    expect(newIdempotencyKey()).not.toBe(newIdempotencyKey());
  });
});

describe("a run", () => {
  it("offers the moves its status allows", () => {
    expect(movesFor("waiting")).toEqual(["pause", "resume", "stop"]);
    expect(movesFor("paused")).toEqual(["resume", "stop"]);
    expect(movesFor("suspended")).toEqual(["resume", "stop"]);
    expect(movesFor("completed")).toEqual([]);
    expect(movesFor("stopped")).toEqual([]);
  });

  it("lists its activities in the canvas's order", () => {
    const a = (node: string): ActivityRun => ({
      node,
      status: "done",
      attempt: 1,
      as_of: "t",
      wake_at: null,
      counts: {},
      details: {},
      error: null,
      elapsed_ms: 1,
      statements: [],
    });
    expect(inCanvasOrder([a("email"), a("extra"), a("stays"), a("split")], ["stays", "split", "email"]).map((x) => x.node)).toEqual([
      "stays",
      "split",
      "email",
      "extra",
    ]);
  });

  it("writes its rows per port and the cells of a preview", () => {
    expect(countsText({ gold: 1204, others: 3 })).toBe("gold 1,204 · others 3");
    expect(cellText([{ hotel: "Adlon" }])).toBe('[{"hotel":"Adlon"}]');
    expect(cellText(null)).toBe("");
    expect(cellText(7)).toBe("7");
  });
});
