import { test } from "node:test";
import assert from "node:assert/strict";
import { groupOf, parseProcStat, parseStat, ticksByGroup, type ProcRow } from "../../bench/breakdown/procCpu.js";
import { statusPoints } from "../../bench/breakdown/containers.js";
import { phasesOf, windowOf } from "../../bench/breakdown/analyze.js";
import type { Tick } from "../../bench/breakdown/sampler.js";

test("breakdown: /proc/<pid>/stat with a comm holding spaces and parentheses gives ppid and utime+stime", () => {
  const line = "4242 (node (x) y) S 4200 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 11 0 900 1000 200";
  assert.deepEqual(parseStat(line), { comm: "node (x) y", ppid: 4200, ticks: 1801 });
});

test("breakdown: /proc/stat's cpu line gives busy (without idle and iowait) and softirq ticks", () => {
  assert.deepEqual(parseProcStat("cpu  100 5 50 1000 20 3 7 1 0 0\ncpu0 1 2 3\n"), { busy: 166, softirq: 7, total: 1186 });
});

test("breakdown: processes go to the server (its namespace), clients (Docker cgroup), docker, engine, steps, kernel", () => {
  const row = (pid: number, ppid: number, name: string, extra: Partial<ProcRow> = {}): ProcRow => ({
    pid,
    ppid,
    name,
    ticks: pid,
    netns: "net:[1]",
    docker: false,
    ...extra,
  });
  const rows = [
    row(10, 1, "pulumi"),
    row(11, 10, "pulumi-language-nodejs"),
    row(12, 11, "node"),
    row(13, 10, "pulumi-resource-command"),
    row(14, 13, "bash"),
    row(15, 14, "node"),
    row(20, 1, "node", { netns: "net:[9]" }),
    row(30, 1, "node", { docker: true, netns: "net:[7]" }),
    row(40, 1, "dockerd"),
    row(41, 1, "containerd-shim-runc-v2"),
    row(50, 2, "kworker/0:1"),
    row(60, 1, "sshd"),
  ];
  const byPid = new Map(rows.map((r) => [r.pid, r]));
  const groups = rows.map((r) => `${r.pid}:${groupOf(r, byPid, "net:[9]")}`);
  assert.deepEqual(groups, [
    "10:engine",
    "11:engine",
    "12:engine",
    "13:engine",
    "14:steps",
    "15:steps",
    "20:server",
    "30:clients",
    "40:docker",
    "41:docker",
    "50:kernel",
    "60:other",
  ]);
  assert.deepEqual(ticksByGroup(rows, "net:[9]"), {
    server: 20,
    clients: 30,
    docker: 81,
    engine: 46,
    steps: 29,
    kernel: 50,
    other: 60,
  });
});

test("breakdown: the clients' timestamped status lines; other lines are skipped", () => {
  const out = [
    '2026-12-07T02:00:01.000000000Z {"type":"status","target":100,"established":0,"rampSeconds":null}',
    "2026-12-07T02:00:01.500000000Z c1m-client: starting",
    '2026-12-07T02:00:02.000000000Z {"type":"status","target":100,"established":100,"rampSeconds":0.9}',
  ].join("\n");
  assert.deepEqual(statusPoints(out), {
    target: 100,
    points: [
      { at: Date.UTC(2026, 11, 7, 2, 0, 1), established: 0, rampSeconds: null },
      { at: Date.UTC(2026, 11, 7, 2, 0, 2), established: 100, rampSeconds: 0.9 },
    ],
  });
});

const tick = (t: number, total: number, drops: number, busy: number): Tick => ({
  t,
  cores: { server: 0.5, clients: 1, docker: 0.1, engine: 0, steps: 0, kernel: 0, other: 0 },
  softirqCores: 0.2,
  busyCores: busy,
  server: { total, passiveOpens: total, listenDrops: drops, listenOverflows: 0, memAvailableBytes: null },
  containers: 2,
  synRetrans: drops * 2,
  conntrack: { count: total, insertFailed: 0, drop: 0 },
});

test("breakdown: a window's rate and drops are differences from the tick before it; idle is what busy leaves", () => {
  const ticks = [tick(1, 0, 0, 1), tick(2, 1000, 3, 1.5), tick(3, 3000, 4, 2), tick(4, 4000, 10, 1.5)];
  const w = windowOf(ticks, 1, 3, 2);
  assert.equal(w.total, 3000);
  assert.equal(w.connectsPerSecond, 1500);
  assert.equal(w.listenDrops, 4);
  assert.equal(w.synRetrans, 8);
  assert.equal(w.cores.idle, 0.25);
  assert.equal(w.cores.softirq, 0.2);
});

test("breakdown: phases from the containers' times and the first tick at the target", () => {
  const t0 = Date.UTC(2026, 11, 7, 2, 0, 0);
  const ticks = [tick(30, 500, 0, 2), tick(31, 1000, 0, 2), tick(32, 1000, 0, 2)];
  const containers = [
    {
      name: "a",
      createdAt: t0 + 20_000,
      startedAt: t0 + 21_000,
      target: 500,
      points: [{ at: t0 + 22_000, established: 10, rampSeconds: null }],
    },
    {
      name: "b",
      createdAt: t0 + 20_500,
      startedAt: t0 + 24_000,
      target: 500,
      points: [{ at: t0 + 26_000, established: 500, rampSeconds: 5 }],
    },
  ];
  assert.deepEqual(phasesOf(ticks, containers, 1000, t0, 95), {
    firstCreated: 20,
    firstStarted: 21,
    lastStarted: 24,
    firstConnection: 22,
    targetReached: 31,
    upDone: 95,
    wholeRamp: 10,
  });
});
