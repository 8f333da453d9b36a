// The live dashboard's guards on the real server, on 127.0.0.1 and a free port: a foreign Host
// header is refused (DNS rebinding), a loopback one answered, and the /events streams are capped
// (one past the cap gets 503 + Retry-After; closing a stream frees its slot).
import assert from "node:assert/strict";
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { test } from "node:test";
import { MAX_EVENT_STREAMS, startDashboard, type Dashboard } from "../../workload/verify/dashboard.js";
import { initialState } from "../../workload/verify/dashboardState.js";

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  res: IncomingMessage;
  /** Drops the connection (for a stream: the page goes away). */
  close(): void;
}

/** GET 127.0.0.1:port/path with this Host header (null: none at all), on its own connection. */
function get(port: number, path: string, host: string | null, opened: Reply[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const options = { host: "127.0.0.1", port, path, agent: false as const };
    const req = httpRequest(host === null ? { ...options, setHost: false } : { ...options, headers: { host } }, (res) => {
      const reply = { status: res.statusCode!, headers: res.headers, res, close: () => req.destroy() };
      opened.push(reply);
      resolve(reply);
    });
    req.on("error", reject);
    req.end();
  });
}

async function text(reply: Reply): Promise<string> {
  let body = "";
  for await (const chunk of reply.res) body += String(chunk);
  return body;
}

async function start(t: { after(fn: () => unknown): void }, warnings: string[]): Promise<{ dashboard: Dashboard; port: number }> {
  const state = initialState(
    "guard-test",
    { target: 10, predicted: 10, bindingLimit: "target", serverAddresses: ["127.0.0.1"] },
    0,
  );
  const dashboard = await startDashboard({ host: "127.0.0.1", port: 0, lingerSeconds: 0, warn: (l) => warnings.push(l) }, state);
  t.after(() => dashboard.close());
  return { dashboard, port: Number(new URL(dashboard.url).port) };
}

test("the dashboard answers loopback Host headers only", { timeout: 30_000 }, async (t) => {
  const opened: Reply[] = [];
  t.after(() => opened.forEach((r) => r.close()));
  const warnings: string[] = [];
  const { port } = await start(t, warnings);
  assert.deepEqual(warnings, [], "no exposure warning on loopback");

  const foreign = await get(port, "/state", "attacker.example", opened);
  assert.equal(foreign.status, 421);
  assert.match(await text(foreign), /^unexpected Host header/);
  const foreignWithPort = await get(port, "/events", `attacker.example:${port}`, opened);
  assert.equal(foreignWithPort.status, 421);
  // Node itself answers 400 to an HTTP/1.1 request without Host; either way, no dashboard.
  const none = await get(port, "/state", null, opened);
  assert.ok([400, 421].includes(none.status), `no Host header: ${none.status}`);

  const ok = await get(port, "/state", `127.0.0.1:${port}`, opened);
  assert.equal(ok.status, 200);
  assert.equal(JSON.parse(await text(ok)).stack, "guard-test");
  assert.equal((await get(port, "/", `localhost:${port}`, opened)).status, 200);
  assert.equal((await get(port, "/state", `[::1]:${port}`, opened)).status, 200);
});

test("the dashboard caps its event streams and frees a closed stream's slot", { timeout: 30_000 }, async (t) => {
  const opened: Reply[] = [];
  t.after(() => opened.forEach((r) => r.close()));
  const { port } = await start(t, []);
  const host = `127.0.0.1:${port}`;

  // The server registers a stream before its response head goes out: a 200 here is a held slot.
  const streams: Reply[] = [];
  for (let i = 0; i < MAX_EVENT_STREAMS; i++) streams.push(await get(port, "/events", host, opened));
  assert.deepEqual(
    streams.map((s) => s.status),
    streams.map(() => 200),
  );
  const extra = await get(port, "/events", host, opened);
  assert.equal(extra.status, 503);
  assert.equal(extra.headers["retry-after"], "5");
  assert.match(await text(extra), /too many/);
  assert.equal((await get(port, "/state", host, opened)).status, 200, "other pages still answer");

  streams[0]!.close();
  // The server hears of the closed connection asynchronously: retry until the slot is free
  // (each refusal is answered at once; the test's own timeout bounds the wait).
  let again = await get(port, "/events", host, opened);
  while (again.status === 503) {
    again.close();
    await new Promise((resolve) => setTimeout(resolve, 10));
    again = await get(port, "/events", host, opened);
  }
  assert.equal(again.status, 200);
  assert.equal((await get(port, "/events", host, opened)).status, 503, "and the cap holds again");
});
