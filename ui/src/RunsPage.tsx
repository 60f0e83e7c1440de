// A campaign's runs: the list, a form to start one (the published version's variables), and
// one run — its canvas with the rows on every edge, its activities, the publisher's moves, and
// the first rows of a transition.
import { Background, Controls, type Edge, MarkerType, ReactFlow } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useState } from "react";

import { ActivityNodeView } from "./ActivityNodeView";
import { type ApiClient, type RunDetail, type RunMove, type RunRecord, type TransitionRows } from "./apiClient";
import { type CampaignDocument, parseCampaignText } from "./campaignDocument";
import { CampaignTabs } from "./CampaignTabs";
import { type DeclaredVariable, declaredVariables, newIdempotencyKey, startVariables } from "./campaignVariables";
import { canvasEdges, canvasNodes, countsFromTransitions } from "./canvasGraph";
import { layoutPositions } from "./layout";
import { hrefOf } from "./routes";
import { cellText, countsText, inCanvasOrder, movesFor } from "./runView";

const nodeTypes = { activity: ActivityNodeView };

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function RunsPage({ api, name, run }: { api: ApiClient; name: string; run: number | null }) {
  const [runs, setRuns] = useState<RunRecord[] | null>(null);
  const [state, setState] = useState<string>("");
  const [declared, setDeclared] = useState<DeclaredVariable[]>([]);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(() => {
    api
      .listRuns(name)
      .then(setRuns)
      .catch((e: unknown) => setError(errorText(e)));
  }, [api, name]);

  useEffect(() => {
    refresh();
    let live = true;
    (async () => {
      try {
        const detail = await api.getCampaign(name);
        if (!live) return;
        setState(detail.state);
        if (detail.published_version !== null) {
          const definition = await api.getDefinition(name, detail.published_version);
          if (live) setDeclared(declaredVariables(definition));
        }
      } catch (e) {
        if (live) setError(errorText(e));
      }
    })();
    return () => {
      live = false;
    };
  }, [api, name, refresh]);

  return (
    <main className="runs-page">
      <div className="toolbar">
        <h1>{name}</h1>
        <CampaignTabs name={name} current="runs" />
        <span className="info">{state}</span>
      </div>
      {error && <p className="error" role="alert">{error}</p>}
      <div className="runs-layout">
        <aside className="runs-side">
          <StartRun
            api={api}
            name={name}
            declared={declared}
            live={state === "live"}
            onStarted={(id) => {
              refresh();
              window.location.hash = hrefOf({ page: "runs", name, run: id });
            }}
          />
          <h2>Runs</h2>
          {runs && (
            <table className="data" aria-label="Runs">
              <thead>
                <tr>
                  <th>run</th>
                  <th>status</th>
                  <th>version</th>
                  <th>started</th>
                </tr>
              </thead>
              <tbody>
                {runs.map((r) => (
                  <tr key={r.id} aria-selected={r.id === run}>
                    <td>
                      <a href={hrefOf({ page: "runs", name, run: r.id })}>#{r.id}</a>
                      {r.test_mode ? " (test)" : ""}
                    </td>
                    <td>{r.status}</td>
                    <td className="num">{r.version ?? "—"}</td>
                    <td>{r.started_at.replace("T", " ").slice(0, 19)}</td>
                  </tr>
                ))}
                {runs.length === 0 && (
                  <tr>
                    <td colSpan={4}>No runs yet.</td>
                  </tr>
                )}
              </tbody>
            </table>
          )}
        </aside>
        <section className="run-main">
          {run === null ? <p className="note">Pick a run, or start one.</p> : <RunView key={run} api={api} name={name} id={run} onMoved={refresh} />}
        </section>
      </div>
    </main>
  );
}

