// Short output at scale: address lists in log lines and the wrapped diagnosis of bench:scale.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { briefAddresses } from "../../infra/plan/net.js";
import { wrap } from "../../workload/verify/format.js";

describe("briefAddresses", () => {
  it("lists a few addresses, and counts many with the first two and the last", () => {
    assert.equal(briefAddresses([]), "none");
    assert.equal(briefAddresses(["10.201.0.3/24", "10.201.0.4/24"]), "10.201.0.3/24, 10.201.0.4/24");
    const many = Array.from({ length: 53 }, (_, i) => `10.201.6.${i + 3}/24`);
    assert.equal(briefAddresses(many), "53: 10.201.6.3/24, 10.201.6.4/24 … 10.201.6.55/24");
  });
});

describe("wrap", () => {
  it("breaks between words, indents the following lines, cuts a word longer than a line", () => {
    assert.deepEqual(wrap("All 100,002 connections established over 6 server IPs", 20, "  "), [
      "All 100,002",
      "  connections",
      "  established over 6",
      "  server IPs",
    ]);
    assert.deepEqual(wrap("a bcdefghijkl", 6, "  "), ["a", "  bcde"]);
    assert.deepEqual(wrap("", 10), []);
  });
});
