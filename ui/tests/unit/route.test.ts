import { describe, expect, it } from "vitest";

import { routeOf } from "../../src/App";
import { hrefOf, pageOf, type Route } from "../../src/routes";

describe("routeOf", () => {
  it("reads the page from the address's hash", () => {
    expect(routeOf("#/campaigns/upcoming%20stays")).toBe("/campaigns/upcoming stays");
    expect(routeOf("")).toBe("/");
  });

  it("falls back to the campaigns on a malformed hash", () => {
    expect(routeOf("#%E0")).toBe("/");
  });
});

describe("pageOf", () => {
  it("knows every page", () => {
    expect(pageOf("/")).toEqual({ page: "campaigns" });
    expect(pageOf("/audiences")).toEqual({ page: "audiences" });
    expect(pageOf("/campaigns/stays")).toEqual({ page: "canvas", name: "stays", isNew: false });
    expect(pageOf("/campaigns/stays?new")).toEqual({ page: "canvas", name: "stays", isNew: true });
    expect(pageOf("/campaigns/stays/runs")).toEqual({ page: "runs", name: "stays", run: null });
    expect(pageOf("/campaigns/stays/runs/12")).toEqual({ page: "runs", name: "stays", run: 12 });
    expect(pageOf("/campaigns/stays/report")).toEqual({ page: "report", name: "stays" });
  });

  it("shows the campaigns for an address it does not know", () => {
    expect(pageOf("/campaigns/stays/runs/x")).toEqual({ page: "campaigns" });
    expect(pageOf("/nowhere")).toEqual({ page: "campaigns" });
  });

  it("reads back every address it writes", () => {
    const pages: Route[] = [
      { page: "campaigns" },
      { page: "audiences" },
      { page: "canvas", name: "a.b-c_d", isNew: true },
      { page: "runs", name: "a.b-c_d", run: 3 },
      { page: "runs", name: "x", run: null },
      { page: "report", name: "x" },
    ];
    for (const p of pages) expect(pageOf(routeOf(hrefOf(p)))).toEqual(p);
  });
});
