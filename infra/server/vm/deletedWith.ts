// What runs on a VM the lab made is deleted with the VM.
import * as pulumi from "@pulumi/pulumi";

/**
 * Steps that run on a VM the lab made are deleted with it: a destroy (or a VM that is gone, after
 * a reboot or a kill) does not dial it once per step, 20 × 15 s each, before the VM's own delete.
 * Its disk goes too, and with it whatever those steps left. An adopted host has no machine.
 */
export function deletedWithMachine(machine: pulumi.Resource): pulumi.ResourceTransformation {
  return (a) =>
    a.type.startsWith("command:remote:")
      ? { props: a.props, opts: pulumi.mergeOptions(a.opts, { deletedWith: machine }) }
      : undefined;
}
