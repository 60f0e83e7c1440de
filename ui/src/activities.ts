// The activity catalogue the canvas needs: kind (colour), and which output ports a node has.
// Mirrors the table in docs/campaigns.md; the server stays the judge of validity.

export type Kind = "source" | "targeting" | "control" | "channel";

export const ACTIVITY_KINDS: Record<string, Kind> = {
  build_audience: "source",
  read_audience: "source",
  incremental_query: "source",
  combine: "targeting",
  dedupe: "targeting",
  enrich: "targeting",
  split: "targeting",
  change_dimension: "targeting",
  save_audience: "targeting",
  start: "control",
  fork: "control",
  and_join: "control",
  or_join: "control",
  wait: "control",
  test: "control",
  alert: "control",
  end: "control",
  email: "channel",
  sms: "channel",
  push: "channel",
  direct_mail: "channel",
  webhook: "channel",
};

export const ACTIVITY_TYPES = Object.keys(ACTIVITY_KINDS);

export function kindOf(type: string): Kind | "unknown" {
  return ACTIVITY_KINDS[type] ?? "unknown";
}

/** Settings a new node of each type starts with, so the side panel shows what to fill in. */
export function starterSettings(type: string): Record<string, unknown> {
  switch (type) {
    case "build_audience":
    case "incremental_query":
      return { entity: "" };
    case "read_audience":
      return { audience: "" };
    case "combine":
      return { operation: "union" };
    case "dedupe":
      return { by: [] };
    case "split":
      return { subsets: [{ name: "subset1" }] };
    case "change_dimension":
      return { link: "" };
    case "save_audience":
      return { name: "" };
    case "wait":
      return { duration: "1d" };
    case "test":
      return { branches: [{ name: "branch1", when: "" }] };
    case "alert":
      return { message: "", recipients: [] };
    case "email":
      return { subject: "", body: "" };
    case "sms":
    case "push":
      return { body: "" };
    case "webhook":
      return { url: "" };
    default:
      return {};
  }
}

function names(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list
    .map((item) => (item && typeof item === "object" ? (item as { name?: unknown }).name : undefined))
    .filter((name): name is string => typeof name === "string" && name !== "");
}

/** The output ports of an activity, in the order the canvas draws them. */
export function outputPorts(type: string, settings: Record<string, unknown> | undefined): string[] {
  const s = settings ?? {};
  switch (type) {
    case "split":
      return [...names(s.subsets), "complement"];
    case "test":
      return [...names(s.branches), "default"];
    case "combine":
      return s.operation === "union" ? ["out"] : ["out", "complement"];
    case "dedupe":
    case "change_dimension":
      return ["out", "complement"];
    case "end":
      return [];
    default:
      return ["out"];
  }
}

/** Sources and `start` take no inbound transition: no input handle. */
export function takesInput(type: string): boolean {
  return kindOf(type) !== "source" && type !== "start";
}
