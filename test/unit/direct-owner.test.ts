// One runner per stack: the direct runner's record and the engine's file state, read from temp
// directories laid out as each leaves them.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  engineResourceCount,
  readDirectRecord,
  refuseDirectOnEngine,
  refuseEngineOnDirect,
  removeDirectRecord,
  writeDirectRecord,
} from "../../infra/direct/owner.js";
import type { LabSteps } from "../../infra/server/netns/steps.js";

const dir = mkdtempSync(join(tmpdir(), "c1m-owner-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("a direct up's record: written, read back as it was, refused by the engine, gone after down", () => {
  const steps = { stack: "snat-1ip", host: { namespace: "c1m-old-name" } } as unknown as LabSteps;
  assert.equal(readDirectRecord(dir, "snat-1ip"), undefined);
  refuseEngineOnDirect(dir, "snat-1ip");
  writeDirectRecord(dir, steps);
  assert.deepEqual(readDirectRecord(dir, "snat-1ip"), { stack: "snat-1ip", host: { namespace: "c1m-old-name" } });
  assert.throws(
    () => refuseEngineOnDirect(dir, "snat-1ip"),
    new RegExp(
      `^OwnerError: stack snat-1ip is up without the engine \\(${dir}/\\.c1m-lab/direct/snat-1ip\\.json\\): take it down with ` +
        "`npm run lab:down -- --stack snat-1ip --direct`",
    ),
  );
  refuseEngineOnDirect(dir, "local");
  removeDirectRecord(dir, "snat-1ip");
  refuseEngineOnDirect(dir, "snat-1ip");
});

test("the engine's file state: resources other than the stack count; the direct runner refuses them", () => {
  const stacks = join(dir, "state", ".pulumi", "stacks", "c1m-lab");
  mkdirSync(stacks, { recursive: true });
  const resources = (types: string[]) =>
    JSON.stringify({ checkpoint: { latest: { resources: types.map((type) => ({ type })) } } });
  writeFileSync(join(stacks, "empty.json"), resources(["pulumi:pulumi:Stack"]));
  writeFileSync(
    join(stacks, "up.json"),
    resources(["pulumi:pulumi:Stack", "command:local:Command", "docker:index/network:Network"]),
  );
  const url = `file://${join(dir, "state")}`;
  assert.equal(engineResourceCount(url, "c1m-lab", "none"), 0);
  assert.equal(engineResourceCount(url, "c1m-lab", "empty"), 0);
  assert.equal(engineResourceCount(url, "c1m-lab", "up"), 2);
  assert.equal(engineResourceCount("s3://bucket", "c1m-lab", "up"), 0, "not a backend of ours to read");
  refuseDirectOnEngine(url, "c1m-lab", "empty");
  assert.throws(
    () => refuseDirectOnEngine(url, "c1m-lab", "up"),
    /^OwnerError: stack up is the engine's \(2 resources in its state at file:\/\/.*\): use `npm run lab:up\|lab:down -- --stack up` without --direct$/,
  );
});
