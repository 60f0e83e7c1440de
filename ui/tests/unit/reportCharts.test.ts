import { describe, expect, it } from "vitest";

import type { ActivityReport } from "../../src/apiClient";
import { axisTop, funnelBars, percent, timelineSeries } from "../../src/reportCharts";

// An activity's report as GET /campaigns/NAME/report answers it (docs/api.md).
const report: ActivityReport = {
  run: 2,
  activity: "email_gold",
  channel: "email",
  targeted: 120,
  excluded: { no_consent: 4, suppressed: 9, quiet_hours: 4 },
  excluded_total: 17,
  pending: 3,
  sent: 100,
  failed: 0,
  delivered: 96,
  bounced: 4,
  opened: 40,
  clicked: 12,
  unsubscribed: 1,
  complained: 0,
  timeline: [
    { hour: "2026-06-01T08:00:00", sent: 60, delivered: 58 },
    { hour: "2026-06-01T09:00:00", sent: 40, delivered: 38, opened: 25 },
    { hour: "2026-06-01T11:00:00", opened: 15, clicked: 12, unsubscribed: 1 },
  ],
  delivery_rate: 0.96,
  bounce_rate: 0.04,
  open_rate: 0.4167,
  click_rate: 0.125,
  click_to_open_rate: 0.3,
  unsubscribe_rate: 0.0104,
  complaint_rate: 0,
};

describe("the report's charts", () => {
  it("draws the funnel: targeted, excluded by reason (largest first), sent, what came back", () => {
    expect(funnelBars(report).map((b) => [b.label, b.value])).toEqual([
      ["targeted", 120],
      ["excluded: suppressed", 9],
      ["excluded: no_consent", 4],
      ["excluded: quiet_hours", 4],
      ["sent", 100],
      ["delivered", 96],
      ["bounced", 4],
      ["opened", 40],
      ["clicked", 12],
      ["unsubscribed", 1],
    ]);
    expect(funnelBars(report).filter((b) => b.group === "excluded")).toHaveLength(3);
  });

  it("lines up the timeline: one series per event that happened, zero in the hours without", () => {
    const { hours, series } = timelineSeries(report);
    expect(hours).toEqual(["2026-06-01T08:00:00", "2026-06-01T09:00:00", "2026-06-01T11:00:00"]);
    expect(series.map((s) => s.event)).toEqual(["sent", "delivered", "opened", "clicked", "unsubscribed"]);
    expect(series.find((s) => s.event === "opened")!.points.map((p) => p.value)).toEqual([0, 25, 15]);
    expect(series.find((s) => s.event === "sent")!.points.map((p) => p.value)).toEqual([60, 40, 0]);
  });

  it("has nothing to draw before any event", () => {
    expect(timelineSeries({ ...report, timeline: [] })).toEqual({ hours: [], series: [] });
  });

  it("rounds an axis up to 1, 2 or 5 × 10^k", () => {
    expect([0, 1, 3, 10, 11, 120, 500, 501, 9999].map(axisTop)).toEqual([1, 1, 5, 10, 20, 200, 500, 1000, 10000]);
  });

  it("writes rates as percentages, a dash when there is nothing to divide", () => {
    expect(percent(0.4167)).toBe("41.7 %");
    expect(percent(null)).toBe("—");
  });
});
