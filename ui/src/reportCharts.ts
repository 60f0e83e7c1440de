// The campaign report (GET /campaigns/NAME/report) as chart data: one bar per count of a
// channel activity, and its timeline by hour as one series per event. Drawing is ReportPage's.
import type { ActivityReport } from "./apiClient";

export interface Bar {
  label: string;
  value: number;
  /** For colouring: the funnel's stage, or "excluded" for each reason. */
  group: "targeted" | "excluded" | "sent" | "outcome";
}

const OUTCOMES = ["delivered", "bounced", "opened", "clicked", "unsubscribed"] as const;
export const TIMELINE_EVENTS = ["sent", "delivered", "bounced", "opened", "clicked", "unsubscribed", "complained"] as const;

/** Targeted, excluded by reason (largest first), sent, then what came back. */
export function funnelBars(a: ActivityReport): Bar[] {
  const excluded = Object.entries(a.excluded)
    .sort(([ra, na], [rb, nb]) => nb - na || ra.localeCompare(rb))
    .map(([reason, n]): Bar => ({ label: `excluded: ${reason}`, value: n, group: "excluded" }));
  return [
    { label: "targeted", value: a.targeted, group: "targeted" },
    ...excluded,
    { label: "sent", value: a.sent, group: "sent" },
    ...OUTCOMES.map((k): Bar => ({ label: k, value: a[k], group: "outcome" })),
  ];
}

export interface Series {
  event: string;
  points: { hour: string; value: number }[];
}

/** Every hour of the timeline, in order, with a zero where an event had none that hour; only
 * the events that happened at all get a series. */
export function timelineSeries(a: ActivityReport): { hours: string[]; series: Series[] } {
  const hours = [...new Set(a.timeline.map((t) => t.hour))].sort();
  const byHour = new Map(a.timeline.map((t) => [t.hour, t]));
  const series: Series[] = [];
  for (const event of TIMELINE_EVENTS) {
    const points = hours.map((hour) => {
      const n = byHour.get(hour)?.[event];
      return { hour, value: typeof n === "number" ? n : 0 };
    });
    if (points.some((p) => p.value > 0)) series.push({ event, points });
  }
  return { hours, series };
}

/** The top of an axis: the smallest 1, 2 or 5 × 10^k at or above `max` (1 for an empty chart). */
export function axisTop(max: number): number {
  if (max <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/** A rate as a percentage with one decimal, or a dash when there is nothing to divide by. */
export function percent(rate: number | null): string {
  return rate === null ? "—" : `${(rate * 100).toFixed(1)} %`;
}
