// A server worker used more CPU than test.findLimit.maxWorkerCpu over the step's hold: saturated.
import type { Criterion } from "../criterion.js";

export const workerCpu: Criterion = {
  name: "worker-cpu",
  judge: (m, s) => {
    const w = m.busiestWorker;
    if (s.maxWorkerCpu === null || w === null || w.cpu <= s.maxWorkerCpu) return null;
    return `Server worker ${w.pid} used ${w.cpu.toFixed(2)} cores over the step, above test.findLimit.maxWorkerCpu ${s.maxWorkerCpu}: it is saturated.`;
  },
};
