// workload/Dockerfile, in the context the program stages (infra/install/stage.ts), builds an image
// that runs the client bundle from C1M_* env alone, with nothing else inside. Needs docker and a
// local Node base image (the lab builds one offline).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ClientStatus } from "../../shared/protocol.js";
import { ensureLocalNodeBase } from "../../infra/direct/localBase.js";
import { needsDocker, runScript } from "../support/sh.js";
import { dockerBuildArgs } from "../../infra/clients/dockerCli.js";
import { imageRemoveScript } from "../../infra/clients/images.js";
import { stageWorkload } from "../../infra/install/stage.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const image = `c1mt-wl-client:${process.pid}`;
const stageRoot = mkdtempSync(join(tmpdir(), "c1mt-stage-"));
after(() => rmSync(stageRoot, { recursive: true, force: true }));
const staged = () => stageWorkload(root, stageRoot).clientImage;

test("client image: --help, env-configured run, only the client bundle inside", (t) => {
  needsDocker();
  const base = ensureLocalNodeBase();
  t.after(() => runScript(`docker rmi -f ${image} >/dev/null 2>&1`));

  const { context, dockerfile } = staged();
  const build = runScript(`docker build -q -t ${image} --build-arg BASE_IMAGE=${base} -f ${dockerfile} ${context}`);
  assert.equal(build.code, 0, build.stderr);

  const help = runScript(`docker run --rm --network none ${image} --help`);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /--connections N/);

  // --network none: the container's own loopback only; nothing listens there, so: refused.
  const run = runScript(
    `docker run --rm --network none -e C1M_TARGETS=127.0.0.1:9 -e C1M_CONNECTIONS=3 -e C1M_HOLD_SECONDS=0.1 -e C1M_CLIENT_NAME=img ${image}`,
  );
  assert.equal(run.code, 1, run.stderr);
  const final = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as ClientStatus;
  assert.equal(final.client, "img");
  assert.equal(final.final, true);
  assert.equal(final.failed.refused, 3);

  const ls = runScript(
    `docker run --rm --network none --entrypoint /usr/local/bin/node ${image} -e 'const fs=require("fs");console.log(JSON.stringify(fs.readdirSync("/app",{recursive:true})))'`,
  );
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(JSON.parse(ls.stdout), ["c1m-client.mjs"]);
});

test("two stacks' client images are their own: one's removal leaves the other's running clients be", (t) => {
  needsDocker();
  const base = ensureLocalNodeBase();
  const [a, b] = [`c1mt-wl-a:${process.pid}`, `c1mt-wl-b:${process.pid}`];
  const running = `c1mt-wl-b-${process.pid}`;
  t.after(() => runScript(`docker rm -f ${running} >/dev/null 2>&1; docker rmi -f ${a} ${b} >/dev/null 2>&1`));
  const build = (tag: string, stack: string) => {
    const args = dockerBuildArgs({ name: tag, baseImage: base, ...staged() }, stack);
    const r = runScript(`docker ${args.map((x) => `'${x}'`).join(" ")}`);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const idA = build(a, "stack-a");
  const idB = build(b, "stack-b");
  assert.notEqual(idA, idB, "another stack, another image id");
  assert.equal(runScript(`docker image inspect -f '{{index .Config.Labels "c1m-lab.image-of"}}' ${b}`).stdout.trim(), "stack-b");
  const run = runScript(
    `docker run -d --name ${running} --network none --entrypoint /usr/local/bin/node ${b} -e 'setInterval(() => {}, 1000)'`,
  );
  assert.equal(run.code, 0, run.stderr);
  const removed = runScript(imageRemoveScript(idA));
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(runScript(`docker image inspect ${idA}`).code, 1, "stack a's image is gone");
  assert.equal(runScript(`docker inspect -f '{{.State.Running}}' ${running}`).stdout.trim(), "true");
});
