// Every HTTP call the UI makes, in one place, shaped as docs/api.md answers them. Campaign
// documents travel as YAML text; errors come back as `{error, where, problems?}`.
import type { Problem } from "./canvasGraph";
import type { ModelSummary } from "./modelFields";

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface CampaignSummary {
  name: string;
  state: string;
  published_version: number | null;
  draft_version: number | null;
  updated_at?: string;
}

export interface CampaignVersion {
  campaign: string;
  version: number;
  status: string;
  created_at: string;
}

export interface CampaignDetail extends CampaignSummary {
  versions: CampaignVersion[];
  runs: { id: number; status: string; test_mode?: boolean }[];
}

export interface Validation {
  campaign: string;
  valid: boolean;
  activities: number;
  transitions: number;
}

export interface Transition {
  from: string;
  to: string[];
  rows: number | null;
  activated: boolean;
}

export interface RunRecord {
  id: number;
  campaign: string;
  version: number | null;
  status: string;
  test_mode: boolean;
  as_of: string;
  variables: Record<string, unknown>;
  idempotency_key: string | null;
  errors: number;
  error: string | null;
  started_at: string;
  finished_at: string | null;
}

/** A run graph: the answer to a test run, a start, and a resume. */
export interface TestRun {
  run: RunRecord;
  activities: Record<string, string | null>;
  transitions: Transition[];
}

export interface ActivityRun {
  node: string;
  status: string;
  attempt: number;
  as_of: string;
  wake_at: string | null;
  counts: Record<string, number>;
  details: Record<string, unknown>;
  error: string | null;
  elapsed_ms: number | null;
  statements: { sql: string; ms: number }[];
}

/** GET /runs/{id}: the run, its activities' log and its transitions. */
export interface RunDetail {
  run: RunRecord;
  activities: ActivityRun[];
  transitions: Transition[];
}

export interface TransitionRows {
  run: number;
  transition: string;
  columns: string[];
  rows: Record<string, unknown>[];
}

export interface SavedAudience {
  name: string;
  version: number;
  entity: string;
  size: number;
  mode: string;
  source: Record<string, unknown>;
  created_at: string;
}

export type RuleInput = string | Record<string, unknown>;

export const SQL_DIALECTS = ["duckdb", "postgres", "spark"] as const;
export type SqlDialect = (typeof SQL_DIALECTS)[number];

export interface AudienceSql {
  entity: string;
  dialect: SqlDialect;
  sql: string;
}

export interface ActivityReport {
  run: number;
  activity: string;
  channel: string;
  targeted: number;
  excluded: Record<string, number>;
  excluded_total: number;
  pending: number;
  sent: number;
  failed: number;
  delivered: number;
  bounced: number;
  opened: number;
  clicked: number;
  unsubscribed: number;
  complained: number;
  timeline: ({ hour: string } & Record<string, number | string>)[];
  delivery_rate: number | null;
  bounce_rate: number | null;
  open_rate: number | null;
  click_rate: number | null;
  click_to_open_rate: number | null;
  unsubscribe_rate: number | null;
  complaint_rate: number | null;
}

export interface CampaignReport {
  campaign: string;
  activities: ActivityReport[];
}

export type RunMove = "pause" | "resume" | "stop";

const path = (name: string) => encodeURIComponent(name);

