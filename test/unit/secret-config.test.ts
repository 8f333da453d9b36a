// Secrets where they belong: the ssh key only as a Pulumi secret, nothing else as one (the lab's
// settings reach scripts in plain text), and only this machine's Docker for the clients.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseLabConfig } from "../../infra/config/schema.js";
import { secretConfigProblem } from "../../infra/config/secrets.js";

test("sshPrivateKey in plain text: refused with the command that stores it encrypted", () => {
  assert.equal(
    secretConfigProblem(["server", "sshPrivateKey"], () => false),
    "c1m-lab:sshPrivateKey is set in plain text: set it with `pulumi config set --secret c1m-lab:sshPrivateKey < ~/.ssh/id_ed25519` (stored encrypted, never printed)",
  );
});

test("other keys set as secrets: refused by name", () => {
  assert.equal(
    secretConfigProblem(["server", "clients", "test", "sshPrivateKey"], (k) => k !== "server"),
    "c1m-lab:clients, c1m-lab:test: only c1m-lab:sshPrivateKey may be a secret; the lab's other settings reach shell scripts and logs as plain text, so set them without --secret",
  );
});

test("the key as a secret and the rest plain: fine", () => {
  assert.equal(
    secretConfigProblem(["server", "sshPrivateKey"], (k) => k === "sshPrivateKey"),
    undefined,
  );
  assert.equal(
    secretConfigProblem([], () => true),
    undefined,
  );
});

test("clients.dockerHost: another Docker host is refused, pointing at clients.hosts", () => {
  assert.throws(
    () => parseLabConfig({ clients: { dockerHost: "ssh://me@far" } }),
    (e: Error) => {
      assert.equal(
        e.message,
        'Invalid c1m-lab config:\n✖ only this machine\'s Docker, unix:///var/run/docker.sock; list clients on other Docker hosts in clients.hosts instead (e.g. [{ name: a, docker: local }, { name: b, docker: "ssh://user@host", hostKey: "ssh-ed25519 AAAA..." }]); got "ssh://me@far"\n  → at clients.dockerHost',
      );
      return true;
    },
  );
  assert.equal(parseLabConfig({}).clients.dockerHost, "unix:///var/run/docker.sock");
});
