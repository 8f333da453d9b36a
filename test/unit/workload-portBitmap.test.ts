import { test } from "node:test";
import assert from "node:assert/strict";
import {
  clearPort,
  countPorts,
  firstPorts,
  hasPort,
  newPortBitmap,
  orInto,
  PORT_BITMAP_BYTES,
  setPort,
  sharedPorts,
} from "../../workload/portBitmap.js";

test("set, clear, has, count over the whole port range", () => {
  const b = newPortBitmap();
  assert.equal(b.length, PORT_BITMAP_BYTES);
  for (const p of [0, 1, 7, 8, 40000, 65535]) setPort(b, p);
  setPort(b, 40000); // idempotent
  assert.equal(countPorts(b), 6);
  assert.ok(hasPort(b, 65535) && hasPort(b, 0) && !hasPort(b, 2));
  clearPort(b, 7);
  clearPort(b, 7);
  assert.equal(countPorts(b), 5);
  assert.deepEqual(firstPorts(b, 3), [0, 1, 8]);
  assert.deepEqual(firstPorts(b, 10), [0, 1, 8, 40000, 65535]);
});

test("orInto is a union", () => {
  const a = newPortBitmap();
  const b = newPortBitmap();
  setPort(a, 100);
  setPort(b, 100);
  setPort(b, 101);
  orInto(a, b);
  assert.deepEqual(firstPorts(a, 10), [100, 101]);
});

test("sharedPorts: ports in two or more bitmaps, lowest as example with its local addresses", () => {
  const x = newPortBitmap();
  const y = newPortBitmap();
  const z = newPortBitmap();
  for (const p of [40001, 40002, 50000]) setPort(x, p);
  for (const p of [40002, 50000, 60000]) setPort(y, p);
  for (const p of [50000, 60001]) setPort(z, p);
  assert.deepEqual(
    sharedPorts([
      { local: "10.0.0.2:9000", bits: x },
      { local: "10.0.0.3:9000", bits: y },
      { local: "10.0.0.4:9000", bits: z },
    ]),
    { count: 2, example: { port: 40002, localAddresses: ["10.0.0.2:9000", "10.0.0.3:9000"] } },
  );
  // A port in all three counts once; the example lists all three.
  clearPort(x, 40002);
  assert.deepEqual(
    sharedPorts([
      { local: "a", bits: x },
      { local: "b", bits: y },
      { local: "c", bits: z },
    ]),
    { count: 1, example: { port: 50000, localAddresses: ["a", "b", "c"] } },
  );
  assert.deepEqual(sharedPorts([{ local: "a", bits: x }]), { count: 0 });
  assert.deepEqual(sharedPorts([]), { count: 0 });
});