function StartRun({
  api,
  name,
  declared,
  live,
  onStarted,
}: {
  api: ApiClient;
  name: string;
  declared: DeclaredVariable[];
  live: boolean;
  onStarted: (id: number) => void;
}) {
  const [inputs, setInputs] = useState<Record<string, string>>({});
  // One key per start: a retry after a lost answer (or a double click) finds the same run.
  const [key, setKey] = useState(() => newIdempotencyKey());
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ kind: "ok" | "error"; text: string } | null>(null);

  const start = async () => {
    setBusy(true);
    setMessage(null);
    try {
      const started = await api.startRun(name, startVariables(declared, inputs), key);
      setKey(newIdempotencyKey());
      setMessage({ kind: "ok", text: `run ${started.run.id} ${started.run.status}` });
      onStarted(started.run.id);
    } catch (e) {
      setMessage({ kind: "error", text: `Start: ${errorText(e)}` });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="start-run"
      aria-label="Start a run"
      onSubmit={(e) => {
        e.preventDefault();
        void start();
      }}
    >
      <h2>Start a run</h2>
      {declared.map((v) => (
        <label key={v.name} title={v.description}>
          {v.name} <small>({v.type})</small>
          <input
            aria-label={`Start variable ${v.name}`}
            placeholder={v.default === null ? "required" : String(v.default)}
            value={inputs[v.name] ?? ""}
            onChange={(e) => setInputs({ ...inputs, [v.name]: e.target.value })}
          />
        </label>
      ))}
      <button type="submit" disabled={busy || !live} title={live ? `Idempotency-Key: ${key}` : "only a live campaign starts"}>
        Start run
      </button>
      {message && (
        <p className={message.kind === "ok" ? "verdict ok" : "verdict error"} role="status">
          {message.text}
        </p>
      )}
    </form>
  );
}

