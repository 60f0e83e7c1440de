import { describe, expect, it } from "vitest";

import { controlText, controlValue, entityLabel, fieldChoices, fieldType, inputKind, type ModelSummary } from "../../src/modelFields";

const entity = (rows: number, fields: Record<string, string>, links: Record<string, { to: string; to_many: boolean }> = {}) => ({
  rows,
  key: Object.keys(fields)[0]!,
  recipient: false,
  version: null,
  fields,
  links,
});

// The travel example's shape, plus a flight under a booking to reach two links deep.
const model: ModelSummary = {
  customer: entity(1000, { customer_id: "integer", tier: "string", vip: "boolean" }, { bookings: { to: "booking", to_many: true } }),
  hotel: entity(40, { hotel_id: "integer", city: "string", stars: "integer" }, { bookings: { to: "booking", to_many: true } }),
  booking: entity(
    5200,
    { booking_id: "integer", check_in: "date", amount: "decimal" },
    { customer: { to: "customer", to_many: false }, hotel: { to: "hotel", to_many: false }, flights: { to: "flight", to_many: true } },
  ),
  flight: entity(900, { flight_id: "integer", cabin: "string" }, { booking: { to: "booking", to_many: false } }),
};

describe("fieldChoices", () => {
  it("lists an entity's own fields with their types, and no to-many link", () => {
    expect(fieldChoices(model, "customer")).toEqual([
      { path: "customer_id", type: "integer" },
      { path: "tier", type: "string" },
      { path: "vip", type: "boolean" },
    ]);
  });

  it("follows to-one links as dotted paths, two links deep, never back to an entity on the path", () => {
    const paths = fieldChoices(model, "flight").map((c) => c.path);
    expect(paths).toContain("cabin");
    expect(paths).toContain("booking.check_in");
    expect(paths).toContain("booking.hotel.city");
    expect(paths).toContain("booking.customer.tier");
    expect(paths.some((p) => p.startsWith("booking.flights"))).toBe(false);
    expect(fieldType(fieldChoices(model, "booking"), "hotel.stars")).toBe("integer");
    expect(fieldType(fieldChoices(model, "booking"), "hotel.nope")).toBeNull();
  });

  it("knows no fields of an entity the model does not have", () => {
    expect(fieldChoices(model, "nope")).toEqual([]);
  });
});

describe("inputKind", () => {
  it("follows the field's type for a single compared value", () => {
    expect(inputKind("integer", "eq")).toBe("number");
    expect(inputKind("decimal", "gte")).toBe("number");
    expect(inputKind("float", "lt")).toBe("number");
    expect(inputKind("date", "gt", "2026-03-01")).toBe("date");
    expect(inputKind("date", "gt", 3)).toBe("date");
    expect(inputKind("boolean", "ne", true)).toBe("boolean");
    expect(inputKind("string", "eq", "gold")).toBe("text");
    expect(inputKind("timestamp", "eq", "2026-03-01T09:00:00Z")).toBe("text");
  });

  it("keeps lists, ranges, text matches, relative dates and unknown fields as text", () => {
    expect(inputKind("integer", "in", [1, 2])).toBe("text");
    expect(inputKind("integer", "between", [1, 2])).toBe("text");
    expect(inputKind("string", "contains", "x")).toBe("text");
    expect(inputKind("date", "gt", { ago: "30d" })).toBe("text");
    expect(inputKind(null, "eq", 3)).toBe("text");
  });
});

describe("typed controls", () => {
  it("shows a value only when it is of the control's kind", () => {
    expect(controlText("number", 42)).toBe("42");
    expect(controlText("number", "gold")).toBe("");
    expect(controlText("boolean", false)).toBe("false");
    expect(controlText("boolean", "")).toBe("");
    expect(controlText("date", "2026-03-01")).toBe("2026-03-01");
    expect(controlText("date", "March")).toBe("");
  });

  it("reads a control's text into a rule value, or null", () => {
    expect(controlValue("number", "12", "integer")).toBe(12);
    expect(controlValue("number", "-0.25", "decimal")).toBe(-0.25);
    expect(controlValue("number", "2.5", "integer")).toBeNull();
    expect(controlValue("number", "", "integer")).toBeNull();
    expect(controlValue("number", "9007199254740993", "integer")).toBeNull();
    expect(controlValue("boolean", "true", "boolean")).toBe(true);
    expect(controlValue("boolean", "false", "boolean")).toBe(false);
    expect(controlValue("boolean", "", "boolean")).toBeNull();
    expect(controlValue("date", "2026-03-01", "date")).toBe("2026-03-01");
    expect(controlValue("date", "", "date")).toBeNull();
  });

  it("labels an entity with its row count", () => {
    expect(entityLabel("booking", model.booking!)).toBe("booking (5,200 rows)");
  });
});
