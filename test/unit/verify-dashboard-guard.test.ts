// The live dashboard's guards, pure parts: which addresses are loopback, which Host headers a
// dashboard bound to a given address answers (DNS rebinding), and the exposure warning.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { exposureWarning, hostAllowed, hostnameOf, isLoopback } from "../../workload/verify/dashboardGuard.js";

describe("verify dashboard guard", () => {
  it("knows loopback: 127.0.0.0/8, ::1 in any spelling, localhost", () => {
    for (const a of ["127.0.0.1", "127.9.8.7", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "localhost", "LocalHost"]) {
      assert.equal(isLoopback(a), true, a);
    }
    for (const a of ["0.0.0.0", "::", "10.0.0.5", "128.0.0.1", "::2", "fe80::1", "localhost.evil.example", ""]) {
      assert.equal(isLoopback(a), false, a);
    }
  });

  it("takes the hostname out of a Host header, port ignored", () => {
    assert.equal(hostnameOf("evil.example:9180"), "evil.example");
    assert.equal(hostnameOf("127.0.0.1:9180"), "127.0.0.1");
    assert.equal(hostnameOf("[::1]:9180"), "::1");
    assert.equal(hostnameOf("[::1]"), "::1");
    assert.equal(hostnameOf("LOCALHOST"), "localhost");
    for (const bad of ["", "::1", "[evil.example]:80", "a@127.0.0.1", "127.0.0.1:80/x", "127.0.0.1:", "host name"]) {
      assert.equal(hostnameOf(bad), null, bad);
    }
  });

  it("on loopback, answers only loopback literals and localhost", () => {
    const ok = ["127.0.0.1:9180", "127.0.0.1", "[::1]:9180", "localhost", "localhost:9180", "127.0.0.2:9180"];
    for (const h of ok) assert.equal(hostAllowed(h, "127.0.0.1"), true, h);
    const refused = ["evil.example:9180", "evil.example", "10.0.0.5:9180", "localhost.evil.example", "127.0.0.1.nip.io:9180"];
    for (const h of refused) assert.equal(hostAllowed(h, "127.0.0.1"), false, h);
    assert.equal(hostAllowed(undefined, "127.0.0.1"), false, "no Host header");
    assert.equal(hostAllowed("", "127.0.0.1"), false, "empty Host header");
  });

  it("on another address, answers that address too; on every interface, any IP literal", () => {
    assert.equal(hostAllowed("10.0.0.5:9180", "10.0.0.5"), true);
    assert.equal(hostAllowed("10.0.0.6:9180", "10.0.0.5"), false);
    assert.equal(hostAllowed("127.0.0.1:9180", "10.0.0.5"), true);
    assert.equal(hostAllowed("10.0.0.5:9180", "0.0.0.0"), true);
    assert.equal(hostAllowed("[fe80::1]:9180", "::"), true);
    assert.equal(hostAllowed("10.0.0.5:9180", "::"), true);
    assert.equal(hostAllowed("[2001:db8::1]:9180", "2001:db8:0:0:0:0:0:1"), true);
    for (const bound of ["0.0.0.0", "::", "10.0.0.5"]) {
      assert.equal(hostAllowed("evil.example:9180", bound), false, bound);
      assert.equal(hostAllowed(undefined, bound), false, bound);
    }
  });

  it("warns once the dashboard is off loopback", () => {
    assert.equal(exposureWarning("127.0.0.1"), null);
    assert.equal(exposureWarning("::1"), null);
    assert.equal(exposureWarning("localhost"), null);
    assert.equal(
      exposureWarning("0.0.0.0"),
      "verify: warning: the live dashboard listens on 0.0.0.0, reachable from other machines and unauthenticated; " +
        "keep it on loopback with --dashboard 127.0.0.1:PORT (test.dashboard.host: 127.0.0.1)",
    );
    assert.match(exposureWarning("10.0.0.5")!, /^verify: warning: the live dashboard listens on 10\.0\.0\.5, reachable/);
    assert.doesNotMatch(exposureWarning("::")!, /\n/);
  });
});
