// LabPaths for tests of pure step builders: fixed, made-up paths (nothing is read or written there).
import type { LabPaths } from "../../infra/plan/paths.js";

const staged = { path: "/stage/x", sha256: "a".repeat(64) };

export const TEST_LAB_PATHS: LabPaths = {
  node: "/usr/bin/node",
  stateDir: "/run/c1m-lab/t",
  installDir: "/var/lib/c1m-lab/t",
  staged: {
    server: staged,
    verify: staged,
    clientImage: { context: "/stage/c", dockerfile: "/stage/c/Dockerfile", sha256: "c".repeat(64) },
  },
  reportsDir: "reports",
};
