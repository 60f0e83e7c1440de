// A campaign's pages: its canvas, its runs, its report.
import { hrefOf } from "./routes";

export function CampaignTabs({ name, current }: { name: string; current: "canvas" | "runs" | "report" }) {
  const pages = [
    ["canvas", "Canvas", hrefOf({ page: "canvas", name, isNew: false })],
    ["runs", "Runs", hrefOf({ page: "runs", name, run: null })],
    ["report", "Report", hrefOf({ page: "report", name })],
  ] as const;
  return (
    <nav className="campaign-tabs" aria-label="Campaign pages">
      {pages.map(([page, label, href]) => (
        <a key={page} href={href} aria-current={page === current ? "page" : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
}
