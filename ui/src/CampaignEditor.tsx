// One campaign: the canvas, the side panel, the document view, and the server's verdicts.
// The document is the single source of truth; the canvas and the YAML text are views of it.
import {
  applyNodeChanges,
  Background,
  type Connection,
  Controls,
  type Edge,
  MarkerType,
  type NodeChange,
  ReactFlow,
  type ReactFlowInstance,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useState } from "react";

import { ACTIVITY_KINDS, ACTIVITY_TYPES } from "./activities";
import { type ApiClient, ApiError } from "./apiClient";
import { ActivityNodeView } from "./ActivityNodeView";
import { declaredVariables, testVariables } from "./campaignVariables";
import { CampaignTabs } from "./CampaignTabs";
import {
  addNode,
  type CampaignDocument,
  campaignText,
  connect,
  DocumentTextError,
  editedCampaignText,
  moveNodes,
  newCampaign,
  parseCampaignText,
  type Position,
  removeEdges,
  removeNodes,
} from "./campaignDocument";
import {
  type ActivityNode,
  canvasEdges,
  canvasNodes,
  countsFromTransitions,
  type Problem,
  type TransitionCounts,
} from "./canvasGraph";
import { layoutPositions, NODE_HEIGHT } from "./layout";
import type { ModelSummary } from "./modelFields";
import { NodePanel } from "./NodePanel";

const nodeTypes = { activity: ActivityNodeView };

type Verdict = { kind: "ok" | "error"; text: string } | null;

function errorText(e: unknown): string {
  return e instanceof ApiError || e instanceof Error ? e.message : String(e);
}

