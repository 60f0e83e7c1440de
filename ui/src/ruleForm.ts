// The audience builder's structured view: a rule made of simple field conditions joined by one
// `and` or one `or` — rows of field / operator / value — and the two spellings of docs/rules.md
// it maps to, the text form and the JSON form. Anything richer (not, groups, links, history,
// in_audience) has no rows: `parseSimpleRule` answers null and the rule stays text, which the
// server parses. Nothing here checks a rule against the model; the server does.

export type Relative = { ago: string } | { ahead: string };
export type Scalar = string | number | boolean | Relative;
export type RuleValue = Scalar | Scalar[];

export const OPERATORS = {
  eq: "=",
  ne: "!=",
  lt: "<",
  lte: "<=",
  gt: ">",
  gte: ">=",
  in: "in",
  not_in: "not in",
  between: "between",
  is_null: "is null",
  not_null: "is not null",
  contains: "contains",
  not_contains: "not contains",
  starts_with: "starts with",
  ends_with: "ends with",
  like: "like",
} as const;

export type Operator = keyof typeof OPERATORS;

export interface Condition {
  field: string;
  op: Operator;
  value?: RuleValue;
}

/** `conditions` joined by `and` (all) or `or` (any); none is `true`. */
export interface SimpleRule {
  combine: "all" | "any";
  conditions: Condition[];
}

