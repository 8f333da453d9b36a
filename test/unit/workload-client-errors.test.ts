import { test } from "node:test";
import assert from "node:assert/strict";
import { classifyError, connectTimeoutError } from "../../workload/client/errors.js";
import { RetryQueue } from "../../workload/client/retryQueue.js";

test("error codes map to the failure classes", () => {
  const cls = (code: string) => classifyError(Object.assign(new Error(code), { code }));
  assert.equal(cls("ETIMEDOUT"), "timeout");
  assert.equal(classifyError(connectTimeoutError(10)), "timeout");
  assert.equal(cls("ECONNREFUSED"), "refused");
  assert.equal(cls("EADDRNOTAVAIL"), "addrnotavail");
  assert.equal(cls("ECONNRESET"), "reset");
  assert.equal(cls("EPIPE"), "reset");
  assert.equal(cls("EMFILE"), "emfile");
  assert.equal(cls("ENFILE"), "emfile");
  assert.equal(cls("EHOSTUNREACH"), "other");
  assert.equal(classifyError(new Error("no code")), "other");
  assert.equal(classifyError(undefined), "other");
});

test("retry queue releases items in due order, only when due", () => {
  const q = new RetryQueue();
  for (const due of [50, 10, 40, 20, 30, 10]) q.push({ due, attempt: due, target: 0, source: 0 });
  assert.equal(q.size, 6);
  assert.equal(q.popDue(5), undefined);
  const out: number[] = [];
  for (let item = q.popDue(35); item; item = q.popDue(35)) out.push(item.due);
  assert.deepEqual(out, [10, 10, 20, 30]);
  assert.equal(q.size, 2);
  assert.equal(q.popDue(100)?.due, 40);
  assert.equal(q.popDue(100)?.due, 50);
  assert.equal(q.popDue(100), undefined);
});
