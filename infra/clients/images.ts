// The client images' scripts: a base image from this machine's own node (no registry needed),
// and removing the client image for good. The classic builder keeps one untagged image per
// Dockerfile step as the parents of the final image, and removing the final image leaves them
// dangling (seen here: three per build after `pulumi destroy`). So the cleanup walks the
// untagged parents first, then removes the image and them; a parent another image still uses
// stays (no -f).
import { cmd, script } from "../shell.js";

/** `clients.baseImage: host-node`: the image's name, and the node binary it holds. */
export interface HostNodeBase {
  name: string;
  node: string;
}

/**
 * An image holding only `node` at /usr/local/bin/node and the libraries `ldd` lists, imported
 * from a tarball (about a second, ~100 MB): the client needs nothing else, and the host's node
 * is the one the lab already requires. Kept when it exists.
 */
export function hostNodeBaseCreateScript(b: HostNodeBase): string {
  return script("client base image (host node)", [
    `name=${cmd(b.name)}; node=${cmd(b.node)}`,
    `docker image inspect "$name" >/dev/null 2>&1 && exit 0`,
    `root=$(mktemp -d); trap 'rm -rf "$root"' EXIT`,
    `install -D "$node" "$root/usr/local/bin/node"`,
    `for lib in $(ldd "$node" | grep -o '/[^ ]* (0x' | cut -d' ' -f1); do install -D "$lib" "$root$lib"; done`,
    `mkdir -p "$root/tmp"`,
    `tar -C "$root" -c . | docker import - "$name" >/dev/null`,
  ]);
}

/** Removes the base unless an image still builds on it (no -f). */
export function hostNodeBaseDeleteScript(b: HostNodeBase): string {
  return script("client base image (host node) remove", [`docker image rm ${cmd(b.name)} >/dev/null 2>&1 || true`]);
}

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
    // Each step's image names the container it was committed from; the provider's classic
    // build (the API's default, not the CLI's --rm) leaves those containers behind.
    `containers=()`,
    `for i in "$id" "\${parents[@]}"; do`,
    `  c=$(docker image inspect -f '{{.Container}}' "$i" 2>/dev/null || true)`,
    `  [ -z "$c" ] || containers+=("$c")`,
    `done`,
    `for c in "\${containers[@]}"; do docker rm "$c" >/dev/null 2>&1 || true; done`,
    `docker image rm -f "$id" >/dev/null`,
    `for p in "\${parents[@]}"; do docker image rm "$p" >/dev/null 2>&1 || true; done`,
  ]);
}