/** A refusal from the API: its status, message, place, and the campaign's problems if any. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly where: string | null,
    readonly problems: Problem[],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export class ApiClient {
  constructor(
    private readonly token: string,
    private readonly baseUrl = "",
    private readonly fetchFn: Fetch = (input, init) => fetch(input, init),
  ) {}

  private async request<T>(
    method: string,
    path: string,
    body?: string,
    extra: { contentType?: string; headers?: Record<string, string> } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...extra.headers };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = extra.contentType ?? "application/yaml";
    let response: Response;
    try {
      response = await this.fetchFn(`${this.baseUrl}${path}`, { method, headers, body });
    } catch (error) {
      throw new ApiError(0, `cannot reach the API at ${this.baseUrl || "this server"}: ${String(error)}`, path, []);
    }
    const text = await response.text();
    let data: unknown = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const err = (data ?? {}) as { error?: unknown; where?: unknown; problems?: unknown; detail?: unknown };
      const message =
        typeof err.error === "string" ? err.error : `${method} ${path} answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ""}`;
      const problems = Array.isArray(err.problems) ? (err.problems as Problem[]) : [];
      throw new ApiError(response.status, message, typeof err.where === "string" ? err.where : null, problems);
    }
    return data as T;
  }

  health(): Promise<{ status: string; version: string }> {
    return this.request("GET", "/health");
  }

  listCampaigns(): Promise<CampaignSummary[]> {
    return this.request("GET", "/campaigns");
  }

  getCampaign(name: string): Promise<CampaignDetail> {
    return this.request("GET", `/campaigns/${encodeURIComponent(name)}`);
  }

  /** A version's definition: the document as JSON. */
  async getDefinition(name: string, version: number): Promise<Record<string, unknown>> {
    const found = await this.request<{ definition: Record<string, unknown> }>(
      "GET",
      `/campaigns/${encodeURIComponent(name)}/versions/${version}`,
    );
    return found.definition;
  }

  validate(text: string): Promise<Validation> {
    return this.request("POST", "/campaigns/validate", text);
  }

  private json<T>(method: string, path: string, data: unknown, headers?: Record<string, string>): Promise<T> {
    return this.request(method, path, JSON.stringify(data), { contentType: "application/json", headers });
  }

  /** A test run; `variables` go as `var=NAME=VALUE`, typed by the server as `--var` is. */
  test(text: string, variables: Record<string, string> = {}): Promise<TestRun> {
    const query = new URLSearchParams(Object.entries(variables).map(([k, v]) => ["var", `${k}=${v}`])).toString();
    return this.request("POST", `/campaigns/test${query ? `?${query}` : ""}`, text);
  }

  saveDraft(name: string, text: string): Promise<CampaignVersion> {
    return this.request("PUT", `/campaigns/${encodeURIComponent(name)}/draft`, text);
  }

  publish(name: string, text: string): Promise<CampaignVersion & { state: string }> {
    return this.request("POST", `/campaigns/${encodeURIComponent(name)}/publish`, text);
  }

  /** Start a run of the live campaign; the same `idempotencyKey` always finds the same run. */
  startRun(name: string, variables: Record<string, unknown>, idempotencyKey: string): Promise<TestRun> {
    return this.json("POST", `/campaigns/${path(name)}/runs`, { variables }, { "Idempotency-Key": idempotencyKey });
  }

  listRuns(name: string, limit = 20): Promise<RunRecord[]> {
    return this.request("GET", `/campaigns/${path(name)}/runs?limit=${limit}`);
  }

  getRun(id: number): Promise<RunDetail> {
    return this.request("GET", `/runs/${id}`);
  }

  /** Pause answers the run; resume the run graph; stop the run. */
  moveRun(id: number, move: RunMove): Promise<RunRecord | TestRun> {
    return this.request("POST", `/runs/${id}/${move}`);
  }

  /** The first rows on `transition` (`node` or `node.port`). */
  transitionRows(id: number, transition: string, limit = 20): Promise<TransitionRows> {
    return this.request("GET", `/runs/${id}/transitions/${path(transition)}/rows?limit=${limit}`);
  }

  report(name: string): Promise<CampaignReport> {
    return this.request("GET", `/campaigns/${path(name)}/report`);
  }

  listAudiences(): Promise<SavedAudience[]> {
    return this.request("GET", "/audiences");
  }

  countAudience(entity: string, rule: RuleInput): Promise<{ entity: string; count: number }> {
    return this.json("POST", "/audiences/count", { entity, rule });
  }

  /** The SQL the rule compiles to, for one engine: the builder's code view. */
  audienceSql(entity: string, rule: RuleInput, dialect: SqlDialect): Promise<AudienceSql> {
    return this.json("POST", "/audiences/sql", { entity, rule, dialect });
  }

  /** Every entity: key, fields and their types, links both ways, row count. */
  model(): Promise<ModelSummary> {
    return this.request("GET", "/model");
  }

  saveAudience(name: string, entity: string, rule: RuleInput, append: boolean): Promise<SavedAudience> {
    return this.json("PUT", `/audiences/${path(name)}`, { entity, rule, append });
  }
}
