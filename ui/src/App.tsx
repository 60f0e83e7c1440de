// The shell: the token field, and hash routes (#/ the campaigns, #/campaigns/NAME one canvas)
// so the app works from any static folder without server-side routing.
import { useEffect, useMemo, useState } from "react";

import { ApiClient } from "./apiClient";
import { CampaignEditor } from "./CampaignEditor";
import { CampaignList } from "./CampaignList";
import { storedToken, storeToken } from "./session";

export function routeOf(hash: string): string {
  const raw = hash.replace(/^#/, "");
  try {
    return decodeURIComponent(raw) || "/";
  } catch {
    return "/"; // a malformed address (#%E0) shows the campaigns, not a blank page
  }
}

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
  const match = /^\/campaigns\/([^/?]+)(\?new)?$/.exec(route);

  return (
    <div className="app">
      <header>
        <a href="#/" className="brand">
          cantata
        </a>
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
      {match ? (
        <CampaignEditor key={match[1]} api={api} name={match[1]!} isNew={Boolean(match[2])} />
      ) : (
        <CampaignList api={api} />
      )}
    </div>
  );
}
