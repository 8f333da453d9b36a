// The client images' scripts against a real dockerd: the base made from this machine's node,
// and the cleanup the fleet's delete runs (with the classic builder: the image and the untagged
// per-step images under it go; nothing else does).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostNodeBaseCreateScript, hostNodeBaseDeleteScript, imageRemoveScript } from "../../infra/clients/images.js";
import { ensureLocalNodeBase } from "../../infra/direct/localBase.js";
import { clientsStopScript, clientsSweepScript, containerDrainScript } from "../../infra/clients/drain.js";
import { assertBashSyntax, dockerAvailable, runScript, sh } from "../support/sh.js";

const all = () => new Set(sh("docker images -a -q --no-trunc").trim().split("\n").filter(Boolean));
const containers = () => new Set(sh("docker ps -a -q --no-trunc").trim().split("\n").filter(Boolean));

test("image cleanup removes the image and the untagged images its build left, and keeps the base", () => {
  assert.ok(dockerAvailable(), "needs a running dockerd (apt-get install docker.io; dockerd &)");
  const base = ensureLocalNodeBase();
  const dir = mkdtempSync(join(tmpdir(), "c1mt-img-"));
  const tag = `c1mt-cleanup:${process.pid}`;
  try {
    // Unique content, so no cached step is shared with any other image.
    writeFileSync(join(dir, "a.txt"), `${process.pid} ${Date.now()}\n`);
    writeFileSync(join(dir, "Dockerfile"), `FROM ${base}\nWORKDIR /x\nCOPY a.txt /x/a.txt\nCOPY a.txt /x/b.txt\n`);
    const before = all();
    const containersBefore = containers();
    // --rm=false: the Docker API's default, which the docker provider's classic build keeps.
    const build = runScript(`DOCKER_BUILDKIT=0 docker build --rm=false -q -t ${tag} ${dir}`);
    assert.equal(build.code, 0, build.stderr);
    const id = build.stdout.trim();
    const made = [...all()].filter((i) => !before.has(i));
    assert.ok(made.length >= 3, `the classic builder left per-step images: ${made.join(" ")}`);
    assert.ok([...containers()].filter((c) => !containersBefore.has(c)).length >= 1, "and containers of its steps");

    for (let i = 0; i < 2; i++) {
      const r = runScript(imageRemoveScript(id));
      assert.equal(r.code, 0, `remove #${i + 1}: ${r.stderr}`);
    }
    assert.deepEqual(
      [...all()].filter((i) => !before.has(i)),
      [],
      "no image of the build is left",
    );
    assert.deepEqual(
      [...containers()].filter((c) => !containersBefore.has(c)),
      [],
      "no container of the build is left",
    );
    assert.equal(runScript(`docker image inspect ${base}`).code, 0, "the base image stays");
  } finally {
    runScript(`docker image rm -f ${tag} >/dev/null 2>&1`);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("host-node base: made once from this machine's node, runs it, removed on delete", () => {
  assert.ok(dockerAvailable(), "needs a running dockerd (apt-get install docker.io; dockerd &)");
  const base = { name: `c1mt-node:${process.pid}`, node: process.execPath };
  try {
    for (let i = 0; i < 2; i++) {
      const r = runScript(hostNodeBaseCreateScript(base));
      assert.equal(r.code, 0, `create #${i + 1}: ${r.stderr}`);
    }
    const v = runScript(`docker run --rm --network none ${base.name} /usr/local/bin/node -p process.version`);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout.trim(), process.version);
    for (let i = 0; i < 2; i++) assert.equal(runScript(hostNodeBaseDeleteScript(base)).code, 0);
    assert.notEqual(runScript(`docker image inspect ${base.name}`).code, 0, "removed");
  } finally {
    runScript(`docker image rm -f ${base.name} >/dev/null 2>&1`);
  }
});

test("clients stop script: HUP (reset) to the stack's clients, then stops them (even one slow to die; one whose image lacks the HUP label is not waited for), leaves others running", () => {
  assert.ok(dockerAvailable(), "needs a running dockerd (apt-get install docker.io; dockerd &)");
  const base = ensureLocalNodeBase();
  const stack = `c1mt-stop-${process.pid}`;
  const run = (n: string, labels: string, cmdline: string) =>
    sh(`docker run -d --name ${n} ${labels} --network none ${base} /usr/local/bin/node -e '${cmdline}'`);
  const names = [`${stack}-a`, `${stack}-slow`, `${stack}-old`, `${stack}-other`];
  try {
    const mine = `--label c1m-lab.stack=${stack} --label c1m-lab.role=client`;
    // As the client does: on SIGHUP it says it reset its connections (and stays up), it exits on
    // SIGTERM (PID 1 in its container: no default action).
    const hup = 'process.on("SIGHUP", () => console.log(JSON.stringify({ type: "reset", client: "x", connections: 0 })));';
    const hupImage = `${mine} --label c1m-lab.stop=hup`;
    run(names[0]!, hupImage, `${hup} process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000)`);
    // Ignores SIGTERM: docker stop has to wait for its grace period, then kill.
    run(names[1]!, hupImage, `${hup} process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)`);
    // An image from before SIGHUP meant reset (no label): not signalled, not waited for.
    run(names[2]!, mine, 'process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000)');
    run(names[3]!, `--label c1m-lab.stack=${stack}-not`, "setInterval(() => {}, 1000)");
    // Conntrack entries (inserted, no traffic): one from "the lab's client subnet", one not.
    const entry = (src: string) =>
      `-s ${src} -d 192.0.2.9 -p tcp --sport 40001 --dport 9000 --state ESTABLISHED -t 120 -u SEEN_REPLY`;
    sh(`conntrack -I ${entry("198.51.100.7")} 2>/dev/null; conntrack -I ${entry("203.0.113.7")} 2>/dev/null`);
    const began = Date.now();
    const r = runScript(
      clientsStopScript(`c1m-lab.stack=${stack}`, { graceSeconds: 1, subnets: ["198.51.100.0/24"], resetSeconds: 60 }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - began < 50_000, "the client without the label did not hold the wait to its bound");
    const logs = (n: string) => runScript(`docker logs ${n}`).stdout;
    assert.match(logs(names[0]!), /^\{"type":"reset","client":"x","connections":0\}$/m, "HUP reached the client");
    assert.match(logs(names[1]!), /^\{"type":"reset"/m, "HUP reached the slow one");
    assert.match(r.stderr, /c1m-lab: conntrack v[\d.]+ \(conntrack-tools\): 1 flow entries have been deleted\./);
    const listed = (src: string) => runScript(`conntrack -L -s ${src} 2>/dev/null`).stdout;
    assert.equal(listed("198.51.100.7"), "", "the lab subnet's entry is gone");
    assert.match(listed("203.0.113.7"), /src=203\.0\.113\.7 dst=192\.0\.2\.9 sport=40001 dport=9000/, "another's entry stays");
    const state = (n: string) => sh(`docker inspect -f '{{.State.Running}}' ${n}`).trim();
    assert.deepEqual(
      names.map(state),
      ["false", "false", "false", "true"],
      "the other stack's got no HUP (it would have ended it)",
    );
    assert.match(
      r.stderr,
      new RegExp(`killed before they had reset their connections \\(the rest closed with FIN\\): ${stack}-slow\n`),
    );
    assert.equal(runScript(clientsStopScript(`c1m-lab.stack=${stack}`, { graceSeconds: 1 })).code, 0, "again: nothing to stop");
  } finally {
    runScript(`docker rm -f ${names.join(" ")} >/dev/null 2>&1`);
    runScript("conntrack -D -s 198.51.100.0/24 >/dev/null 2>&1; conntrack -D -s 203.0.113.7 >/dev/null 2>&1");
  }
});

test("clients stop script: the clients reset (HUP), then the lab's conntrack entries go, then the first docker stop; only when clients run", () => {
  const text = clientsStopScript("c1m-lab.stack=s", { subnets: ["172.30.206.0/24", "172.30.207.0/24"] });
  const lines = text.split("\n");
  const flush = lines.indexOf(
    `  for subnet in 172.30.206.0/24 172.30.207.0/24; do conntrack -D -s "$subnet" 2>&1 >/dev/null | sed 's/^/c1m-lab: /' >&2 || true; done`,
  );
  const firstStop = lines.findIndex((l) => l.includes("docker stop -t 180 $ids"));
  const nothingToDo = lines.indexOf(
    `[ -n "$(docker ps -q --filter label=c1m-lab.stack=s --filter label=c1m-lab.role=client)" ] || exit 0`,
  );
  const hup = lines.indexOf(`docker kill --signal HUP "\${ids[@]}" >/dev/null 2>&1 || true`);
  assert.ok(text.includes("--filter label=c1m-lab.stop=hup)"), "only clients whose image resets on HUP");
  assert.ok(nothingToDo >= 0 && hup > nothingToDo && flush > hup && firstStop > flush, text);
  assertBashSyntax(text, "clients stop");
  // A subnet that would break out of the word is quoted.
  assert.ok(clientsStopScript("x", { subnets: ["1.2.3.0/24; reboot"] }).includes(`for subnet in '1.2.3.0/24; reboot'; do`));
  // Without subnets (or with none), no conntrack line.
  assert.ok(!clientsStopScript("x").includes("conntrack"));
});

test("one client's drain stops that client only, and only when it is this stack's; the sweep removes the stack's clients", () => {
  assert.ok(dockerAvailable(), "needs a running dockerd (apt-get install docker.io; dockerd &)");
  const base = ensureLocalNodeBase();
  const stack = `c1mt-drain-${process.pid}`;
  const names = [`${stack}-a`, `${stack}-b`, `${stack}-foreign`];
  // Exits on SIGTERM, as the client does (PID 1 in its container: no default action).
  const run = (n: string, labels: string) =>
    sh(
      `docker run -d --name ${n} ${labels} --network none ${base} /usr/local/bin/node -e 'process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000)'`,
    );
  const state = (n: string) => sh(`docker inspect -f '{{.State.Running}}' ${n}`).trim();
  try {
    const mine = `--label c1m-lab.stack=${stack} --label c1m-lab.role=client`;
    run(names[0]!, mine);
    run(names[1]!, mine);
    run(names[2]!, `--label c1m-lab.stack=${stack}-not --label c1m-lab.role=client`);
    const drain = containerDrainScript(names[0]!, `c1m-lab.stack=${stack}`);
    assertBashSyntax(drain, "drain");
    assert.equal(runScript(drain).code, 0);
    assert.deepEqual(names.map(state), ["false", "true", "true"]);
    assert.equal(runScript(drain).code, 0, "again: already stopped");
    // A container of that name that is not this stack's is left alone.
    assert.equal(runScript(containerDrainScript(names[2]!, `c1m-lab.stack=${stack}`)).code, 0);
    assert.equal(state(names[2]!), "true");
    assert.equal(runScript(containerDrainScript(`${stack}-none`, `c1m-lab.stack=${stack}`)).code, 0, "no such container");

    const sweep = runScript(clientsSweepScript(`c1m-lab.stack=${stack}`));
    assert.equal(sweep.code, 0, sweep.stderr);
    assert.match(sweep.stderr, /c1m-lab: removing client containers in no state/);
    assert.equal(sh(`docker ps -aq --filter label=c1m-lab.stack=${stack}`).trim(), "");
    assert.equal(state(names[2]!), "true", "another stack's client stays");
    assert.equal(runScript(clientsSweepScript(`c1m-lab.stack=${stack}`)).code, 0, "again: nothing to remove");
  } finally {
    runScript(`docker rm -f ${names.join(" ")} >/dev/null 2>&1`);
  }
});
