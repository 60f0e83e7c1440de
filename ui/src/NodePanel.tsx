// The selected node: id, type, label and settings (YAML or JSON text), applied in one go; for
// a node reading an entity, the model's entities to pick from and the chosen one's fields.
import { useState } from "react";

import { ACTIVITY_TYPES } from "./activities";
import {
  type CampaignDocument,
  type CampaignNode,
  parseSettingsText,
  settingsText,
  updateNode,
} from "./campaignDocument";
import type { Problem } from "./canvasGraph";
import { entityLabel, fieldChoices, type ModelSummary } from "./modelFields";

interface Props {
  node: CampaignNode;
  doc: CampaignDocument;
  problems: Problem[];
  onChange: (doc: CampaignDocument, id: string) => void;
  onDelete: () => void;
  /** The workspace's model, when it could be read. */
  model?: ModelSummary | null;
}

const ID = /^[A-Za-z0-9_]+$/;

/** The settings' `entity`, when the text reads and has one. */
function settingsEntity(text: string): { settings: Record<string, unknown>; entity: unknown } | null {
  try {
    const settings = parseSettingsText(text);
    return "entity" in settings ? { settings, entity: settings.entity } : null;
  } catch {
    return null;
  }
}

export function NodePanel({ node, doc, problems, onChange, onDelete, model }: Props) {
  const [id, setId] = useState(node.id);
  const [type, setType] = useState(node.type);
  const [label, setLabel] = useState(node.label ?? "");
  const [settings, setSettings] = useState(settingsText(node.settings));
  const [error, setError] = useState<string | null>(null);
  const entitySetting = settingsEntity(settings);

  const apply = () => {
    if (!ID.test(id)) return setError("an id holds letters, digits and _ only");
    if (id !== node.id && doc.nodes.some((n) => n.id === id)) return setError(`another node is already '${id}'`);
    try {
      const parsed = parseSettingsText(settings);
      setError(null);
      onChange(updateNode(doc, node.id, { id, type, label, settings: parsed }), id);
    } catch (e) {
      setError(`settings: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  return (
    <aside className="node-panel" aria-label="Selected node">
      <h2>{node.id}</h2>
      <label>
        id
        <input aria-label="Node id" value={id} onChange={(e) => setId(e.target.value)} />
      </label>
      <label>
        type
        <select aria-label="Node type" value={type} onChange={(e) => setType(e.target.value)}>
          {(ACTIVITY_TYPES.includes(type) ? ACTIVITY_TYPES : [type, ...ACTIVITY_TYPES]).map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
      </label>
      <label>
        label
        <input aria-label="Node label" value={label} onChange={(e) => setLabel(e.target.value)} />
      </label>
      <label>
        settings (YAML or JSON)
        <textarea aria-label="Node settings" spellCheck={false} rows={14} value={settings} onChange={(e) => setSettings(e.target.value)} />
      </label>
      {model && entitySetting && (
        <div className="model-hint" aria-label="Model entities">
          entity:{" "}
          {Object.keys(model)
            .sort()
            .map((name) => (
              <button
                key={name}
                className="chip"
                aria-pressed={entitySetting.entity === name}
                title={entityLabel(name, model[name]!)}
                onClick={() => setSettings(settingsText({ ...entitySetting.settings, entity: name }))}
              >
                {name}
              </button>
            ))}
          {typeof entitySetting.entity === "string" && entitySetting.entity in model && (
            <p className="note" data-testid="entity-fields">
              {entityLabel(entitySetting.entity, model[entitySetting.entity]!)}:{" "}
              {fieldChoices(model, entitySetting.entity)
                .map((f) => `${f.path} (${f.type})`)
                .join(", ")}
            </p>
          )}
        </div>
      )}
      {error && <p className="error" role="alert">{error}</p>}
      {problems.length > 0 && (
        <ul className="node-problems">
          {problems.map((p, i) => (
            <li key={i}>
              {p.path}: {p.message}
            </li>
          ))}
        </ul>
      )}
      <div className="panel-buttons">
        <button onClick={apply}>Apply</button>
        <button className="danger" onClick={onDelete}>
          Delete node
        </button>
      </div>
    </aside>
  );
}
