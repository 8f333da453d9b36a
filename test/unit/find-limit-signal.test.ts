// find-limit's step signal on several client hosts: each host's Docker API is a fake Engine on a
// unix socket (dockerode speaks real HTTP to it), recording the requests. Every running labelled
// container on every host is sent POST /containers/{id}/kill?signal=SIGUSR2; a host that fails
// is named in the error.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { signalHosts } from "../../workload/verify/findLimit/signal.js";

interface FakeEngine {
  docker: Docker;
  /** "METHOD path?query" of every request, in order. */
  requests: string[];
  close: () => Promise<void>;
}

/** A fake Engine whose running containers with `label` are `names`; kill answers `killStatus`. */
async function fakeEngine(dir: string, host: string, label: string, names: string[], killStatus = 204): Promise<FakeEngine> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://docker");
    requests.push(`${req.method} ${url.pathname}${url.pathname.endsWith("/kill") ? url.search : ""}`);
    if (req.method === "GET" && url.pathname.endsWith("/containers/json")) {
      const filters = JSON.parse(url.searchParams.get("filters") ?? "{}") as Record<string, string[]>;
      const match = filters.label?.[0] === label && filters.status?.[0] === "running";
      const rows = match ? names.map((n) => ({ Id: `${n}-id`, Names: [`/${n}`] })) : [];
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(rows));
    } else if (req.method === "POST" && url.pathname.endsWith("/kill")) {
      res.writeHead(killStatus, { "content-type": "application/json" });
      res.end(killStatus === 204 ? undefined : JSON.stringify({ message: "container is not running" }));
    } else res.writeHead(404).end();
  });
  const socketPath = join(dir, `${host}.sock`);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    docker: new Docker({ socketPath }),
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const LABEL = "c1m-lab.stack=dev";

test("signalHosts: SIGUSR2 to every running labelled container on every client host, through each host's Docker API", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "c1m-signal-"));
  const local = await fakeEngine(dir, "local", LABEL, ["c1m-dev-local-client-0"]);
  const b = await fakeEngine(dir, "b", LABEL, ["c1m-dev-b-client-1", "c1m-dev-b-client-2"]);
  t.after(async () => {
    await Promise.all([local.close(), b.close()]);
    rmSync(dir, { recursive: true, force: true });
  });
  const error = await signalHosts(LABEL, [
    { name: "local", docker: local.docker },
    { name: "b", docker: b.docker },
  ]);
  assert.equal(error, null);
  assert.deepEqual(local.requests, ["GET /containers/json", "POST /containers/c1m-dev-local-client-0-id/kill?signal=SIGUSR2"]);
  assert.deepEqual(b.requests.slice(0, 1), ["GET /containers/json"]);
  assert.deepEqual(b.requests.slice(1).sort(), [
    "POST /containers/c1m-dev-b-client-1-id/kill?signal=SIGUSR2",
    "POST /containers/c1m-dev-b-client-2-id/kill?signal=SIGUSR2",
  ]);
});

test("signalHosts: a host with no running client, a refused kill and an unreachable host are each named", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "c1m-signal-"));
  const empty = await fakeEngine(dir, "a", LABEL, []);
  const refusing = await fakeEngine(dir, "b", LABEL, ["c1m-dev-b-client-1"], 409);
  t.after(async () => {
    await Promise.all([empty.close(), refusing.close()]);
    rmSync(dir, { recursive: true, force: true });
  });
  const error = await signalHosts(LABEL, [
    { name: "a", docker: empty.docker },
    { name: "b", docker: refusing.docker },
    { name: "c", docker: empty.docker, broken: "cannot read its login key /k (ENOENT)" },
  ]);
  assert.equal(
    error,
    "client host a: no running client container has the label c1m-lab.stack=dev; " +
      "client host b: SIGUSR2 did not reach c1m-dev-b-client-1: (HTTP code 409) unexpected - container is not running ; " +
      "client host c: cannot read its login key /k (ENOENT)",
  );
});
