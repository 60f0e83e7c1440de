// Every HTTP call the UI makes, in one place, shaped as docs/api.md answers them. Campaign
// documents travel as YAML text; errors come back as `{error, where, problems?}`.
import type { Problem } from "./canvasGraph";

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

export interface TestRun {
  run: { id: number; status: string; as_of: string };
  activities: Record<string, string | null>;
  transitions: Transition[];
}

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

  private async request<T>(method: string, path: string, body?: string): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/yaml";
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

  test(text: string): Promise<TestRun> {
    return this.request("POST", "/campaigns/test", text);
  }

  saveDraft(name: string, text: string): Promise<CampaignVersion> {
    return this.request("PUT", `/campaigns/${encodeURIComponent(name)}/draft`, text);
  }

  publish(name: string, text: string): Promise<CampaignVersion & { state: string }> {
    return this.request("POST", `/campaigns/${encodeURIComponent(name)}/publish`, text);
  }
}