export function CampaignEditor({ api, name, isNew }: { api: ApiClient; name: string; isNew: boolean }) {
  const [doc, setDoc] = useState<CampaignDocument | null>(null);
  const [text, setText] = useState("");
  const [textError, setTextError] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [info, setInfo] = useState<string>("");
  const [problems, setProblems] = useState<Problem[]>([]);
  const [counts, setCounts] = useState<TransitionCounts | null>(null);
  // The model, for the side panel's entity suggestions; without it the panel is plain text.
  const [model, setModel] = useState<ModelSummary | null>(null);
  useEffect(() => {
    api
      .model()
      .then(setModel)
      .catch(() => setModel(null));
  }, [api]);
  const [verdict, setVerdict] = useState<Verdict>(null);
  const [busy, setBusy] = useState(false);
  const [view, setView] = useState<"canvas" | "document">("canvas");
  const [selected, setSelected] = useState<string | null>(null);
  const [nodes, setNodes] = useState<ActivityNode[]>([]);
  const [flow, setFlow] = useState<ReactFlowInstance<ActivityNode> | null>(null);
  const [variables, setVariables] = useState<Record<string, string>>({});

  // A loaded document is written out whole; a canvas edit rewrites only the part of the text it
  // changes (comments and layout elsewhere stay); a text edit (below) re-reads the document.
  const loadDoc = useCallback((loaded: CampaignDocument) => {
    setDoc(loaded);
    setText(campaignText(loaded));
    setTextError(null);
  }, []);
  const applyDoc = useCallback((next: CampaignDocument) => {
    setDoc(next);
    setText((previous) => editedCampaignText(previous, next));
    setTextError(null);
  }, []);

  useEffect(() => {
    let live = true;
    (async () => {
      try {
        if (isNew) {
          loadDoc(newCampaign(name));
          setInfo("new campaign (not saved)");
          return;
        }
        const detail = await api.getCampaign(name);
        const version = detail.draft_version ?? detail.published_version;
        if (version === null) throw new Error(`campaign '${name}' has no saved version`);
        const definition = await api.getDefinition(name, version);
        if (!live) return;
        loadDoc(parseCampaignText(JSON.stringify(definition)));
        setInfo(`${detail.state} · editing version ${version} (${version === detail.draft_version ? "draft" : "published"})`);
      } catch (e) {
        if (live) setLoadError(errorText(e));
      }
    })();
    return () => {
      live = false;
    };
  }, [api, name, isNew, loadDoc]);

  const positions = useMemo(() => (doc ? layoutPositions(doc) : {}), [doc]);
  useEffect(() => {
    if (!doc) return;
    setNodes(
      canvasNodes(doc, positions, problems, counts).map((n) => ({ ...n, selected: n.id === selected })),
    );
  }, [doc, positions, problems, counts, selected]);
  // A node added or removed (palette, document text) may fall outside the view: refit.
  const nodeCount = doc?.nodes.length ?? 0;
  useEffect(() => {
    if (!flow) return;
    const frame = requestAnimationFrame(() => void flow.fitView({ padding: 0.15 }));
    return () => cancelAnimationFrame(frame);
  }, [flow, nodeCount]);
  const edges = useMemo(() => (doc ? canvasEdges(doc, counts, problems) : []), [doc, counts, problems]);

  const onNodesChange = useCallback(
    (changes: NodeChange<ActivityNode>[]) => {
      setNodes((current) => applyNodeChanges(changes, current));
      const moved: Record<string, Position> = {};
      for (const change of changes) {
        // Only a finished drag is written to the document: one edit per move.
        if (change.type === "position" && change.dragging === false && change.position) moved[change.id] = change.position;
        if (change.type === "select" && change.selected) setSelected(change.id);
      }
      if (doc && Object.keys(moved).length) applyDoc(moveNodes(doc, moved));
    },
    [doc, applyDoc],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      if (doc && c.source && c.target) applyDoc(connect(doc, c.source, c.sourceHandle ?? "out", c.target));
    },
    [doc, applyDoc],
  );

  const onDelete = useCallback(
    ({ nodes: goneNodes, edges: goneEdges }: { nodes: ActivityNode[]; edges: Edge[] }) => {
      if (!doc) return;
      let next = removeEdges(doc, goneEdges.map((e) => e.id));
      next = removeNodes(next, goneNodes.map((n) => n.id));
      if (goneNodes.some((n) => n.id === selected)) setSelected(null);
      applyDoc(next);
    },
    [doc, applyDoc, selected],
  );

  const onTextChange = (value: string) => {
    setText(value);
    try {
      setDoc(parseCampaignText(value));
      setTextError(null);
    } catch (e) {
      setTextError(e instanceof DocumentTextError ? e.message : String(e));
    }
  };

  const addFromPalette = (type: string) => {
    if (!doc) return;
    // Below everything already there, so a new node never hides another.
    const bottom = Math.max(0, ...Object.values(positions).map((p) => p.y + NODE_HEIGHT + 40));
    const { doc: next, id } = addNode(doc, type, { x: 40, y: bottom });
    applyDoc(next);
    setSelected(id);
  };

  const call = async (label: string, work: () => Promise<string>) => {
    setBusy(true);
    setVerdict(null);
    try {
      setVerdict({ kind: "ok", text: await work() });
    } catch (e) {
      if (e instanceof ApiError && e.problems.length) setProblems(e.problems);
      setVerdict({ kind: "error", text: `${label}: ${errorText(e)}` });
    } finally {
      setBusy(false);
    }
  };

  const blocked = busy || !doc || textError !== null;
  const declared = declaredVariables(doc);
  const selectedNode = doc?.nodes.find((n) => n.id === selected) ?? null;

  if (loadError) return <main className="editor"><p className="error" role="alert">{loadError}</p></main>;
  if (!doc) return <main className="editor"><p>Loading {name}…</p></main>;

  return (
    <main className="editor">
      <div className="toolbar">
        <h1>{doc.name || name}</h1>
        {!isNew && <CampaignTabs name={name} current="canvas" />}
        <span className="info">{info}</span>
        <div className="tabs" role="tablist">
          <button role="tab" aria-selected={view === "canvas"} onClick={() => setView("canvas")}>Canvas</button>
          <button role="tab" aria-selected={view === "document"} onClick={() => setView("document")}>Document</button>
        </div>
        <button
          disabled={blocked}
          onClick={() =>
            call("Validate", async () => {
              setProblems([]);
              const v = await api.validate(text);
              return `valid: ${v.activities} activities, ${v.transitions} transitions`;
            })
          }
        >
          Validate
        </button>
        <button
          disabled={blocked}
          onClick={() =>
            call("Test", async () => {
              setProblems([]);
              const run = await api.test(text, testVariables(variables));
              setCounts(countsFromTransitions(run.transitions));
              const vars = Object.entries(run.run.variables ?? {}).map(([k, v]) => `${k}=${String(v)}`);
              return `test run ${run.run.id} ${run.run.status}: counts on ${run.transitions.length} transitions${vars.length ? ` (${vars.join(", ")})` : ""}`;
            })
          }
        >
          Test
        </button>
        <button
          disabled={blocked}
          onClick={() =>
            call("Save draft", async () => {
              setProblems([]);
              const v = await api.saveDraft(name, text);
              setInfo(`draft saved · version ${v.version}`);
              return `saved draft version ${v.version}`;
            })
          }
        >
          Save draft
        </button>
        <button
          disabled={blocked}
          onClick={() =>
            call("Publish", async () => {
              setProblems([]);
              const v = await api.publish(name, text);
              setInfo(`${v.state} · version ${v.version} published`);
              return `published version ${v.version}; the campaign is ${v.state}`;
            })
          }
        >
          Publish
        </button>
      </div>
      {declared.length > 0 && (
        <div className="variables" aria-label="Test variables">
          <span>Test with</span>
          {declared.map((v) => (
            <label key={v.name} title={v.description}>
              {v.name} <small>({v.type})</small>
              <input
                aria-label={`Variable ${v.name}`}
                placeholder={v.default === null ? "required" : String(v.default)}
                value={variables[v.name] ?? ""}
                onChange={(e) => setVariables({ ...variables, [v.name]: e.target.value })}
              />
            </label>
          ))}
        </div>
      )}
      {verdict && (
        <p className={verdict.kind === "ok" ? "verdict ok" : "verdict error"} role="status">
          {verdict.text}
        </p>
      )}
      {problems.length > 0 && (
        <ul className="problems" aria-label="Problems">
          {problems.map((p, i) => (
            <li key={i}>
              <button className="link" disabled={!p.node} onClick={() => p.node && setSelected(p.node)}>
                {p.node ? `[${p.node}] ` : ""}
                {p.path}
              </button>
              : {p.message}
              {p.line ? ` (line ${p.line})` : ""}
            </li>
          ))}
        </ul>
      )}
      {view === "canvas" ? (
        <div className="workspace">
          <aside className="palette" aria-label="Palette">
            {(["source", "targeting", "control", "channel"] as const).map((kind) => (
              <section key={kind}>
                <h3>{kind}</h3>
                {ACTIVITY_TYPES.filter((t) => ACTIVITY_KINDS[t] === kind).map((t) => (
                  <button key={t} className={`palette-item kind-${kind}`} onClick={() => addFromPalette(t)}>
                    {t}
                  </button>
                ))}
              </section>
            ))}
          </aside>
          <div className="canvas" data-testid="canvas">
            <ReactFlow<ActivityNode>
              nodes={nodes}
              edges={edges}
              nodeTypes={nodeTypes}
              onNodesChange={onNodesChange}
              onConnect={onConnect}
              onDelete={onDelete}
              onPaneClick={() => setSelected(null)}
              onInit={setFlow}
              defaultEdgeOptions={{ markerEnd: { type: MarkerType.ArrowClosed } }}
              fitView
              deleteKeyCode={["Backspace", "Delete"]}
            >
              <Background />
              <Controls />
            </ReactFlow>
          </div>
          {selectedNode && (
            <NodePanel
              key={selectedNode.id}
              node={selectedNode}
              problems={problems.filter((p) => p.node === selectedNode.id)}
              doc={doc}
              model={model}
              onChange={(next, id) => {
                applyDoc(next);
                setSelected(id);
              }}
              onDelete={() => {
                applyDoc(removeNodes(doc, [selectedNode.id]));
                setSelected(null);
              }}
            />
          )}
        </div>
      ) : (
        <div className="document">
          {textError && <p className="error" role="alert">{textError}</p>}
          <textarea aria-label="Campaign document" spellCheck={false} value={text} onChange={(e) => onTextChange(e.target.value)} />
        </div>
      )}
    </main>
  );
}
