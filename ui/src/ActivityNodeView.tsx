// One activity on the canvas: coloured by kind, an input handle on top (unless it is a source)
// and one labelled handle per output port along the bottom.
import { Handle, type NodeProps, Position } from "@xyflow/react";

import type { ActivityNode } from "./canvasGraph";
import { nodeWidth } from "./layout";

export function ActivityNodeView({ data, selected }: NodeProps<ActivityNode>) {
  const classes = ["activity", `kind-${data.kind}`];
  if (selected) classes.push("selected");
  if (data.problems.length) classes.push("has-problem");
  return (
    <div className={classes.join(" ")} style={{ width: nodeWidth(data.ports.length) }} data-node-id={data.id} title={data.problems.join("\n")}>
      {data.input && <Handle type="target" position={Position.Top} id="in" />}
      <div className="activity-id">{data.id}</div>
      <div className="activity-type">
        {data.type}
        {data.label ? ` — ${data.label}` : ""}
      </div>
      {data.ports.map((port, i) => {
        const left = `${((i + 1) * 100) / (data.ports.length + 1)}%`;
        return (
          <Handle key={port} type="source" position={Position.Bottom} id={port} style={{ left }} data-port={port}>
            {data.ports.length > 1 || port !== "out" || data.unlinked[port] !== undefined ? (
              <span className="port-name">
                {port}
                {data.unlinked[port] !== undefined ? ` · ${data.unlinked[port]!.toLocaleString("en")}` : ""}
              </span>
            ) : null}
          </Handle>
        );
      })}
    </div>
  );
}
