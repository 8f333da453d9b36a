// The established-socket hash each namespace gets: sizes from connection counts, literal values.
import { test } from "node:test";
import assert from "node:assert/strict";
import { clientEhashRaise, ehashEntriesFor, ehashRaiseFor } from "../../infra/plan/ehash.js";
import { labSteps } from "../../infra/server/netns/steps.js";
import { planCapacity, REFERENCE_FACTS } from "../../infra/plan/capacity.js";
import { parseLabConfig } from "../../infra/config/schema.js";
import { TEST_LAB_PATHS } from "../support/labPaths.js";

test("a namespace's table: one bucket per socket as a power of two, none (the host's) below 16,384, at most 16M", () => {
  assert.equal(ehashEntriesFor(0), 0);
  assert.equal(ehashEntriesFor(16_383), 0);
  assert.equal(ehashEntriesFor(16_384), 16_384);
  assert.equal(ehashEntriesFor(19_608), 32_768);
  assert.equal(ehashEntriesFor(76_924), 131_072);
  assert.equal(ehashEntriesFor(1_000_008), 1_048_576);
  assert.equal(ehashEntriesFor(20_000_000), 16_777_216);
  assert.deepEqual(ehashRaiseFor(5_000), {});
  assert.deepEqual(ehashRaiseFor(76_924), { "net.ipv4.tcp_child_ehash_entries": 131_072 });
});

const million = (raiseHostLimits: boolean) =>
  parseLabConfig({
    server: { provider: "netns", secondaryAddresses: { count: 53 } },
    clients: { containers: 13, connectionsPerContainer: 76_924 },
    // Without the raise the user's own nf_conntrack_max must hold the million.
    tuning: { raiseHostLimits, sysctls: raiseHostLimits ? {} : { "net.netfilter.nf_conntrack_max": 1_300_000 } },
  });
const paths = TEST_LAB_PATHS;

test("the million's steps: the server namespace made with 1,048,576 buckets, the containers under a raise to 131,072", () => {
  const config = million(true);
  const plan = planCapacity(config, REFERENCE_FACTS);
  assert.deepEqual(clientEhashRaise(plan), { "net.ipv4.tcp_child_ehash_entries": 131_072 });
  const steps = labSteps(config, plan, "st", paths);
  assert.equal(steps.host.ehashEntries, 1_048_576);
  assert.equal(steps.tuning.raise["net.ipv4.tcp_child_ehash_entries"], 131_072);
  // tuning.raiseHostLimits off: no host-wide raise (the server's own table is set and put back at once).
  const off = million(false);
  assert.equal(
    labSteps(off, planCapacity(off, REFERENCE_FACTS), "st", paths).tuning.raise["net.ipv4.tcp_child_ehash_entries"],
    undefined,
  );
});
