import { describe, expect, it } from "vitest";

import { ApiClient, ApiError, type Fetch } from "../../src/apiClient";
import { storedToken, storeToken } from "../../src/session";

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A fetch that records each request and answers from a script: (status, JSON or text). */
function fakeFetch(...answers: [number, unknown][]): { fetch: Fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fetch: Fetch = async (url, init) => {
    calls.push({
      url,
      method: init?.method ?? "GET",
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: init?.body as string | undefined,
    });
    const [status, data] = answers.shift() ?? [500, "no answer scripted"];
    return new Response(typeof data === "string" ? data : JSON.stringify(data), { status });
  };
  return { fetch, calls };
}

describe("ApiClient", () => {
  it("sends the bearer token and reads the campaign list", async () => {
    const list = [{ name: "upcoming_stays", state: "live", published_version: 1, draft_version: null }];
    const { fetch, calls } = fakeFetch([200, list]);
    const api = new ApiClient("cantata_abc_secret", "http://api.test", fetch);
    expect(await api.listCampaigns()).toEqual(list);
    expect(calls[0]).toMatchObject({ url: "http://api.test/campaigns", method: "GET" });
    expect(calls[0]!.headers.Authorization).toBe("Bearer cantata_abc_secret");
  });

  it("sends no Authorization header without a token", async () => {
    const { fetch, calls } = fakeFetch([200, { status: "ok", version: "0.1.0" }]);
    await new ApiClient("", "", fetch).health();
    expect(calls[0]!.headers.Authorization).toBeUndefined();
    expect(calls[0]!.url).toBe("/health");
  });

  it("posts the document as YAML to validate, test, save and publish", async () => {
    const { fetch, calls } = fakeFetch(
      [200, { campaign: "c", valid: true, activities: 2, transitions: 1 }],
      [201, { run: { id: 7, status: "completed" }, activities: {}, transitions: [{ from: "a.out", to: ["b"], rows: 3, activated: true }] }],
      [200, { campaign: "c", version: 2, status: "draft", created_at: "t" }],
      [200, { campaign: "c", version: 2, status: "published", created_at: "t", state: "live" }],
    );
    const api = new ApiClient("t", "", fetch);
    const text = "name: c\nnodes: []\n";
    expect((await api.validate(text)).activities).toBe(2);
    expect((await api.test(text)).transitions[0]!.rows).toBe(3);
    expect((await api.saveDraft("c", text)).version).toBe(2);
    expect((await api.publish("c", text)).state).toBe("live");
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "POST /campaigns/validate",
      "POST /campaigns/test",
      "PUT /campaigns/c/draft",
      "POST /campaigns/c/publish",
    ]);
    for (const call of calls) {
      expect(call.body).toBe(text);
      expect(call.headers["Content-Type"]).toBe("application/yaml");
    }
  });

  it("passes test variables as var=NAME=VALUE", async () => {
    const { fetch, calls } = fakeFetch([201, { run: { id: 1, status: "completed" }, activities: {}, transitions: [] }]);
    await new ApiClient("t", "", fetch).test("name: c\n", { offer_code: "A&B=1", n: "3" });
    expect(calls[0]!.url).toBe("/campaigns/test?var=offer_code%3DA%26B%3D1&var=n%3D3");
    expect(new URLSearchParams(calls[0]!.url.split("?")[1]).getAll("var")).toEqual(["offer_code=A&B=1", "n=3"]);
  });

  it("starts a run with its variables as JSON and the Idempotency-Key", async () => {
    const { fetch, calls } = fakeFetch([201, { run: { id: 4, status: "waiting" }, activities: {}, transitions: [] }]);
    const started = await new ApiClient("t", "", fetch).startRun("up stays", { limit: 3 }, "ui-k1");
    expect(started.run.id).toBe(4);
    expect(calls[0]).toMatchObject({ url: "/campaigns/up%20stays/runs", method: "POST", body: '{"variables":{"limit":3}}' });
    expect(calls[0]!.headers).toMatchObject({ "Idempotency-Key": "ui-k1", "Content-Type": "application/json", Authorization: "Bearer t" });
  });

  it("reads runs, moves them and previews a transition's rows", async () => {
    const { fetch, calls } = fakeFetch(
      [200, [{ id: 2, status: "waiting" }]],
      [200, { run: { id: 2 }, activities: [], transitions: [] }],
      [200, { id: 2, status: "paused" }],
      [200, { run: 2, transition: "segments.gold", columns: ["customer_id"], rows: [{ customer_id: 1 }] }],
      [200, { campaign: "c", activities: [] }],
    );
    const api = new ApiClient("t", "", fetch);
    expect(await api.listRuns("c", 5)).toEqual([{ id: 2, status: "waiting" }]);
    await api.getRun(2);
    await api.moveRun(2, "pause");
    expect((await api.transitionRows(2, "segments.gold")).rows).toEqual([{ customer_id: 1 }]);
    await api.report("c");
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "GET /campaigns/c/runs?limit=5",
      "GET /runs/2",
      "POST /runs/2/pause",
      "GET /runs/2/transitions/segments.gold/rows?limit=20",
      "GET /campaigns/c/report",
    ]);
    expect(calls[2]!.body).toBeUndefined();
  });

  it("counts and saves audiences with the rule as given", async () => {
    const { fetch, calls } = fakeFetch(
      [200, { entity: "customer", count: 3 }],
      [201, { name: "gold", version: 2, entity: "customer", size: 5, mode: "append" }],
      [200, []],
    );
    const api = new ApiClient("t", "", fetch);
    expect((await api.countAudience("customer", 'tier = "gold"')).count).toBe(3);
    expect((await api.saveAudience("gold", "customer", { field: "tier", op: "eq", value: "gold" }, true)).version).toBe(2);
    expect(await api.listAudiences()).toEqual([]);
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(["POST /audiences/count", "PUT /audiences/gold", "GET /audiences"]);
    expect(JSON.parse(calls[0]!.body!)).toEqual({ entity: "customer", rule: 'tier = "gold"' });
    expect(JSON.parse(calls[1]!.body!)).toEqual({ entity: "customer", rule: { field: "tier", op: "eq", value: "gold" }, append: true });
    expect(calls[1]!.headers["Content-Type"]).toBe("application/json");
  });

  it("reads the model and asks for a rule's SQL in a dialect", async () => {
    const model = {
      customer: { rows: 400, key: "customer_id", recipient: true, version: null, fields: { customer_id: "integer", tier: "string" }, links: {} },
    };
    const { fetch, calls } = fakeFetch(
      [200, model],
      [200, { entity: "customer", dialect: "postgres", sql: 'SELECT "customer"."customer_id"' }],
      [422, { error: "1 problem in the rule", where: null, problems: [{ path: "field", message: "no field 'tierz'" }] }],
    );
    const api = new ApiClient("t", "", fetch);
    expect(await api.model()).toEqual(model);
    expect((await api.audienceSql("customer", 'tier = "gold"', "postgres")).sql).toBe('SELECT "customer"."customer_id"');
    const failure = await api.audienceSql("customer", 'tierz = "gold"', "spark").catch((e: unknown) => e);
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(["GET /model", "POST /audiences/sql", "POST /audiences/sql"]);
    expect(calls[0]!.body).toBeUndefined();
    expect(JSON.parse(calls[1]!.body!)).toEqual({ entity: "customer", rule: 'tier = "gold"', dialect: "postgres" });
    expect(calls[1]!.headers["Content-Type"]).toBe("application/json");
    expect(JSON.parse(calls[2]!.body!).dialect).toBe("spark");
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).problems).toEqual([{ path: "field", message: "no field 'tierz'" }]);
  });

  it("reads a version's definition and escapes names in paths", async () => {
    const { fetch, calls } = fakeFetch([200, { campaign: "a b", version: 3, definition: { name: "a b", nodes: [] } }]);
    expect(await new ApiClient("t", "", fetch).getDefinition("a b", 3)).toEqual({ name: "a b", nodes: [] });
    expect(calls[0]!.url).toBe("/campaigns/a%20b/versions/3");
  });

  it("turns a 422 into an ApiError carrying every problem", async () => {
    const problems = [{ path: "nodes.stays.settings.rule.field", line: 5, node: "stays", message: "no field 'nightz'" }];
    const { fetch } = fakeFetch([422, { error: "1 problem in the campaign", where: null, problems }]);
    const failure = await new ApiClient("t", "", fetch).validate("x").catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApiError);
    expect(failure).toMatchObject({ status: 422, message: "1 problem in the campaign", where: null, problems });
  });

  it("keeps the API's message and place for 401 and 403", async () => {
    const { fetch } = fakeFetch(
      [401, { error: "invalid or revoked token", where: "Authorization" }],
      [403, { error: "token 'ci' is a viewer; this needs the publisher role or above", where: "Authorization" }],
    );
    const api = new ApiClient("bad", "", fetch);
    await expect(api.listCampaigns()).rejects.toMatchObject({ status: 401, message: "invalid or revoked token", where: "Authorization" });
    await expect(api.publish("c", "x")).rejects.toMatchObject({ status: 403, message: expect.stringContaining("publisher") });
  });

  it("names the request when the answer is not the API's JSON", async () => {
    const { fetch } = fakeFetch([502, "Bad Gateway"]);
    await expect(new ApiClient("t", "", fetch).getCampaign("c")).rejects.toMatchObject({
      status: 502,
      message: "GET /campaigns/c answered 502: Bad Gateway",
      problems: [],
    });
  });

  it("says where it could not connect", async () => {
    const api = new ApiClient("t", "http://127.0.0.1:9", async () => {
      throw new TypeError("fetch failed");
    });
    await expect(api.health()).rejects.toMatchObject({ status: 0, message: expect.stringContaining("http://127.0.0.1:9") });
  });
});

describe("the stored token", () => {
  it("is kept, read back and cleared", () => {
    const values = new Map<string, string>();
    const storage = {
      getItem: (k: string) => values.get(k) ?? null,
      setItem: (k: string, v: string) => void values.set(k, v),
      removeItem: (k: string) => void values.delete(k),
    };
    expect(storedToken(storage)).toBe("");
    storeToken("cantata_x_y", storage);
    expect(storedToken(storage)).toBe("cantata_x_y");
    storeToken("", storage);
    expect(values.size).toBe(0);
  });
});
