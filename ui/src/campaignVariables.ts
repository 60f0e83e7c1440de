// A campaign's declared variables (`variables:` of docs/campaigns.md) as form inputs, and the
// values the inputs give to a test run (text, typed by the server as --var) and to a start
// (JSON, typed here as the server expects: no coercion of "5" into 5 there).

export interface DeclaredVariable {
  name: string;
  type: string;
  default: unknown;
  description: string;
}

export function declaredVariables(definition: Record<string, unknown> | null | undefined): DeclaredVariable[] {
  const vars = definition?.variables;
  if (typeof vars !== "object" || vars === null || Array.isArray(vars)) return [];
  return Object.entries(vars as Record<string, unknown>).map(([name, spec]) => {
    const s = (typeof spec === "object" && spec !== null ? spec : {}) as Record<string, unknown>;
    return {
      name,
      type: typeof s.type === "string" ? s.type : "string",
      default: s.default ?? null,
      description: typeof s.description === "string" ? s.description : "",
    };
  });
}

/** Inputs left empty take the default: only the filled ones are sent. */
function filled(inputs: Record<string, string>): [string, string][] {
  return Object.entries(inputs).filter(([, v]) => v.trim() !== "");
}

export function testVariables(inputs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(filled(inputs));
}

/** JSON values for POST /campaigns/NAME/runs: integers and booleans as JSON; decimals, dates
 * and timestamps as text (the server reads them from text). A value that does not read as its
 * type is sent as typed, so the server's message names it. */
export function startVariables(declared: DeclaredVariable[], inputs: Record<string, string>): Record<string, unknown> {
  const types = new Map(declared.map((d) => [d.name, d.type]));
  return Object.fromEntries(
    filled(inputs).map(([name, raw]) => {
      const text = raw.trim();
      const type = types.get(name);
      if (type === "integer" && /^-?\d+$/.test(text) && Number.isSafeInteger(Number(text))) return [name, Number(text)];
      if (type === "boolean" && (text === "true" || text === "false")) return [name, text === "true"];
      return [name, type === "string" ? raw : text];
    }),
  );
}

/** A fresh Idempotency-Key for one start (kept across retries of that start). */
export function newIdempotencyKey(random: () => string = () => crypto.randomUUID()): string {
  return `ui-${random()}`;
}
