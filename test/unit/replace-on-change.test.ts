// What the engine decides from our inputs: a Command whose scripts change is replaced (its old
// delete runs), a second `up` with nothing changed changes nothing, and the image cleanup
// removes the image it was made for. Under mocks, through the compiled program.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { REFERENCE_FACTS } from "../../infra/plan/capacity.js";
import { pulumiConfigJson } from "../../infra/config/stackFile.js";
import { digest } from "../../infra/localScript.js";
import { runProgram, upstreamTriggers } from "../support/mockProgram.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const snat = pulumiConfigJson(root, "snat-1ip");
const withClients = (extra: Record<string, unknown>) => ({
  ...snat,
  "c1m-lab:clients": JSON.stringify({ ...JSON.parse(snat["c1m-lab:clients"]!), ...extra }),
});

test("digest: sha256 of the canonical JSON, object keys sorted", () => {
  const expected = createHash("sha256").update('[{"a":2,"b":[1,{"c":3,"d":4}]},"x"]').digest("hex");
  assert.equal(digest([{ b: [1, { d: 4, c: 3 }], a: 2 }, "x"]), expected);
});

test("a changed natPortRange replaces the NAT pool step, whose old delete then removes the old rule", async () => {
  const before = await runProgram(withClients({ natPortRange: "40000-40999" }), { stack: "snat-1ip" });
  const same = await runProgram(withClients({ natPortRange: "40000-40999" }), { stack: "snat-1ip" });
  const after = await runProgram(withClients({ natPortRange: "41000-41999" }), { stack: "snat-1ip" });
  const nat = (r: typeof before) => r.byName("clients-nat-pool").inputs;
  assert.match(String(nat(after).create), /--to-ports 41000-41999/);
  assert.deepEqual(nat(same).triggers, nat(before).triggers);
  assert.notDeepEqual(nat(after).triggers, nat(before).triggers);
  // Connections made through the old pool must not stay up: the clients start anew, and the test reruns.
  const label = (r: typeof before) =>
    (r.byName("clients-c1m-snat-1ip-client-0").inputs.labels as { label: string; value: string }[]).find(
      (l) => l.label === "c1m-lab.upstream",
    )?.value;
  // Mocks give a replaced resource the same id; the engine gives it a new one, which changes this label.
  assert.equal(label(after), "connection-server-process_id,clients-nat-pool_id");
  assert.notDeepEqual(
    after.byName("connection-test-verify").inputs.triggers,
    before.byName("connection-test-verify").inputs.triggers,
  );
});

test("a renamed namespace replaces the host and everything on it", async () => {
  const server = JSON.parse(snat["c1m-lab:server"]!) as Record<string, unknown>;
  const renamed = { ...snat, "c1m-lab:server": JSON.stringify({ ...server, namespace: "c1m-renamed" }) };
  const [a, b] = [await runProgram(snat, { stack: "snat-1ip" }), await runProgram(renamed, { stack: "snat-1ip" })];
  for (const step of ["server-host-namespace", "secondary-ips-addresses", "tuning-sysctls", "connection-server-process"]) {
    assert.notDeepEqual(b.byName(step).inputs.triggers, a.byName(step).inputs.triggers, `${step} is replaced`);
  }
});

test("a second up on a machine whose free memory changed reruns nothing: the test's plan holds no live reading", async () => {
  const plenty = await runProgram(snat, { stack: "snat-1ip", facts: REFERENCE_FACTS });
  const scarce = await runProgram(snat, { stack: "snat-1ip", facts: { ...REFERENCE_FACTS, memAvailableBytes: 1024 } });
  const verify = (r: typeof plenty) => r.byName("connection-test-verify").inputs;
  assert.deepEqual(verify(scarce).environment, verify(plenty).environment);
  assert.deepEqual(verify(scarce).triggers, verify(plenty).triggers);
  assert.equal(JSON.parse((verify(plenty).environment as { C1M_PLAN: string }).C1M_PLAN).liveWarnings, undefined);
});

test("the image cleanup removes the image by the id it was built as, after its containers", async () => {
  const r = await runProgram(snat, { stack: "snat-1ip" });
  const cleanup = r.byName("clients-image-cleanup");
  // mockProgram's docker Image reports repoDigest sha256:0123abcd (a local image's id).
  assert.match(String(cleanup.inputs.delete), /^id=sha256:0123abcd$/m);
  // The host-node base too: leaving host-node deletes the base only after the old image is gone.
  assert.deepEqual(cleanup.dependsOn, ["clients-image", "clients-base-image"]);
  assert.equal(cleanup.deleteBeforeReplace, false, "a rebuild removes the old image at the end, after the old containers");
  const containers = r.resources.filter((x) => x.type === "docker:index/container:Container");
  assert.ok(containers.length > 0);
  for (const c of containers) assert.ok(c.dependsOn.includes("clients-image-cleanup"), `${c.name} goes before the image`);
  assert.deepEqual(upstreamTriggers(cleanup.inputs.triggers), []);
});

test("the clients are stopped before the docker provider deletes them (it gives up on a client slow to die)", async () => {
  const r = await runProgram(snat, { stack: "snat-1ip" });
  const stop = r.byName("clients-stop");
  assert.deepEqual(stop.dependsOn.sort(), [
    "clients-c1m-snat-1ip-client-0",
    "clients-c1m-snat-1ip-client-0-drain",
    "clients-c1m-snat-1ip-client-1",
    "clients-c1m-snat-1ip-client-1-drain",
  ]);
  assert.match(
    String(stop.inputs.delete),
    /docker ps -q --filter label=c1m-lab\.stack=snat-1ip --filter label=c1m-lab\.role=client/,
  );
  assert.match(String(stop.inputs.delete), /docker stop -t 180 \$ids/);
});
