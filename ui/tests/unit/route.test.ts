import { describe, expect, it } from "vitest";

import { routeOf } from "../../src/App";

describe("routeOf", () => {
  it("reads the page from the address's hash", () => {
    expect(routeOf("#/campaigns/upcoming%20stays")).toBe("/campaigns/upcoming stays");
    expect(routeOf("")).toBe("/");
  });

  it("falls back to the campaigns on a malformed hash", () => {
    expect(routeOf("#%E0")).toBe("/");
  });
});
