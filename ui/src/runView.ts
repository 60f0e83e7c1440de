// A run as the runs page shows it: which moves its status allows, and its activities in the
// canvas's order, with their rows per port written out.
import type { ActivityRun, RunMove } from "./apiClient";

const FINISHED = new Set(["completed", "stopped", "failed"]);

/** The moves docs/runs.md allows from a status (the server still has the last word: 409):
 * a running or waiting run pauses; any unfinished one resumes (a running one whose process
 * died, too) and stops. */
export function movesFor(status: string): RunMove[] {
  if (FINISHED.has(status)) return [];
  return status === "running" || status === "waiting" ? ["pause", "resume", "stop"] : ["resume", "stop"];
}

/** `out 1,204 · complement 3`, ports in the order the server gave them. */
export function countsText(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([port, n]) => `${port} ${n.toLocaleString("en")}`)
    .join(" · ");
}

/** Activities in the canvas's order (`order`: node ids as drawn), unknown ones last. */
export function inCanvasOrder(activities: ActivityRun[], order: string[]): ActivityRun[] {
  const rank = new Map(order.map((id, i) => [id, i]));
  return [...activities].sort((a, b) => (rank.get(a.node) ?? order.length) - (rank.get(b.node) ?? order.length));
}

/** A cell of the rows preview: nested values (an enrich's related rows) as JSON. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
