// The saved audiences and the audience builder: a rule's text (the code view) and, when the
// rule is simple field conditions joined by and/or, the same rule as rows; the SQL it compiles
// to. The text is the source of truth: editing a row rewrites it. The model (read once) offers
// the entities and fields; Calculate, Save and the SQL ask the server.
import { useCallback, useEffect, useRef, useState } from "react";

import { type ApiClient, ApiError, type SavedAudience, SQL_DIALECTS, type SqlDialect } from "./apiClient";
import {
  controlText,
  controlValue,
  entityLabel,
  type FieldChoice,
  fieldChoices,
  fieldType,
  inputKind,
  type ModelSummary,
} from "./modelFields";
import {
  type Condition,
  formatSimpleRule,
  formatValue,
  OPERATORS,
  type Operator,
  parseSimpleRule,
  readValue,
  rowOfPath,
  type SimpleRule,
  simpleRuleToJson,
  withOperator,
} from "./ruleForm";

interface Problem {
  path: string;
  message: string;
}

type Outcome = { kind: "ok" | "error"; text: string } | null;

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function AudiencesPage({ api }: { api: ApiClient }) {
  const [saved, setSaved] = useState<SavedAudience[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [entity, setEntity] = useState("customer");
  const [text, setText] = useState('tier = "gold"');
  const [view, setView] = useState<"code" | "conditions" | "sql">("code");
  const [model, setModel] = useState<ModelSummary | null>(null);
  const [modelError, setModelError] = useState<string | null>(null);
  const [dialect, setDialect] = useState<SqlDialect>("duckdb");
  const [sql, setSql] = useState<string | null>(null);
  const sqlAsked = useRef(0);
  const [count, setCount] = useState<{ entity: string; count: number; ms: number } | null>(null);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState(false);
  const [name, setName] = useState("");
  const [append, setAppend] = useState(false);

  const refresh = useCallback(() => {
    setListError(null);
    api
      .listAudiences()
      .then(setSaved)
      .catch((e: unknown) => setListError(errorText(e)));
  }, [api]);
  useEffect(refresh, [refresh]);

  // The model, once: without it (an older server, a failure) the entity and fields are typed.
  useEffect(() => {
    api
      .model()
      .then((m) => {
        setModel(m);
        setEntity((current) => (current in m || Object.keys(m).length === 0 ? current : Object.keys(m).sort()[0]!));
      })
      .catch((e: unknown) => setModelError(errorText(e)));
  }, [api]);

  const entities = [...new Set(["customer", ...(saved ?? []).map((a) => a.entity)])].sort();
  const simple = parseSimpleRule(text);
  const choices = model ? fieldChoices(model, entity) : null;

  /** Run `work`; its text (if any) is the verdict, its failure the error and the problems. */
  const call = async (label: string, work: () => Promise<string | null>) => {
    setBusy(true);
    setOutcome(null);
    setProblems([]);
    try {
      const done = await work();
      if (done !== null) setOutcome({ kind: "ok", text: done });
    } catch (e) {
      if (e instanceof ApiError && e.problems.length) setProblems(e.problems);
      setOutcome({ kind: "error", text: `${label}: ${errorText(e)}` });
    } finally {
      setBusy(false);
    }
  };

  const calculate = () =>
    call("Calculate", async () => {
      setCount(null);
      const started = performance.now();
      const found = await api.countAudience(entity, text);
      const ms = performance.now() - started;
      setCount({ entity: found.entity, count: found.count, ms });
      return `${found.count.toLocaleString("en")} ${found.entity} rows match`;
    });

  // The SQL view follows the rule, the entity and the dialect; a late answer to an older
  // question is dropped.
  useEffect(() => {
    if (view !== "sql" || !entity) return;
    const asked = ++sqlAsked.current;
    setSql(null);
    void call("SQL", async () => {
      try {
        const found = await api.audienceSql(entity, text, dialect);
        if (asked === sqlAsked.current) setSql(found.sql);
      } catch (e) {
        if (asked === sqlAsked.current) throw e;
      }
      return null;
    });
    // `call` is remade every render: the question (view, entity, rule, dialect) is what counts.
  }, [view, entity, text, dialect, api]);

  const save = () =>
    call("Save", async () => {
      const a = await api.saveAudience(name, entity, text, append);
      refresh();
      return `saved ${a.name} version ${a.version} (${a.mode}): ${a.size.toLocaleString("en")} ${a.entity} rows`;
    });

  return (
    <main className="audiences">
      <h1>Audiences</h1>
      <section aria-label="Saved audiences">
        <h2>Saved</h2>
        {listError && <p className="error" role="alert">{listError}</p>}
        {saved && (
          <table className="data">
            <thead>
              <tr>
                <th>name</th>
                <th>entity</th>
                <th>version</th>
                <th>size</th>
                <th>mode</th>
                <th>saved</th>
              </tr>
            </thead>
            <tbody>
              {saved.map((a) => (
                <tr key={a.name} data-audience={a.name}>
                  <td>{a.name}</td>
                  <td>{a.entity}</td>
                  <td className="num">{a.version}</td>
                  <td className="num">{a.size.toLocaleString("en")}</td>
                  <td>{a.mode}</td>
                  <td>{a.created_at}</td>
                </tr>
              ))}
              {saved.length === 0 && (
                <tr>
                  <td colSpan={6}>No saved audiences yet.</td>
                </tr>
              )}
            </tbody>
          </table>
        )}
      </section>

      <section className="builder" aria-label="Audience builder">
        <h2>Builder</h2>
        <div className="builder-bar">
          <label>
            Entity
            {!model && !modelError ? (
              // The model is on its way: the select it will fill, waiting.
              <select aria-label="Entity" value={entity} disabled>
                <option value={entity}>{entity}</option>
              </select>
            ) : model ? (
              <select aria-label="Entity" value={entity} onChange={(e) => setEntity(e.target.value)}>
                {!(entity in model) && <option value={entity}>{entity} (not in the model)</option>}
                {Object.keys(model)
                  .sort()
                  .map((name) => (
                    <option key={name} value={name}>
                      {entityLabel(name, model[name]!)}
                    </option>
                  ))}
              </select>
            ) : (
              <>
                <input aria-label="Entity" list="entities" value={entity} onChange={(e) => setEntity(e.target.value.trim())} />
                <datalist id="entities">
                  {entities.map((e) => (
                    <option key={e} value={e} />
                  ))}
                </datalist>
              </>
            )}
          </label>
          <div className="tabs" role="tablist">
            <button role="tab" aria-selected={view === "code"} onClick={() => setView("code")}>
              Code
            </button>
            <button role="tab" aria-selected={view === "conditions"} onClick={() => setView("conditions")}>
              Conditions
            </button>
            <button role="tab" aria-selected={view === "sql"} onClick={() => setView("sql")}>
              SQL
            </button>
          </div>
          <button disabled={busy || !entity} onClick={calculate}>
            Calculate
          </button>
        </div>
        {modelError && (
          <p className="note" role="alert">
            No model to offer entities and fields from ({modelError}): type them.
          </p>
        )}
        {view === "code" ? (
          <textarea className="rule-text" aria-label="Rule" spellCheck={false} value={text} onChange={(e) => setText(e.target.value)} />
        ) : view === "sql" ? (
          <div className="sql-view">
            <label>
              Dialect
              <select aria-label="SQL dialect" value={dialect} onChange={(e) => setDialect(e.target.value as SqlDialect)}>
                {SQL_DIALECTS.map((d) => (
                  <option key={d}>{d}</option>
                ))}
              </select>
            </label>
            <pre className="sql" aria-label="Rule as SQL" aria-busy={sql === null}>
              {sql ?? ""}
            </pre>
          </div>
        ) : simple ? (
          <ConditionRows
            rule={simple}
            entity={entity}
            choices={choices}
            problems={problems}
            onChange={(next) => setText(formatSimpleRule(next))}
          />
        ) : (
          <p className="note">
            This rule is more than field conditions joined by one <code>and</code> or one <code>or</code> (a group, not, a link,
            history…): edit it in the code view.
          </p>
        )}
        {simple && (
          <details className="json-form">
            <summary>JSON form</summary>
            <pre aria-label="Rule as JSON">{JSON.stringify(simpleRuleToJson(simple), null, 2)}</pre>
          </details>
        )}
        {count && (
          <p className="count" aria-label="Audience count">
            <strong data-testid="audience-count">{count.count.toLocaleString("en")}</strong> {count.entity} rows ·{" "}
            <span data-testid="audience-ms">{Math.round(count.ms)} ms</span>
          </p>
        )}
        {outcome && (
          <pre className={outcome.kind === "ok" ? "verdict ok" : "verdict error"} role="status">
            {outcome.text}
          </pre>
        )}
        {problems.length > 0 && (
          <ul className="problems" aria-label="Rule problems">
            {problems.map((p, i) => (
              <li key={i}>
                <code>{p.path}</code>: {p.message}
              </li>
            ))}
          </ul>
        )}
        <form
          className="save-audience"
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <input aria-label="Audience name" placeholder="audience_name" value={name} onChange={(e) => setName(e.target.value.trim())} />
          <select aria-label="Save mode" value={append ? "append" : "replace"} onChange={(e) => setAppend(e.target.value === "append")}>
            <option value="replace">replace</option>
            <option value="append">append</option>
          </select>
          <button type="submit" disabled={busy || !name || !entity}>
            Save audience
          </button>
        </form>
      </section>
    </main>
  );
}

/** The rule's conditions as rows. A value being typed that does not read yet stays in the row
 * (marked) and leaves the rule text as it was. */
function ConditionRows({
  rule,
  entity,
  choices,
  problems,
  onChange,
}: {
  rule: SimpleRule;
  entity: string;
  /** The entity's fields from the model; null without a model. */
  choices: FieldChoice[] | null;
  problems: Problem[];
  onChange: (r: SimpleRule) => void;
}) {
  const [drafts, setDrafts] = useState<Record<number, string>>({});
  const flagged = new Map<number, string[]>();
  for (const p of problems) {
    const row = rowOfPath(rule, p.path);
    if (row !== null) flagged.set(row, [...(flagged.get(row) ?? []), p.message]);
  }
  const setRow = (i: number, c: Condition) => onChange({ ...rule, conditions: rule.conditions.map((old, j) => (j === i ? c : old)) });

  return (
    <div className="conditions">
      <label>
        Match
        <select
          aria-label="Combine"
          value={rule.combine}
          onChange={(e) => onChange({ ...rule, combine: e.target.value as "all" | "any" })}
        >
          <option value="all">all (and)</option>
          <option value="any">any (or)</option>
        </select>
      </label>
      {choices && (
        <datalist id="rule-fields">
          {choices.map((f) => (
            <option key={f.path} value={f.path}>
              {f.type}
            </option>
          ))}
        </datalist>
      )}
      <table className="data">
        <tbody>
          {rule.conditions.map((c, i) => {
            const draft = drafts[i];
            const type = choices && fieldType(choices, c.field);
            const kind = inputKind(type, c.op, c.value);
            const valueText = draft ?? (kind === "text" ? formatValue(c.op, c.value) : controlText(kind, c.value));
            const bad =
              kind === "text"
                ? draft !== undefined && readValue(c.op, draft) === null
                : (draft ?? valueText) === "" || (draft !== undefined && controlValue(kind, draft, type!) === null);
            const setValue = (raw: string) => {
              setDrafts({ ...drafts, [i]: raw });
              if (kind === "text") {
                const read = readValue(c.op, raw);
                if (read) setRow(i, { ...c, ...read });
              } else {
                const value = controlValue(kind, raw, type!);
                if (value !== null) setRow(i, { ...c, value });
              }
            };
            return (
              <tr key={i} className={flagged.has(i) ? "problem" : undefined} data-row={i} title={flagged.get(i)?.join("\n")}>
                <td>
                  <input
                    aria-label={`Field ${i + 1}`}
                    list={choices ? "rule-fields" : undefined}
                    className={choices && type === null ? "unknown" : undefined}
                    value={c.field}
                    onChange={(e) => {
                      setDrafts({});
                      setRow(i, { ...c, field: e.target.value.trim() });
                    }}
                  />
                  {choices && (
                    <span className="field-type" data-testid={`field-type-${i + 1}`}>
                      {" "}
                      {type ?? `not a field of ${entity}`}
                    </span>
                  )}
                </td>
                <td>
                  <select aria-label={`Operator ${i + 1}`} value={c.op} onChange={(e) => setRow(i, withOperator(c, e.target.value as Operator))}>
                    {Object.entries(OPERATORS).map(([op, symbol]) => (
                      <option key={op} value={op}>
                        {symbol}
                      </option>
                    ))}
                  </select>
                </td>
                <td>
                  {c.value !== undefined &&
                    (kind === "boolean" ? (
                      <select
                        aria-label={`Value ${i + 1}`}
                        className={bad ? "bad" : undefined}
                        value={valueText}
                        onChange={(e) => setValue(e.target.value)}
                      >
                        {valueText === "" && <option value="">choose</option>}
                        <option value="true">true</option>
                        <option value="false">false</option>
                      </select>
                    ) : (
                      <input
                        aria-label={`Value ${i + 1}`}
                        type={kind}
                        className={bad ? "bad" : undefined}
                        value={valueText}
                        onChange={(e) => setValue(e.target.value)}
                        onBlur={() => setDrafts({})}
                      />
                    ))}
                  {bad && <span className="error"> {kind === "text" ? `not a value for ${OPERATORS[c.op]}` : `needs a ${type} value`}</span>}
                </td>
                <td>
                  <button
                    aria-label={`Remove condition ${i + 1}`}
                    onClick={() => onChange({ ...rule, conditions: rule.conditions.filter((_, j) => j !== i) })}
                  >
                    ×
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <button onClick={() => onChange({ ...rule, conditions: [...rule.conditions, { field: "field", op: "eq", value: "" }] })}>
        Add condition
      </button>
    </div>
  );
}
