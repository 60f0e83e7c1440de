// The canvas editor against a live API: build a campaign from its document, validate, test
// (counts on the edges, checked against the API's own answer), break and fix it on the canvas,
// add, connect and delete a node, save a draft and publish.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { expect, type Page, test } from "@playwright/test";

const token = process.env.CANTATA_TOKEN ?? "";
const uiUrl = process.env.CANTATA_UI_URL ?? "http://127.0.0.1:8030/ui/";
// The API shares the UI's origin (the server serves the UI at /ui).
const apiUrl = new URL("/", uiUrl).toString().replace(/\/$/, "");
const name = `ui_e2e_${process.env.CANTATA_E2E_SUFFIX ?? Date.now().toString(36)}`;
const example = readFileSync(fileURLToPath(new URL("../../../examples/upcoming_stays.yaml", import.meta.url)), "utf8");
const campaign = example.replace(/^name: upcoming_stays/m, `name: ${name}`);

test.skip(!token, "set CANTATA_TOKEN (publisher) and CANTATA_UI_URL to run against a live server");
test.describe.configure({ mode: "serial" });

const node = (page: Page, id: string) => page.locator(`.react-flow__node[data-id="${id}"]`);
const edgeLabel = (page: Page, id: string) => page.locator(`.react-flow__edge[data-id="${id}"] .react-flow__edge-text`);

const toolbar = (page: Page, button: string) => page.locator(".toolbar").getByRole("button", { name: button, exact: true });

async function openWithToken(page: Page, hash: string) {
  await page.goto(uiUrl);
  await page.getByLabel("API token").fill(token);
  await page.goto(`${uiUrl}${hash}`);
}

