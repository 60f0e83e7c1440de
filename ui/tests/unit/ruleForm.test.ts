import { describe, expect, it } from "vitest";

import {
  formatSimpleRule,
  formatValue,
  parseSimpleRule,
  readValue,
  rowOfPath,
  type SimpleRule,
  simpleRuleFromJson,
  simpleRuleToJson,
  withOperator,
} from "../../src/ruleForm";

// Text and JSON pairs from docs/rules.md: each text reads as the JSON the server stores.
const PAIRS: [string, Record<string, unknown>][] = [
  ['tier = "gold"', { field: "tier", op: "eq", value: "gold" }],
  ['tier != "gold"', { field: "tier", op: "ne", value: "gold" }],
  ["nights < 3", { field: "nights", op: "lt", value: 3 }],
  ["nights <= 3", { field: "nights", op: "lte", value: 3 }],
  ["amount > 1000", { field: "amount", op: "gt", value: 1000 }],
  ["hotel.stars >= 4", { field: "hotel.stars", op: "gte", value: 4 }],
  ['country in ("FR", "DE")', { field: "country", op: "in", value: ["FR", "DE"] }],
  ['country not in ("FR")', { field: "country", op: "not_in", value: ["FR"] }],
  ["nights between 2 and 5", { field: "nights", op: "between", value: [2, 5] }],
  ["phone is null", { field: "phone", op: "is_null" }],
  ["phone is not null", { field: "phone", op: "not_null" }],
  ['email contains "@example"', { field: "email", op: "contains", value: "@example" }],
  ['email not contains "+"', { field: "email", op: "not_contains", value: "+" }],
  ['last_name starts with "Mc"', { field: "last_name", op: "starts_with", value: "Mc" }],
  ['email ends with ".fr"', { field: "email", op: "ends_with", value: ".fr" }],
  ['postal_code like "75___"', { field: "postal_code", op: "like", value: "75___" }],
  ["check_in >= today() - 30d", { field: "check_in", op: "gte", value: { ago: "30d" } }],
  ["check_in <= today() + 2w", { field: "check_in", op: "lte", value: { ahead: "2w" } }],
  ["updated_at >= now() - 2h", { field: "updated_at", op: "gte", value: { ago: "2h" } }],
  ["check_in >= today()", { field: "check_in", op: "gte", value: { ahead: "0d" } }],
  ["updated_at < now()", { field: "updated_at", op: "lt", value: { ahead: "0m" } }],
  ["check_in = today() - 0d", { field: "check_in", op: "eq", value: { ago: "0d" } }],
  ["x = -7", { field: "x", op: "eq", value: -7 }],
  ["x = 99.5", { field: "x", op: "eq", value: 99.5 }],
  ["vip = true", { field: "vip", op: "eq", value: true }],
  ['"`first name`" = "Ana"'.slice(1, -1) + ' = "Ana"', {}], // replaced below
  ["true", { all: [] }],
  [
    'country in ("FR", "DE") and tier = "gold" and nights between 2 and 5',
    {
      all: [
        { field: "country", op: "in", value: ["FR", "DE"] },
        { field: "tier", op: "eq", value: "gold" },
        { field: "nights", op: "between", value: [2, 5] },
      ],
    },
  ],
  ['tier = "gold" or tier = "platinum"', { any: [{ field: "tier", op: "eq", value: "gold" }, { field: "tier", op: "eq", value: "platinum" }] }],
];
PAIRS[25] = ['`first name` = "Ana"', { field: "first name", op: "eq", value: "Ana" }];

