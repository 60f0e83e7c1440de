// The shell: the token field, the navigation, and hash routes (routes.ts) so the app works
// from any static folder without server-side routing.
import { useEffect, useMemo, useState } from "react";

import { ApiClient } from "./apiClient";
import { AudiencesPage } from "./AudiencesPage";
import { CampaignEditor } from "./CampaignEditor";
import { CampaignList } from "./CampaignList";
import { ReportPage } from "./ReportPage";
import { pageOf, routeOf } from "./routes";
import { RunsPage } from "./RunsPage";
import { storedToken, storeToken } from "./session";

export { routeOf };

function currentRoute(): string {
  return routeOf(window.location.hash);
}

export function App() {
  const [token, setToken] = useState(storedToken);
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const onHash = () => setRoute(currentRoute());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  const api = useMemo(() => new ApiClient(token), [token]);
  const page = pageOf(route);
  const section = page.page === "audiences" ? "audiences" : "campaigns";

  return (
    <div className="app">
      <header>
        <a href="#/" className="brand">
          cantata
        </a>
        <nav className="main-nav" aria-label="Main">
          <a href="#/" aria-current={section === "campaigns" ? "page" : undefined}>
            Campaigns
          </a>
          <a href="#/audiences" aria-current={section === "audiences" ? "page" : undefined}>
            Audiences
          </a>
        </nav>
        <label className="token">
          API token
          <input
            type="password"
            aria-label="API token"
            placeholder="cantata_…"
            value={token}
            onChange={(e) => {
              setToken(e.target.value.trim());
              storeToken(e.target.value.trim());
            }}
          />
        </label>
      </header>
      {page.page === "canvas" && <CampaignEditor key={page.name} api={api} name={page.name} isNew={page.isNew} />}
      {page.page === "runs" && <RunsPage key={page.name} api={api} name={page.name} run={page.run} />}
      {page.page === "report" && <ReportPage key={page.name} api={api} name={page.name} />}
      {page.page === "audiences" && <AudiencesPage api={api} />}
      {page.page === "campaigns" && <CampaignList api={api} />}
    </div>
  );
}
