// The two-hosts stack under Pulumi mocks: one ClientHost per host, the second reached only over
// ssh (its own docker Provider, remote steps), every host reached before any builds its clients.
// The engine tests show update/replace and delete order; this shows the graph and the scripts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { pulumiConfigJson } from "../../infra/config/stackFile.js";
import { runProgram } from "../support/mockProgram.js";
import { assertBashSyntax } from "../support/sh.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKEhmGd0Dexw+c4HLG1i9x6ki9zR/DqFd4tmSo3knVrL";

test("stack two-hosts: a ClientHost per host; host b made here, reached over ssh with its own docker Provider", async () => {
  const run = await runProgram(pulumiConfigJson(root, "two-hosts"), {
    stack: "two-hosts",
    stdout: (name) => (name === "clients-b-netns" ? `hostkey: ${HOST_KEY}\n` : undefined),
  });
  assert.equal(run.error, undefined, String(run.error));
  for (const name of ["clients-local", "clients-b"]) {
    assert.equal(run.byName(name).type, "c1m-lab:clients:ClientHost");
    assert.equal(run.byName(name).parent, "lab");
  }
  // The single-host fleet is gone; each host has its own fleet under it.
  assert.equal(
    run.resources.some((r) => r.name === "clients"),
    false,
  );

  const provider = run.byName("clients-b-docker");
  assert.equal(provider.type, "pulumi:providers:docker");
  assert.equal(provider.inputs.host, "ssh://root@10.203.9.2:22");
  assert.deepEqual(JSON.parse(String(provider.inputs.sshOpts)), [
    "-i",
    "/var/lib/c1m-lab/clients-two-hosts-b/id_ed25519",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "UserKnownHostsFile=/var/lib/c1m-lab/clients-two-hosts-b/known_hosts",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=10",
    "-p",
    "22",
  ]);

  // The namespace host: made by a local step, its own dockerd and sshd in the stack's directory.
  const made = run.byName("clients-b-netns");
  assert.equal(made.type, "command:local:Command");
  assertBashSyntax(made.inputs.create, "netns create");
  assertBashSyntax(made.inputs.delete, "netns delete");
  assert.match(
    String(made.inputs.create),
    /--data-root \/var\/lib\/c1m-lab\/clients-two-hosts-b\/docker --exec-root \/run\/c1m-lab\/clients-two-hosts-b /,
  );

  // Host b's steps run there (remote), its docker objects carry its names; the local host's run here.
  assert.equal(run.byName("clients-b-fleet-nat-pool").type, "command:remote:Command");
  assert.equal(run.byName("clients-local-fleet-nat-pool").type, "command:local:Command");
  assert.match(String(run.byName("clients-b-fleet-nat-pool").inputs.create), /^timeout --kill-after=10 900 bash -c /);
  assert.match(
    String(run.byName("clients-b-fleet-nat-pool").inputs.create),
    /-s 172\.30\.209\.0\/24 -d 10\.201\.9\.0\/24 .*MASQUERADE --to-ports 40000-40999/,
  );
  assert.equal(run.byName("clients-b-fleet-c1m-two-hosts-b-client-1").inputs.name, "c1m-two-hosts-b-client-1");
  assert.equal(run.byName("clients-local-fleet-c1m-two-hosts-local-client-0").inputs.name, "c1m-two-hosts-local-client-0");
  assert.equal(run.byName("clients-b-fleet-c1m-two-hosts-b-clients").inputs.name, "c1m-two-hosts-b-clients");
  // The base image is made here from this machine's node and piped to host b's docker.
  const base = String(run.byName("clients-b-base-image").inputs.create);
  assertBashSyntax(base, "base image");
  assert.match(
    base,
    /^docker\(\) \{ ssh -i \/var\/lib\/c1m-lab\/clients-two-hosts-b\/id_ed25519 .* root@10\.203\.9\.2 "docker \$\(printf '%q ' "\$@"\)"; \}$/m,
  );

  // Every host's fleet waits for every host to be reached, and for the server.
  for (const host of ["local", "b"]) {
    const fleet = run.byName(`clients-${host}-fleet`);
    assert.equal(fleet.type, "c1m-lab:clients:ClientFleet");
    assert.equal(fleet.parent, `clients-${host}`);
    for (const dep of ["connection-server", "clients-local-local", "clients-b-netns"])
      assert.ok(fleet.dependsOn.includes(dep), `${host} waits for ${dep}`);
  }
  assert.deepEqual(run.byName("connection-test").dependsOn.sort(), ["clients-b", "clients-local"]);
  assert.deepEqual(run.outputs.predicted, 2000);
});