function RunView({ api, name, id, onMoved }: { api: ApiClient; name: string; id: number; onMoved: () => void }) {
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [doc, setDoc] = useState<CampaignDocument | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const [preview, setPreview] = useState<TransitionRows | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    const found = await api.getRun(id);
    setDetail(found);
    return found;
  }, [api, id]);

  // A run being advanced (by the server's worker, or another request) is followed until it
  // settles: running → waiting, completed, paused...
  const status = detail?.run.status;
  useEffect(() => {
    if (status !== "running") return;
    const timer = window.setTimeout(() => {
      load().catch(() => undefined); // a failed refresh keeps what is shown; the next try may do
    }, 1000);
    return () => window.clearTimeout(timer);
  }, [status, detail, load]);

  useEffect(() => {
    let live = true;
    (async () => {
      try {
        const found = await load();
        // The canvas of the version the run ran (a test run's document is not stored).
        if (found.run.version !== null && live) {
          const definition = await api.getDefinition(found.run.campaign, found.run.version);
          if (live) setDoc(parseCampaignText(JSON.stringify(definition)));
        }
      } catch (e) {
        if (live) setError(errorText(e));
      }
    })();
    return () => {
      live = false;
    };
  }, [api, load]);

  const counts = useMemo(() => (detail ? countsFromTransitions(detail.transitions) : null), [detail]);
  const nodes = useMemo(() => (doc ? canvasNodes(doc, layoutPositions(doc), [], counts) : []), [doc, counts]);
  const edges = useMemo(() => (doc ? canvasEdges(doc, counts) : []), [doc, counts]);

  const move = async (m: RunMove) => {
    setBusy(true);
    setMessage(null);
    try {
      await api.moveRun(id, m);
      const found = await load();
      setMessage({ kind: "ok", text: `${m}: run ${id} is ${found.run.status}` });
      onMoved();
    } catch (e) {
      setMessage({ kind: "error", text: `${m}: ${errorText(e)}` });
    } finally {
      setBusy(false);
    }
  };

  const showRows = async (transition: string) => {
    setPreviewError(null);
    try {
      setPreview(await api.transitionRows(id, transition));
    } catch (e) {
      setPreview(null);
      setPreviewError(`${transition}: ${errorText(e)}`);
    }
  };

  if (error) return <p className="error" role="alert">{error}</p>;
  if (!detail) return <p>Loading run {id}…</p>;
  const r = detail.run;
  const order = doc ? doc.nodes.map((n) => n.id) : [];

  return (
    <div className="run-view" aria-label={`Run ${id}`}>
      <div className="run-head">
        <h2>
          Run #{r.id} <span className={`status status-${r.status}`} data-testid="run-status">{r.status}</span>
        </h2>
        <span className="info">
          version {r.version ?? "— (test)"} · as of {r.as_of} · started {r.started_at}
          {r.finished_at ? ` · finished ${r.finished_at}` : ""}
          {Object.keys(r.variables).length ? ` · variables ${JSON.stringify(r.variables)}` : ""}
          {r.idempotency_key ? ` · key ${r.idempotency_key}` : ""}
        </span>
        {movesFor(r.status).map((m) => (
          <button key={m} disabled={busy} className={m === "stop" ? "danger" : undefined} onClick={() => void move(m)}>
            {m[0]!.toUpperCase() + m.slice(1)}
          </button>
        ))}
      </div>
      {r.error && <p className="error">{r.error}</p>}
      {message && (
        <p className={message.kind === "ok" ? "verdict ok" : "verdict error"} role="status">
          {message.text}
        </p>
      )}
      {doc && (
        <div className="run-canvas" data-testid="run-canvas">
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            nodesDraggable={false}
            nodesConnectable={false}
            elementsSelectable
            onEdgeClick={(_, edge: Edge) => void showRows(`${edge.source}.${edge.sourceHandle ?? "out"}`)}
            defaultEdgeOptions={{ markerEnd: { type: MarkerType.ArrowClosed } }}
            fitView
            deleteKeyCode={null}
          >
            <Background />
            <Controls showInteractive={false} />
          </ReactFlow>
        </div>
      )}
      <h3>Activities</h3>
      <table className="data" aria-label="Activities">
        <thead>
          <tr>
            <th>activity</th>
            <th>status</th>
            <th>attempt</th>
            <th>rows</th>
            <th>ms</th>
            <th>wakes</th>
            <th>error</th>
          </tr>
        </thead>
        <tbody>
          {inCanvasOrder(detail.activities, order).map((a) => (
            <tr key={a.node} data-node={a.node}>
              <td>{a.node}</td>
              <td>{a.status}</td>
              <td className="num">{a.attempt}</td>
              <td>{countsText(a.counts)}</td>
              <td className="num">{a.elapsed_ms === null ? "—" : a.elapsed_ms.toFixed(1)}</td>
              <td>{a.wake_at ?? ""}</td>
              <td className="error">{a.error ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Transitions</h3>
      <table className="data" aria-label="Transitions">
        <thead>
          <tr>
            <th>from</th>
            <th>to</th>
            <th>rows</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {detail.transitions.map((t) => (
            <tr key={t.from} data-transition={t.from}>
              <td>{t.from}</td>
              <td>{t.to.join(", ") || "—"}</td>
              <td className="num">
                {t.rows === null ? "—" : t.rows.toLocaleString("en")}
                {t.activated ? "" : " (not activated)"}
              </td>
              <td>
                <button disabled={!t.activated} onClick={() => void showRows(t.from)}>
                  Preview rows
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {previewError && <p className="error" role="alert">{previewError}</p>}
      {preview && (
        <section aria-label="Rows preview">
          <h3>
            First {preview.rows.length} rows on {preview.transition}
          </h3>
          <div className="scroll">
            <table className="data rows-preview">
              <thead>
                <tr>
                  {preview.columns.map((c) => (
                    <th key={c}>{c}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {preview.rows.map((row, i) => (
                  <tr key={i}>
                    {preview.columns.map((c) => (
                      <td key={c}>{cellText(row[c])}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
      <p>
        <a href={hrefOf({ page: "report", name })}>The campaign's report</a>
      </p>
    </div>
  );
}
