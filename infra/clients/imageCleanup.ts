// Removing the client image for good. The classic builder keeps one untagged image per
// Dockerfile step as the parents of the final image, and removing the final image leaves them
// dangling (seen here: three per build after `pulumi destroy`). So the cleanup walks the
// untagged parents first, then removes the image and them; a parent another image still uses
// stays (no -f).
import { cmd, script } from "../scripts/shell.js";

export function imageRemoveScript(imageId: string): string {
  return script("client image remove", [
    `id=${cmd(imageId)}`,
    `docker image inspect "$id" >/dev/null 2>&1 || exit 0`,
    `parents=()`,
    `p=$(docker image inspect -f '{{.Parent}}' "$id")`,
    `while [ -n "$p" ] && [ "$(docker image inspect -f '{{len .RepoTags}}' "$p" 2>/dev/null || echo 1)" = 0 ]; do`,
    `  parents+=("$p")`,
    `  p=$(docker image inspect -f '{{.Parent}}' "$p")`,
    `done`,
    `docker image rm -f "$id" >/dev/null`,
    `for p in "\${parents[@]}"; do docker image rm "$p" >/dev/null 2>&1 || true; done`,
  ]);
}
