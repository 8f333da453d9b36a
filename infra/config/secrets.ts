// Stack config keys that hold secrets. They are not part of the lab's schema (infra/config.ts):
// the program reads them with `getSecret` and passes them only to where they are needed, so
// they are dropped before the rest of the config is validated or printed.
export const SSH_PRIVATE_KEY = "sshPrivateKey";
export const SECRET_CONFIG_KEYS: readonly string[] = [SSH_PRIVATE_KEY];

/** The config without the secret keys. */
export function withoutSecretKeys<T>(raw: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(raw).filter(([k]) => !SECRET_CONFIG_KEYS.includes(k)));
}

/** What to run when the private key is missing. */
export const SSH_KEY_HINT = `pulumi config set --secret c1m-lab:${SSH_PRIVATE_KEY} < ~/.ssh/id_ed25519`;

/**
 * Why the stack's secrets are set wrong, or undefined. `keys`: the lab's keys without the
 * namespace. A secret key given in plain text would sit unencrypted in the stack file; any other
 * key set as a secret would be decrypted into shell scripts, logs and error text, since the
 * lab's config is plain by design. Names keys only, never values.
 */
export function secretConfigProblem(keys: string[], isSecret: (key: string) => boolean): string | undefined {
  const plain = keys.filter((k) => SECRET_CONFIG_KEYS.includes(k) && !isSecret(k));
  if (plain.length) {
    return `c1m-lab:${plain[0]} is set in plain text: set it with \`${SSH_KEY_HINT}\` (stored encrypted, never printed)`;
  }
  const secret = keys.filter((k) => !SECRET_CONFIG_KEYS.includes(k) && isSecret(k));
  if (secret.length) {
    return (
      `${secret.map((k) => `c1m-lab:${k}`).join(", ")}: only c1m-lab:${SSH_PRIVATE_KEY} may be a secret; ` +
      `the lab's other settings reach shell scripts and logs as plain text, so set them without --secret`
    );
  }
  return undefined;
}
