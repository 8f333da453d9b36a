// The live dashboard in a real browser (Debian's chromium, headless, driven by playwright-core):
// the connection test runs against a real server and client on loopback (the workload harness),
// the page is opened at the start of the ramp, and what it shows must grow and end at the
// verdict's numbers. The dashboard then closes by itself after its linger.
// C1M_DASHBOARD_SCREENSHOT=path saves a PNG of the page at the verdict.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { need } from "../support/sh.js";
import { chromium, type BrowserContext } from "playwright-core";
import { runConnectionTest } from "../../workload/verify/run.js";
import type { VerifyPlan } from "../../workload/verify/types.js";
import { startClient, startServer } from "../support/workload-harness.js";

const CHROMIUM = "/usr/bin/chromium";
const IPS = ["127.0.0.61", "127.0.0.62", "127.0.0.63", "127.0.0.64"];
const CONNECTIONS = 6_000;

function loopbackPlan(port: number): VerifyPlan {
  const each = CONNECTIONS / IPS.length;
  return {
    strategy: "routed",
    target: CONNECTIONS,
    predicted: CONNECTIONS,
    ceiling: CONNECTIONS,
    bindingLimit: "target",
    losses: {},
    serverAddresses: IPS,
    serverPort: port,
    clientSources: ["127.0.0.1"],
    natPool: null,
    containerPortRange: { from: 1024, to: 65535, size: 64_512 },
    paths: IPS.map((ip) => ({
      source: "127.0.0.1",
      server: ip,
      port,
      capacity: 64_512,
      load: each,
      expected: each,
      kind: "local",
    })),
    containers: [],
    warnings: [],
    explanation: "",
  };
}

test("the live dashboard follows a real ramp to the verdict in headless Chromium", { timeout: 120_000 }, async (t) => {
  need(existsSync(CHROMIUM), `${CHROMIUM}: apt-get install -y chromium`);
  const server = await startServer(t, ["--port", "0", "--addresses", IPS.join(","), "--metrics-port", "0"]);
  const port = Number(server.info.addresses[0]!.split(":")[1]);

  let gotUrl: (url: string) => void = () => {};
  const dashboardUrl = new Promise<string>((resolve) => (gotUrl = resolve));
  const progress: string[] = [];
  const run = runConnectionTest(
    {
      plan: loopbackPlan(port),
      stack: "dashboard-test",
      metricsUrl: `http://${server.info.metrics}`,
      clientsLabel: null,
      conntrack: "none",
      expect: "all",
      timeoutSeconds: 60,
      stallSeconds: 10,
      soakSeconds: 0,
      intervalSeconds: 0.25,
      reportsDir: null,
      dashboard: { host: "127.0.0.1", port: 0, lingerSeconds: 1 },
    },
    {
      progress: (line) => {
        progress.push(line);
        const m = /^verify: live dashboard at (http:\/\/127\.0\.0\.1:\d+\/) /.exec(line);
        if (m) gotUrl(m[1]!);
      },
    },
  );
  const url = await Promise.race([dashboardUrl, run.then(() => "")]);
  assert.ok(url, `the dashboard's address is printed first: ${progress.join("\n")}`);

  const profile = await mkdtemp(join(tmpdir(), "c1m-chromium-"));
  const opened: { browser?: BrowserContext } = {};
  // One hook, in this order: node:test runs a test's after hooks first-registered first, and a
  // profile removed while Chromium still runs gets written again (left behind in /tmp).
  t.after(async () => {
    await opened.browser?.close();
    await rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  });
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-quic",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  opened.browser = browser;
  const page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(url);
  // Record every value the page shows as the total, from now to the verdict.
  await page.evaluate(() => {
    const el = document.getElementById("total")!;
    const seen: string[] = [el.textContent ?? ""];
    (window as unknown as { seenTotals: string[] }).seenTotals = seen;
    new MutationObserver(() => seen.push(el.textContent ?? "")).observe(el, {
      childList: true,
      characterData: true,
      subtree: true,
    });
  });

  // The ramp starts once the page is watching: 6,000 connections at 800/s over 4 addresses.
  const client = startClient(t, [
    "--targets",
    server.info.addresses.join(","),
    "--connections",
    String(CONNECTIONS),
    "--connect-rate",
    "800",
  ]);
  t.after(() => client.stop());

  await page.waitForFunction(() => document.getElementById("verdict-label")!.textContent !== "", null, { timeout: 90_000 });
  const result = await run;
  assert.equal(result.output.verdict, "pass", result.output.diagnosis);
  assert.equal(result.output.total, CONNECTIONS);

  const shown = await page.evaluate(() => {
    const text = (id: string) => document.getElementById(id)!.textContent;
    return {
      seen: (window as unknown as { seenTotals: string[] }).seenTotals,
      total: text("total"),
      target: text("target"),
      predicted: text("predicted"),
      verdict: text("verdict-label"),
      diagnosis: text("diagnosis"),
      perIp: Object.fromEntries(
        [...document.querySelectorAll<HTMLElement>("#perip [data-ip]")].map((d) => [
          d.dataset.ip,
          d.querySelector(".n")!.textContent,
        ]),
      ),
      canvases: document.querySelectorAll(".uplot canvas").length,
    };
  });
  const totals = shown.seen.filter((s) => /^[\d,]+$/.test(s)).map((s) => Number(s.replace(/,/g, "")));
  assert.ok(new Set(totals).size >= 3, `the total grew on the page: ${shown.seen.join(" → ")}`);
  assert.deepEqual(
    totals,
    [...totals].sort((a, b) => a - b),
    "and never went down",
  );
  assert.ok(totals[0]! < CONNECTIONS, `it started below the target: ${shown.seen.join(" → ")}`);
  assert.equal(shown.total, "6,000");
  assert.equal(shown.target, "6,000");
  assert.equal(shown.predicted, "6,000");
  assert.equal(shown.verdict, "pass");
  assert.equal(shown.diagnosis, result.output.diagnosis);
  assert.deepEqual(shown.perIp, { "127.0.0.61": "1,500", "127.0.0.62": "1,500", "127.0.0.63": "1,500", "127.0.0.64": "1,500" });
  assert.ok(shown.canvases >= 2, "uPlot drew the total and the per-IP chart");

  const shot = process.env.C1M_DASHBOARD_SCREENSHOT;
  if (shot) await page.screenshot({ path: shot, fullPage: true });

  // The dashboard closes by itself after its linger: the process is free to end.
  await result.dashboard!.closed;
  const after = await fetch(url).then(
    () => "answered",
    (err: Error) => err.message,
  );
  assert.equal(after, "fetch failed");
});