const NULL_OPS: readonly Operator[] = ["is_null", "not_null"];
const LIST_OPS: readonly Operator[] = ["in", "not_in"];
const COMPARE: Record<string, Operator> = { "=": "eq", "==": "eq", "!=": "ne", "<>": "ne", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte" };
const RESERVED = new Set(["and", "or", "not", "true", "false", "null"]);
const DATE_UNITS = new Set(["d", "w", "mo", "y"]);

export function takesValue(op: Operator): boolean {
  return !NULL_OPS.includes(op);
}

// --- tokens: the same lexical rules as the server's parser (audience/text.py) ---------------

interface Token {
  kind: "name" | "qname" | "string" | "number" | "duration" | "op" | "eof";
  text: string;
  value?: unknown;
}

const TOKEN =
  /(?<space>(?:\s+|#[^\n]*)+)|(?<duration>\d+(?:mo|m|h|d|w|y)(?!\w))|(?<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?!\w))|(?<name>[\p{L}_][\p{L}\p{N}_]*)|(?<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?<qname>`(?:[^`\\]|\\.)*`)|(?<op><=|>=|!=|<>|==|[=<>(),.*+-])/suy;

/** Not a simple rule (or not a rule at all): the caller keeps the text. */
class NotSimple extends Error {}

function unquote(raw: string): string {
  let body = raw.slice(1, -1);
  if (raw[0] === "'") {
    // Single quotes: the same escapes plus \' ; a " needs none.
    let out = "";
    for (let i = 0; i < body.length; i++) {
      const ch = body[i]!;
      if (ch === "\\" && i + 1 < body.length) {
        const next = body[i + 1]!;
        out += next === "'" ? "'" : ch + next;
        i++;
      } else out += ch === '"' ? '\\"' : ch;
    }
    body = out;
  }
  try {
    // The server reads strings with JSON escapes, raw control characters allowed.
    return JSON.parse(`"${body.replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}"`) as string;
  } catch {
    throw new NotSimple(`bad string ${raw}`);
  }
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const m = TOKEN.exec(text);
    if (!m?.groups) throw new NotSimple(`no token at ${TOKEN.lastIndex}`);
    const g = m.groups;
    const raw = m[0];
    if (g.space !== undefined) continue;
    if (g.string !== undefined) tokens.push({ kind: "string", text: raw, value: unquote(raw) });
    else if (g.qname !== undefined) tokens.push({ kind: "qname", text: raw, value: raw.slice(1, -1).replace(/\\(.)/gs, "$1") });
    else if (g.number !== undefined) tokens.push({ kind: "number", text: raw, value: Number(raw) });
    else if (g.duration !== undefined) tokens.push({ kind: "duration", text: raw });
    else if (g.name !== undefined) tokens.push({ kind: "name", text: raw });
    else tokens.push({ kind: "op", text: raw });
  }
  tokens.push({ kind: "eof", text: "" });
  return tokens;
}

// --- text → simple rule ----------------------------------------------------------------------

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private get tok(): Token {
    return this.tokens[this.i]!;
  }
  private peek(n = 1): Token {
    return this.tokens[Math.min(this.i + n, this.tokens.length - 1)]!;
  }
  private next(): Token {
    const t = this.tok;
    if (t.kind !== "eof") this.i++;
    return t;
  }
  private word(...words: string[]): boolean {
    return this.tok.kind === "name" && words.includes(this.tok.text);
  }
  private op(...ops: string[]): boolean {
    return this.tok.kind === "op" && ops.includes(this.tok.text);
  }
  private expectWord(word: string): void {
    if (!this.word(word)) throw new NotSimple(`expected ${word}`);
    this.next();
  }
  private expectOp(op: string): void {
    if (!this.op(op)) throw new NotSimple(`expected ${op}`);
    this.next();
  }
  atEnd(): boolean {
    return this.tok.kind === "eof";
  }

  rule(): SimpleRule {
    if (this.word("true") && this.peek().kind === "eof") {
      this.next();
      return { combine: "all", conditions: [] };
    }
    const conditions = [this.condition()];
    let combine: "all" | "any" | null = null;
    while (this.word("and", "or")) {
      const joined = this.tok.text === "and" ? "all" : "any";
      if (combine !== null && combine !== joined) throw new NotSimple("and mixed with or");
      combine = joined;
      this.next();
      conditions.push(this.condition());
    }
    if (!this.atEnd()) throw new NotSimple(`unexpected ${this.tok.text}`);
    return { combine: combine ?? "all", conditions };
  }

  private name(): string {
    const t = this.tok;
    if (t.kind === "qname") return String(this.next().value);
    if (t.kind === "name" && !RESERVED.has(t.text)) return this.next().text;
    throw new NotSimple("expected a field");
  }

  private path(): string {
    const parts = [this.name()];
    while (this.op(".")) {
      this.next();
      parts.push(this.name());
    }
    return parts.join(".");
  }

  condition(): Condition {
    // A word followed by ( is a function (exists, count, history...): not a field condition.
    if (this.tok.kind === "name" && this.peek().kind === "op" && this.peek().text === "(") throw new NotSimple("a function");
    const field = this.path();
    const [op, value] = this.operation();
    return value === undefined ? { field, op } : { field, op, value };
  }

  /** What follows the field: the operator and its value. */
  operation(): [Operator, RuleValue | undefined] {
    const t = this.tok;
    if (t.kind === "op" && t.text in COMPARE) {
      this.next();
      return [COMPARE[t.text]!, this.scalar()];
    }
    if (this.word("between")) {
      this.next();
      if (this.op("(")) {
        const pair = this.list();
        if (pair.length !== 2) throw new NotSimple("between needs two bounds");
        return ["between", pair];
      }
      const low = this.scalar();
      this.expectWord("and");
      return ["between", [low, this.scalar()]];
    }
    if (this.word("in")) {
      this.next();
      return ["in", this.list()];
    }
    if (this.word("contains", "like")) return [this.next().text as Operator, this.scalar()];
    if (this.word("not")) {
      this.next();
      if (this.word("in")) {
        this.next();
        return ["not_in", this.list()];
      }
      this.expectWord("contains");
      return ["not_contains", this.scalar()];
    }
    if (this.word("is")) {
      this.next();
      if (this.word("not")) {
        this.next();
        this.expectWord("null");
        return ["not_null", undefined];
      }
      this.expectWord("null");
      return ["is_null", undefined];
    }
    if (this.word("starts", "ends")) {
      const op = `${this.next().text}_with` as Operator;
      this.expectWord("with");
      return [op, this.scalar()];
    }
    throw new NotSimple("expected an operator");
  }

  list(): Scalar[] {
    this.expectOp("(");
    const items: Scalar[] = [];
    if (!this.op(")")) {
      items.push(this.scalar());
      while (this.op(",")) {
        this.next();
        items.push(this.scalar());
      }
    }
    this.expectOp(")");
    return items;
  }

  scalar(): Scalar {
    const t = this.tok;
    if (t.kind === "string") return String(this.next().value);
    if (t.kind === "number" || (this.op("-") && this.peek().kind === "number")) {
      const negative = this.op("-");
      if (negative) this.next();
      const raw = this.next();
      const n = (negative ? -1 : 1) * (raw.value as number);
      // JSON in the browser cannot tell 1.0 from 1, nor hold integers past 2^53: keep as text.
      if (/[.eE]/.test(raw.text) ? Number.isInteger(n) : !Number.isSafeInteger(n)) throw new NotSimple("a number JSON would change");
      return n;
    }
    if (this.word("true", "false")) return this.next().text === "true";
    if (this.word("today", "now") && this.peek().kind === "op" && this.peek().text === "(") {
      const base = this.next().text;
      this.next();
      this.expectOp(")");
      if (!this.op("+", "-")) return { ahead: base === "today" ? "0d" : "0m" };
      const direction = this.next().text === "+" ? "ahead" : "ago";
      if (this.tok.kind !== "duration") throw new NotSimple("expected a duration");
      const [, amount, unit] = /^(\d+)(\w+)$/.exec(this.next().text)!;
      const duration = `${Number(amount)}${unit}`;
      return direction === "ahead" ? { ahead: duration } : { ago: duration };
    }
    throw new NotSimple("expected a value");
  }
}

/** The rows of a text rule, or null when it is not a simple and/or of field conditions. */
export function parseSimpleRule(text: string): SimpleRule | null {
  try {
    return new Parser(tokenize(text)).rule();
  } catch (e) {
    if (e instanceof NotSimple) return null;
    throw e;
  }
}

/** A row's value written as it follows the operator (`"gold"`, `("FR", "DE")`, `2 and 5`). */
export function parseValueText(op: Operator, text: string): RuleValue | undefined {
  if (!takesValue(op)) return undefined;
  const parser = new Parser(tokenize(`x ${OPERATORS[op]} ${text}`));
  const condition = parser.condition();
  if (!parser.atEnd() || condition.op !== op) throw new NotSimple("not one value");
  return condition.value;
}

/** Like parseValueText, but null (not an exception) for a value that does not read. */
export function readValue(op: Operator, text: string): { value?: RuleValue } | null {
  try {
    const value = parseValueText(op, text);
    return value === undefined ? {} : { value };
  } catch (e) {
    if (e instanceof NotSimple) return null;
    throw e;
  }
}

// --- simple rule → text ----------------------------------------------------------------------

function formatName(segment: string): string {
  if (/^[\p{L}_][\p{L}\p{N}_]*$/u.test(segment) && !RESERVED.has(segment)) return segment;
  return "`" + segment.replace(/\\/g, "\\\\").replace(/`/g, "\\`") + "`";
}

function isRelative(v: unknown): v is Relative {
  return typeof v === "object" && v !== null && !Array.isArray(v) && ("ago" in v || "ahead" in v);
}

export function formatScalar(value: Scalar): string {
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  const direction = "ago" in value ? "ago" : "ahead";
  const duration = "ago" in value ? value.ago : value.ahead;
  const [, amount, unit] = /^(\d+)(\w+)$/.exec(duration) ?? [, duration, ""];
  if (direction === "ahead" && Number(amount) === 0 && (unit === "d" || unit === "m")) return unit === "d" ? "today()" : "now()";
  return `${DATE_UNITS.has(unit!) ? "today()" : "now()"} ${direction === "ahead" ? "+" : "-"} ${duration}`;
}

/** The value as it follows its operator in the text form. */
export function formatValue(op: Operator, value: RuleValue | undefined): string {
  if (!takesValue(op) || value === undefined) return "";
  if (op === "between" && Array.isArray(value) && value.length === 2) return `${formatScalar(value[0]!)} and ${formatScalar(value[1]!)}`;
  if (Array.isArray(value)) return `(${value.map(formatScalar).join(", ")})`;
  return formatScalar(value);
}

export function formatCondition(c: Condition): string {
  const path = c.field.split(".").map(formatName).join(".");
  return takesValue(c.op) ? `${path} ${OPERATORS[c.op]} ${formatValue(c.op, c.value)}` : `${path} ${OPERATORS[c.op]}`;
}

export function formatSimpleRule(rule: SimpleRule): string {
  if (rule.conditions.length === 0) return "true";
  return rule.conditions.map(formatCondition).join(rule.combine === "all" ? " and " : " or ");
}

// --- simple rule ⇄ JSON form -----------------------------------------------------------------

export type RuleJson = Record<string, unknown>;

function conditionJson(c: Condition): RuleJson {
  return c.value === undefined ? { field: c.field, op: c.op } : { field: c.field, op: c.op, value: c.value };
}

/** The canonical JSON form (docs/rules.md): one condition alone, several under all / any. */
export function simpleRuleToJson(rule: SimpleRule): RuleJson {
  if (rule.conditions.length === 1) return conditionJson(rule.conditions[0]!);
  return { [rule.combine]: rule.conditions.map(conditionJson) };
}

function isScalar(v: unknown): v is Scalar {
  return typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v)) || isRelative(v);
}

function conditionFromJson(data: unknown): Condition | null {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  const { field, op, value, ...rest } = data as Record<string, unknown>;
  if (Object.keys(rest).length || typeof field !== "string" || typeof op !== "string" || !(op in OPERATORS)) return null;
  const operator = op as Operator;
  if (!takesValue(operator)) return value === undefined ? { field, op: operator } : null;
  const list = Array.isArray(value) && value.every(isScalar);
  if (LIST_OPS.includes(operator) ? !list : operator === "between" ? !(list && value.length === 2) : !isScalar(value)) return null;
  return { field, op: operator, value: value as RuleValue };
}

/** The rows of a JSON rule, or null when it is richer than an and/or of field conditions. */
export function simpleRuleFromJson(data: unknown): SimpleRule | null {
  const single = conditionFromJson(data);
  if (single) return { combine: "all", conditions: [single] };
  if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
  const keys = Object.keys(data);
  const combine = keys[0];
  if (keys.length !== 1 || (combine !== "all" && combine !== "any")) return null;
  const items = (data as Record<string, unknown>)[combine];
  // all(A) (a one-item list) is spelled differently from A: keep it as text.
  if (!Array.isArray(items) || items.length === 1 || (items.length === 0 && combine === "any")) return null;
  const conditions = items.map(conditionFromJson);
  return conditions.every((c): c is Condition => c !== null) ? { combine, conditions } : null;
}

// --- the server's problems, on the rows --------------------------------------------------------

/** The row a problem's JSON path (`all[2].value`, `field`) points at, for a simple rule. */
export function rowOfPath(rule: SimpleRule, path: string): number | null {
  if (rule.conditions.length === 1) return /^(field|op|value)\b/.test(path) ? 0 : null;
  const m = /^(all|any)\[(\d+)\]/.exec(path);
  if (!m || m[1] !== rule.combine) return null;
  const row = Number(m[2]);
  return row < rule.conditions.length ? row : null;
}

/** The condition under another operator, its value carried over as far as it fits: a list
 * operator takes the value as a one-item list, `between` as both bounds, a single-value one
 * the first item; `is null` drops it. */
export function withOperator(c: Condition, op: Operator): Condition {
  const { value, ...rest } = c;
  if (!takesValue(op)) return { ...rest, op };
  const items: Scalar[] = value === undefined ? [""] : Array.isArray(value) ? value : [value];
  const first = items[0] ?? "";
  if (LIST_OPS.includes(op)) return { ...rest, op, value: items.length ? items : [first] };
  if (op === "between") return { ...rest, op, value: [first, items[1] ?? first] };
  return { ...rest, op, value: first };
}
