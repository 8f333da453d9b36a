// The destroy watchdog's clock (infra/cli/stall.ts), on node:test's mocked timers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { stallWatch } from "../../infra/cli/stall.js";

test("stallWatch fires once after ms without a poke; each poke starts the clock again; stop disarms it", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let fired = 0;
  const w = stallWatch(1000, () => fired++);
  t.mock.timers.tick(900);
  w.poke();
  t.mock.timers.tick(900);
  assert.equal(fired, 0, "poked 900 ms in: not stalled at 1,800 ms");
  assert.equal(w.stalled, false);
  t.mock.timers.tick(100);
  assert.equal(fired, 1, "1,000 ms after the last poke");
  assert.equal(w.stalled, true);
  w.poke();
  t.mock.timers.tick(5000);
  assert.equal(fired, 1, "a poke after the stall does not re-arm it");

  const quiet = stallWatch(1000, () => fired++);
  quiet.stop();
  t.mock.timers.tick(5000);
  assert.equal(fired, 1, "stopped: never fires");
});
