import { test } from "node:test";
import assert from "node:assert/strict";
import { parseOpenFilesLimit, processesNeeded, readOpenFilesLimit, usableSockets } from "../../workload/limits.js";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

test("parses the 'Max open files' row", () => {
  assert.deepEqual(parseOpenFilesLimit(LIMITS), { soft: 1024, hard: 524288 });
  assert.deepEqual(parseOpenFilesLimit("Max open files            unlimited            unlimited            files\n"), {
    soft: Infinity,
    hard: Infinity,
  });
});

test("a limits text without the row (or with junk in it) is an error, not a guess", () => {
  assert.throws(() => parseOpenFilesLimit("Max cpu time unlimited unlimited seconds\n"), /Max open files/);
  assert.throws(
    () => parseOpenFilesLimit("Max open files            lots                 1024                 files\n"),
    /Max open files/,
  );
});

test("this process: Node raised the soft limit to the hard one", () => {
  const l = readOpenFilesLimit();
  assert.ok(l.soft > 0 && l.soft <= l.hard);
  if (Number.isFinite(l.hard)) assert.equal(l.soft, l.hard);
});

test("usable sockets and processes needed", () => {
  assert.equal(usableSockets({ soft: 20000, hard: 20000 }), 19900);
  assert.equal(usableSockets({ soft: 50, hard: 50 }), 0);
  assert.equal(usableSockets({ soft: 1000, hard: 1000 }, 10), 990);
  assert.equal(processesNeeded(1_000_000, 19_900), 51);
  assert.equal(processesNeeded(19_900, 19_900), 1);
  assert.equal(processesNeeded(19_901, 19_900), 2);
  assert.equal(processesNeeded(5, 0), Infinity);
});
