// Hash routes: the page an address shows. Pure, so the table of addresses is tested.
export type Route =
  | { page: "campaigns" }
  | { page: "audiences" }
  | { page: "canvas"; name: string; isNew: boolean }
  | { page: "runs"; name: string; run: number | null }
  | { page: "report"; name: string };

export function routeOf(hash: string): string {
  const raw = hash.replace(/^#/, "");
  try {
    return decodeURIComponent(raw) || "/";
  } catch {
    return "/"; // a malformed address (#%E0) shows the campaigns, not a blank page
  }
}

export function pageOf(route: string): Route {
  if (route === "/audiences") return { page: "audiences" };
  const m = /^\/campaigns\/([^/?]+)(?:(\?new)|\/(runs)(?:\/(\d+))?|\/(report))?$/.exec(route);
  if (!m) return { page: "campaigns" };
  const name = m[1]!;
  if (m[3]) return { page: "runs", name, run: m[4] ? Number(m[4]) : null };
  if (m[5]) return { page: "report", name };
  return { page: "canvas", name, isNew: Boolean(m[2]) };
}

/** The address of a page, names escaped. */
export function hrefOf(route: Route): string {
  switch (route.page) {
    case "campaigns":
      return "#/";
    case "audiences":
      return "#/audiences";
    case "canvas":
      return `#/campaigns/${encodeURIComponent(route.name)}${route.isNew ? "?new" : ""}`;
    case "runs":
      return `#/campaigns/${encodeURIComponent(route.name)}/runs${route.run === null ? "" : `/${route.run}`}`;
    case "report":
      return `#/campaigns/${encodeURIComponent(route.name)}/report`;
  }
}
