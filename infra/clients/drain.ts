// Stopping the client containers before the docker provider deletes them. A client holding ~20k
// sockets takes a while to die, and the provider's delete then fails with "tried to kill
// container, but did not receive an exit event" (seen at 1M through `pulumi destroy`: 12 of 51
// deleted, the rest left until a second destroy). This step's delete stops them first, retrying
// the slow ones, so the provider only removes stopped containers.
import { cmd, script } from "../shell.js";

export function clientsStopScript(labelFilter: string, options: { rounds?: number; graceSeconds?: number } = {}): string {
  const rounds = options.rounds ?? 20;
  return script("client containers stop", [
    `for round in $(seq 1 ${rounds}); do`,
    `  ids=$(docker ps -q --filter ${cmd(`label=${labelFilter}`)} --filter label=c1m-lab.role=client)`,
    `  [ -n "$ids" ] || exit 0`,
    `  docker stop -t ${options.graceSeconds ?? 10} $ids >/dev/null 2>&1 || sleep 3`,
    `done`,
    `echo "c1m-lab: client containers still running after ${rounds} rounds of docker stop" >&2`,
    `exit 1`,
  ]);
}
