// The campaign report: per run and channel activity, a table of its counts and rates, its
// funnel as bars and its timeline by hour as lines — plain SVG, no chart library.
import { useEffect, useState } from "react";

import type { ActivityReport, ApiClient, CampaignReport } from "./apiClient";
import { CampaignTabs } from "./CampaignTabs";
import { axisTop, type Bar, funnelBars, percent, timelineSeries } from "./reportCharts";

const COLOURS: Record<string, string> = {
  targeted: "#1a73e8",
  excluded: "#9aa3b5",
  sent: "#e8710a",
  outcome: "#1e8e3e",
  delivered: "#1e8e3e",
  bounced: "#d93025",
  opened: "#9334e6",
  clicked: "#1a73e8",
  unsubscribed: "#5b6475",
  complained: "#b3261e",
};

export function ReportPage({ api, name }: { api: ApiClient; name: string }) {
  const [report, setReport] = useState<CampaignReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    api
      .report(name)
      .then((r) => live && setReport(r))
      .catch((e: unknown) => live && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [api, name]);

  return (
    <main className="report">
      <div className="toolbar">
        <h1>{name}</h1>
        <CampaignTabs name={name} current="report" />
        <span className="info">report</span>
      </div>
      {error && <p className="error" role="alert">{error}</p>}
      {report && report.activities.length === 0 && <p className="note">No messages yet: no run has reached a channel activity.</p>}
      {report?.activities.map((a) => <ActivitySection key={`${a.run}/${a.activity}`} a={a} />)}
    </main>
  );
}

const ROWS: [string, (a: ActivityReport) => number, ((a: ActivityReport) => number | null) | null][] = [
  ["targeted", (a) => a.targeted, null],
  ["excluded", (a) => a.excluded_total, null],
  ["pending", (a) => a.pending, null],
  ["sent", (a) => a.sent, null],
  ["failed", (a) => a.failed, null],
  ["delivered", (a) => a.delivered, (a) => a.delivery_rate],
  ["bounced", (a) => a.bounced, (a) => a.bounce_rate],
  ["opened", (a) => a.opened, (a) => a.open_rate],
  ["clicked", (a) => a.clicked, (a) => a.click_rate],
  ["unsubscribed", (a) => a.unsubscribed, (a) => a.unsubscribe_rate],
  ["complained", (a) => a.complained, (a) => a.complaint_rate],
];

function ActivitySection({ a }: { a: ActivityReport }) {
  const title = `Run ${a.run} · ${a.activity} (${a.channel})`;
  return (
    <section className="report-activity" aria-label={title} data-activity={a.activity} data-run={a.run}>
      <h2>{title}</h2>
      <div className="report-row">
        <table className="data" aria-label={`${a.activity} counts`}>
          <thead>
            <tr>
              <th>measure</th>
              <th>count</th>
              <th>rate</th>
            </tr>
          </thead>
          <tbody>
            {ROWS.map(([label, count, rate]) => (
              <tr key={label} data-measure={label}>
                <td>{label}</td>
                <td className="num">{count(a).toLocaleString("en")}</td>
                <td className="num">{rate ? percent(rate(a)) : ""}</td>
              </tr>
            ))}
            {Object.entries(a.excluded).map(([reason, n]) => (
              <tr key={`x-${reason}`} data-measure={`excluded: ${reason}`}>
                <td>&nbsp;&nbsp;excluded: {reason}</td>
                <td className="num">{n.toLocaleString("en")}</td>
                <td></td>
              </tr>
            ))}
            <tr data-measure="click-to-open">
              <td>click-to-open</td>
              <td></td>
              <td className="num">{percent(a.click_to_open_rate)}</td>
            </tr>
          </tbody>
        </table>
        <BarChart bars={funnelBars(a)} label={`${a.activity} funnel`} />
        <Timeline a={a} />
      </div>
    </section>
  );
}

function BarChart({ bars, label }: { bars: Bar[]; label: string }) {
  const width = 420;
  const row = 22;
  const left = 150;
  const top = axisTop(Math.max(0, ...bars.map((b) => b.value)));
  const height = bars.length * row + 8;
  return (
    <svg className="chart" role="img" aria-label={label} width={width} height={height} viewBox={`0 0 ${width} ${height}`}>
      {bars.map((b, i) => {
        const w = ((width - left - 60) * b.value) / top;
        const y = 4 + i * row;
        return (
          <g key={b.label} data-bar={b.label}>
            <text x={left - 6} y={y + 14} textAnchor="end" fontSize="12">
              {b.label}
            </text>
            <rect x={left} y={y + 3} width={Math.max(w, b.value > 0 ? 1 : 0)} height={row - 6} fill={COLOURS[b.group]} />
            <text x={left + w + 4} y={y + 14} fontSize="12">
              {b.value.toLocaleString("en")}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

function Timeline({ a }: { a: ActivityReport }) {
  const { hours, series } = timelineSeries(a);
  if (hours.length === 0) return <p className="note">No events yet.</p>;
  const width = 460;
  const height = 200;
  const pad = { left: 40, right: 34, top: 10, bottom: 40 }; // right: room for the last hour label
  const top = axisTop(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.value))));
  const x = (i: number) => pad.left + (hours.length === 1 ? (width - pad.left - pad.right) / 2 : (i * (width - pad.left - pad.right)) / (hours.length - 1));
  const y = (v: number) => height - pad.bottom - (v * (height - pad.top - pad.bottom)) / top;
  const labelEvery = Math.max(1, Math.ceil(hours.length / 6));
  return (
    <figure className="timeline">
      <svg className="chart" role="img" aria-label={`${a.activity} timeline by hour`} width={width} height={height} viewBox={`0 0 ${width} ${height}`}>
        <line x1={pad.left} y1={y(0)} x2={width - pad.right} y2={y(0)} stroke="#9aa3b5" />
        <line x1={pad.left} y1={y(0)} x2={pad.left} y2={y(top)} stroke="#9aa3b5" />
        <text x={pad.left - 4} y={y(top) + 4} textAnchor="end" fontSize="11">
          {top}
        </text>
        <text x={pad.left - 4} y={y(0) + 4} textAnchor="end" fontSize="11">
          0
        </text>
        {hours.map((h, i) =>
          i % labelEvery === 0 ? (
            <text key={h} x={x(i)} y={height - pad.bottom + 14} textAnchor="middle" fontSize="10">
              {h.slice(5, 13).replace("T", " ")}h
            </text>
          ) : null,
        )}
        {series.map((s) => (
          <g key={s.event} data-series={s.event}>
            <polyline
              fill="none"
              stroke={COLOURS[s.event] ?? "#1d2330"}
              strokeWidth={2}
              points={s.points.map((p, i) => `${x(i)},${y(p.value)}`).join(" ")}
            />
            {s.points.map((p, i) => (
              <circle key={p.hour} cx={x(i)} cy={y(p.value)} r={3} fill={COLOURS[s.event] ?? "#1d2330"}>
                <title>{`${s.event} ${p.hour}: ${p.value}`}</title>
              </circle>
            ))}
          </g>
        ))}
      </svg>
      <figcaption>
        {series.map((s) => (
          <span key={s.event} className="legend">
            <span className="swatch" style={{ background: COLOURS[s.event] ?? "#1d2330" }} /> {s.event}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
