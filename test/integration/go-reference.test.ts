// The loopback bench's Go reference (bench/go/ref) for real: built with this machine's Go, its
// client's connections reach its server, both status lines say so, both stop cleanly on SIGTERM.
// Without Go the build throws with what to install: a failure, never a skip.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { buildGoProgram } from "../../bench/goBuild.js";
import { Proc } from "../support/workload-harness.js";

const LISTEN = "127.0.0.35:7000,127.0.0.36:7000";
const CONNECTIONS = 300;

interface ServerLine {
  live: number;
  accepted: number;
}
interface ClientLine {
  established: number;
  failed: number;
  elapsedMs: number;
}

function start(t: TestContext, bin: string, args: string[]): Proc {
  const proc = new Proc(spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] }));
  t.after(() => {
    if (proc.running) proc.child.kill("SIGKILL");
  });
  return proc;
}

test(
  "Go reference: the client's 300 connections are live on the server, then both stop on SIGTERM",
  { timeout: 120_000 },
  async (t) => {
    const bin = buildGoProgram("ref");
    const server = start(t, bin, ["server", "--listen", LISTEN]);
    await server.waitJson<ServerLine>((s) => s.live === 0, 10_000, "the server's first status line");

    const args = ["client", "--targets", LISTEN, "--connections", String(CONNECTIONS), "--max-in-flight", "64"];
    const client = start(t, bin, args);
    const ramped = await client.waitJson<ClientLine>((s) => s.established === CONNECTIONS, 10_000, "client established 300");
    assert.equal(ramped.failed, 0);
    assert.ok(ramped.elapsedMs >= 0);
    await server.waitJson<ServerLine>((s) => s.live === CONNECTIONS, 5_000, "server live 300");

    assert.deepEqual(await client.stop(), { code: 0, signal: null });
    await server.waitJson<ServerLine>((s) => s.live === 0 && s.accepted === CONNECTIONS, 5_000, "server back to 0 live");
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
    assert.equal(client.stderr + server.stderr, "");
  },
);
