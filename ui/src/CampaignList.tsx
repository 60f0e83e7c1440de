import { useEffect, useState } from "react";

import { type ApiClient, ApiError, type CampaignSummary } from "./apiClient";
import { hrefOf } from "./routes";

const NAME = /^[A-Za-z0-9_.-]+$/;

export function CampaignList({ api }: { api: ApiClient }) {
  const [campaigns, setCampaigns] = useState<CampaignSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [newName, setNewName] = useState("");

  useEffect(() => {
    let live = true;
    setError(null);
    api
      .listCampaigns()
      .then((found) => live && setCampaigns(found))
      .catch((e: unknown) => live && setError(e instanceof ApiError ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [api]);

  return (
    <main className="list">
      <h1>Campaigns</h1>
      {error && <p className="error" role="alert">{error}</p>}
      {campaigns && (
        <table>
          <thead>
            <tr>
              <th>name</th>
              <th>state</th>
              <th>published</th>
              <th>draft</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {campaigns.map((c) => (
              <tr key={c.name}>
                <td>
                  <a href={`#/campaigns/${encodeURIComponent(c.name)}`}>{c.name}</a>
                </td>
                <td>{c.state}</td>
                <td>{c.published_version ?? "—"}</td>
                <td>{c.draft_version ?? "—"}</td>
                <td className="row-links">
                  <a href={hrefOf({ page: "runs", name: c.name, run: null })}>runs</a>{" "}
                  <a href={hrefOf({ page: "report", name: c.name })}>report</a>
                </td>
              </tr>
            ))}
            {campaigns.length === 0 && (
              <tr>
                <td colSpan={5}>No campaigns yet.</td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      <form
        className="new-campaign"
        onSubmit={(e) => {
          e.preventDefault();
          if (NAME.test(newName)) window.location.hash = `#/campaigns/${encodeURIComponent(newName)}?new`;
        }}
      >
        <input aria-label="New campaign name" placeholder="new_campaign" value={newName} onChange={(e) => setNewName(e.target.value)} />
        <button type="submit" disabled={!NAME.test(newName)}>
          New campaign
        </button>
      </form>
    </main>
  );
}
