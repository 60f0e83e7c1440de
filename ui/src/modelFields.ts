// The workspace's model as `GET /model` answers it, and what the audience builder draws from
// it: the entities to pick from, the fields a condition may name (the entity's own and, through
// to-one links, dotted paths like `hotel.city` — the only link syntax a field condition has),
// and the input a value gets from its field's type. The server still checks every rule.
import type { Operator, RuleValue } from "./ruleForm";

export type FieldType = "string" | "integer" | "decimal" | "float" | "boolean" | "date" | "timestamp";

export interface EntityModel {
  rows: number;
  key: string;
  recipient: boolean;
  version: string | null;
  fields: Record<string, FieldType | string>;
  links: Record<string, { to: string; to_many: boolean }>;
}

export type ModelSummary = Record<string, EntityModel>;

export interface FieldChoice {
  /** The field's path from the entity: `tier`, `hotel.city`. */
  path: string;
  type: string;
}

/** Deep enough for `flight` → `booking.hotel.city`; the server takes any depth. */
const LINK_DEPTH = 2;

/** The fields a condition on `entity` may name: its own, then those of its to-one links (to
 * `LINK_DEPTH` links), never back through an entity already on the path. Unknown entity: none. */
export function fieldChoices(model: ModelSummary, entity: string): FieldChoice[] {
  const out: FieldChoice[] = [];
  const walk = (name: string, prefix: string, seen: string[]) => {
    const e = model[name];
    if (!e) return;
    for (const [field, type] of Object.entries(e.fields)) out.push({ path: prefix + field, type });
    if (seen.length > LINK_DEPTH) return;
    for (const [link, target] of Object.entries(e.links)) {
      if (!target.to_many && !seen.includes(target.to)) walk(target.to, `${prefix}${link}.`, [...seen, target.to]);
    }
  };
  walk(entity, "", [entity]);
  return out;
}

export function fieldType(choices: FieldChoice[], path: string): string | null {
  return choices.find((c) => c.path === path)?.type ?? null;
}

/** The control a condition's value is typed in. Only a single value compared to the field
 * gets a typed control; lists, `between`, text matches and relative dates stay rule text. */
export type InputKind = "number" | "date" | "boolean" | "text";

const SINGLE: readonly Operator[] = ["eq", "ne", "lt", "lte", "gt", "gte"];
const NUMERIC = new Set(["integer", "decimal", "float"]);
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

export function inputKind(type: string | null, op: Operator, value?: RuleValue): InputKind {
  if (type === null || !SINGLE.includes(op)) return "text";
  if (NUMERIC.has(type)) return "number";
  if (type === "boolean") return "boolean";
  // `today() - 30d` has no place in a date picker: it stays text.
  if (type === "date") return typeof value === "object" && !Array.isArray(value) ? "text" : "date";
  return "text";
}

/** What the typed control shows for a value: empty when the value is not of its kind. */
export function controlText(kind: Exclude<InputKind, "text">, value: RuleValue | undefined): string {
  switch (kind) {
    case "number":
      return typeof value === "number" ? String(value) : "";
    case "boolean":
      return typeof value === "boolean" ? String(value) : "";
    case "date":
      return typeof value === "string" && ISO_DATE.test(value) ? value : "";
  }
}

/** The value a typed control's text stands for, or null when it is none (empty, not a number,
 * an integer JSON would not keep). */
export function controlValue(kind: Exclude<InputKind, "text">, text: string, type: string): RuleValue | null {
  const raw = text.trim();
  if (kind === "boolean") return raw === "true" ? true : raw === "false" ? false : null;
  if (kind === "date") return ISO_DATE.test(raw) ? raw : null;
  if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(raw)) return null;
  const n = Number(raw);
  return (type === "integer" ? Number.isSafeInteger(n) : Number.isFinite(n)) ? n : null;
}

export function entityLabel(name: string, e: EntityModel): string {
  return `${name} (${e.rows.toLocaleString("en")} rows)`;
}