test("a campaign from document to published, on the canvas", async ({ page, request }) => {
  const auth = { Authorization: `Bearer ${token}` };

  // The list answers with the token; a new campaign opens an empty canvas.
  await openWithToken(page, "#/");
  await expect(page.getByRole("heading", { name: "Campaigns" })).toBeVisible();
  await expect(page.locator("main.list table")).toBeVisible();
  await page.getByLabel("New campaign name").fill(name);
  await page.getByRole("button", { name: "New campaign" }).click();
  await expect(page.locator(".toolbar h1")).toHaveText(name);

  // The document view drives the canvas.
  await page.getByRole("tab", { name: "Document" }).click();
  await page.getByLabel("Campaign document").fill(campaign);
  await page.getByRole("tab", { name: "Canvas" }).click();
  await expect(page.locator(".react-flow__node")).toHaveCount(7);
  await expect(node(page, "stays").locator(".activity")).toHaveClass(/kind-source/);
  await expect(node(page, "email_gold").locator(".activity")).toHaveClass(/kind-channel/);
  await expect(page.locator(".react-flow__edge")).toHaveCount(6);
  await expect(edgeLabel(page, "segments.gold->email_gold")).toHaveText("gold");

  // Validate and Test ask the server; the counts on the edges are the API's.
  await toolbar(page, "Validate").click();
  await expect(page.getByRole("status")).toHaveText("valid: 7 activities, 6 transitions");
  await toolbar(page, "Test").click();
  await expect(page.getByRole("status")).toContainText("completed");
  const direct = await request.post(`${apiUrl}/campaigns/test`, { headers: { ...auth, "Content-Type": "application/yaml" }, data: campaign });
  expect(direct.status()).toBe(201);
  const rows = Object.fromEntries(((await direct.json()) as { transitions: { from: string; rows: number }[] }).transitions.map((t) => [t.from, t.rows]));
  await expect(edgeLabel(page, "stays.out->customers")).toHaveText(`out · ${rows["stays.out"]!.toLocaleString("en")}`);
  await expect(edgeLabel(page, "segments.gold->email_gold")).toHaveText(`gold · ${rows["segments.gold"]!.toLocaleString("en")}`);
  // The holdout leads nowhere: its rows show on the port itself.
  await expect(node(page, "segments").locator('[data-handleid="holdout"]')).toHaveText(`holdout · ${rows["segments.holdout"]!.toLocaleString("en")}`);

  // A source's entity: the model's entities offered in the side panel, its fields listed;
  // picking another rewrites the settings text (not applied here).
  await node(page, "stays").click();
  const entities = page.getByLabel("Model entities");
  await expect(entities.getByRole("button", { name: "booking", exact: true })).toHaveAttribute("aria-pressed", "true");
  await expect(entities.getByTestId("entity-fields")).toContainText("check_in (date)");
  await expect(entities.getByTestId("entity-fields")).toContainText("hotel.city (string)");
  await entities.getByRole("button", { name: "hotel", exact: true }).click();
  await expect(page.getByLabel("Node settings")).toHaveValue(/^entity: hotel$/m);

  // Break a node in the side panel: the document follows, and Validate names the node.
  await node(page, "customers").click();
  await expect(page.getByLabel("Selected node")).toBeVisible();
  await page.getByLabel("Node settings").fill("link: guest\n");
  await page.getByRole("button", { name: "Apply" }).click();
  await toolbar(page, "Validate").click();
  await expect(page.getByRole("list", { name: "Problems" })).toContainText("[customers]");
  await expect(node(page, "customers").locator(".activity")).toHaveClass(/has-problem/);
  await page.getByRole("tab", { name: "Document" }).click();
  const text = page.getByLabel("Campaign document");
  await expect(text).toHaveValue(/settings:\n\s+link: guest/);

  // Fix it in the text; the canvas reads it back.
  await text.fill((await text.inputValue()).replace("link: guest", "link: customer"));
  await page.getByRole("tab", { name: "Canvas" }).click();
  await toolbar(page, "Validate").click();
  await expect(page.getByRole("status")).toHaveText("valid: 7 activities, 6 transitions");
  await expect(page.locator(".has-problem")).toHaveCount(0);

  // Add a wait from the palette, connect email_gold → wait by dragging, then delete it.
  await page.getByLabel("Palette").getByRole("button", { name: "wait", exact: true }).click();
  await expect(page.locator(".react-flow__node")).toHaveCount(8);
  const from = node(page, "email_gold").locator('.react-flow__handle[data-handleid="out"]');
  const to = node(page, "wait").locator('.react-flow__handle[data-handleid="in"]');
  const a = (await from.boundingBox())!;
  const b = (await to.boundingBox())!;
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 12 });
  await page.mouse.up();
  await expect(page.locator('.react-flow__edge[data-id="email_gold.out->wait"]')).toHaveCount(1);
  await page.getByRole("tab", { name: "Document" }).click();
  await expect(page.getByLabel("Campaign document")).toHaveValue(/- \{from: email_gold, to: wait\}/);
  await page.getByRole("tab", { name: "Canvas" }).click();
  await node(page, "wait").click();
  await page.getByRole("button", { name: "Delete node" }).click();
  await expect(page.locator(".react-flow__node")).toHaveCount(7);
  await expect(page.locator('.react-flow__edge[data-id="email_gold.out->wait"]')).toHaveCount(0);

  // Save the draft and publish; the API and the list agree.
  await toolbar(page, "Save draft").click();
  await expect(page.getByRole("status")).toHaveText("saved draft version 1");
  await toolbar(page, "Publish").click();
  await expect(page.getByRole("status")).toContainText("the campaign is live");
  const detail = await request.get(`${apiUrl}/campaigns/${name}`, { headers: auth });
  expect(await detail.json()).toMatchObject({ name, state: "live", published_version: 1 });
  await page.screenshot({ path: "test-results/canvas.png" });

  await page.goto(`${uiUrl}#/`);
  const row = page.locator("main.list tr", { has: page.getByRole("link", { name, exact: true }) });
  await expect(row).toContainText("live");

  // Reopened, the canvas is the published document.
  await row.getByRole("link", { name, exact: true }).click();
  await expect(page.locator(".react-flow__node")).toHaveCount(7);
  await expect(page.locator(".toolbar .info")).toContainText("editing version 1 (published)");
});

test("the token is required and kept", async ({ page }) => {
  await page.goto(uiUrl);
  await page.getByLabel("API token").fill("cantata_nope_nope");
  await page.reload();
  await expect(page.getByLabel("API token")).toHaveValue("cantata_nope_nope");
  await expect(page.getByRole("alert")).toHaveText("invalid or revoked token");
});