describe("a simple rule, text ⇄ rows ⇄ JSON", () => {
  it.each(PAIRS)("%s", (text, json) => {
    const rule = parseSimpleRule(text);
    expect(rule).not.toBeNull();
    expect(simpleRuleToJson(rule!)).toEqual(json);
    // Written back, the rule is the same text (these are the canonical spellings)...
    expect(formatSimpleRule(rule!)).toBe(text);
    // ...and the JSON reads back as the same rows.
    expect(simpleRuleFromJson(json)).toEqual(rule);
  });

  it("reads the other spellings as the canonical ones", () => {
    const cases: [string, string][] = [
      ["tier == 'gold'", 'tier = "gold"'],
      ["tier <> 'it\\'s'", 'tier != "it\'s"'],
      ["nights between (2, 5)", "nights between 2 and 5"],
      ["check_in >= today() + 0d", "check_in >= today()"],
      ["check_in >= now() - 030d  # a comment\n", "check_in >= today() - 30d"],
      ["s = \"say \\\"hi\\\"\\n\"", 's = "say \\"hi\\"\\n"'],
      ["x=1 and\ny=2", "x = 1 and y = 2"],
      ["`not` = 1", "`not` = 1"],
      ["a.`b c` = 1", "a.`b c` = 1"],
    ];
    for (const [given, canonical] of cases) expect(formatSimpleRule(parseSimpleRule(given)!)).toBe(canonical);
  });

  it("leaves richer rules to the text", () => {
    for (const text of [
      'tier = "gold" and (a = 1 or b = 2)',
      "a = 1 and b = 2 or c = 3",
      'not tier = "gold"',
      "exists(bookings)",
      "count(bookings) >= 2",
      'in_audience("vip")',
      'history(channel = "email")',
      "x = null",
      'country in "FR"',
      "x = 1.0", // JSON in the browser would turn it into the integer 1
      "x = 12345678901234567890",
      "false",
      "all(a = 1)",
      "tier =",
      'tier = "gold',
      "",
    ])
      expect(parseSimpleRule(text), text).toBeNull();
  });

  it("keeps the rows of JSON it can show, and refuses the rest", () => {
    expect(simpleRuleFromJson({ all: [{ field: "a", op: "eq", value: 1 }] })).toBeNull(); // all(a = 1)
    expect(simpleRuleFromJson({ any: [] })).toBeNull(); // false
    expect(simpleRuleFromJson({ not: { field: "a", op: "eq", value: 1 } })).toBeNull();
    expect(simpleRuleFromJson({ field: "a", op: "between", value: [1, 2, 3] })).toBeNull();
    expect(simpleRuleFromJson({ field: "a", op: "in", value: "FR" })).toBeNull();
    expect(simpleRuleFromJson({ field: "a", op: "is_null", value: 1 })).toBeNull();
    expect(simpleRuleFromJson({ field: "a", op: "nope", value: 1 })).toBeNull();
  });

  it("rows → text → rows is the same rule", () => {
    const rule: SimpleRule = {
      combine: "any",
      conditions: [
        { field: "hotel.city", op: "in", value: ["Nice", "Paris \"centre\""] },
        { field: "check_in", op: "between", value: [{ ahead: "0d" }, { ahead: "1mo" }] },
        { field: "and", op: "not_null" },
        { field: "amount", op: "gt", value: -0.25 },
      ],
    };
    expect(parseSimpleRule(formatSimpleRule(rule))).toEqual(rule);
  });
});

describe("a row's value", () => {
  it("is written and read as it follows the operator", () => {
    expect(formatValue("in", ["FR", "DE"])).toBe('("FR", "DE")');
    expect(formatValue("between", [2, 5])).toBe("2 and 5");
    expect(readValue("in", '("FR", "DE")')).toEqual({ value: ["FR", "DE"] });
    expect(readValue("between", "today() and today() + 30d")).toEqual({ value: [{ ahead: "0d" }, { ahead: "30d" }] });
    expect(readValue("is_null", "")).toEqual({});
    expect(readValue("eq", '"go')).toBeNull();
    expect(readValue("eq", '"a" and b = 1')).toBeNull();
    expect(readValue("in", '"FR"')).toBeNull();
  });

  it("is carried over when the operator changes", () => {
    const c = { field: "tier", op: "eq" as const, value: "gold" };
    expect(withOperator(c, "in")).toEqual({ field: "tier", op: "in", value: ["gold"] });
    expect(withOperator(c, "between")).toEqual({ field: "tier", op: "between", value: ["gold", "gold"] });
    expect(withOperator(c, "is_null")).toEqual({ field: "tier", op: "is_null" });
    expect(withOperator({ field: "x", op: "in", value: ["a", "b"] }, "ne")).toEqual({ field: "x", op: "ne", value: "a" });
    expect(withOperator({ field: "x", op: "is_null" }, "eq")).toEqual({ field: "x", op: "eq", value: "" });
  });
});

describe("the server's problems on the rows", () => {
  const two = parseSimpleRule("a = 1 and b = 2")!;
  const one = parseSimpleRule("a = 1")!;
  it("finds the row a JSON path names", () => {
    expect(rowOfPath(two, "all[1].field")).toBe(1);
    expect(rowOfPath(two, "all[0].value")).toBe(0);
    expect(rowOfPath(two, "any[0].value")).toBeNull();
    expect(rowOfPath(two, "all[5].field")).toBeNull();
    expect(rowOfPath(one, "field")).toBe(0);
    expect(rowOfPath(one, "all[0].field")).toBeNull();
  });
});
