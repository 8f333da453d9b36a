// Stack config keys that hold secrets. They are not part of the lab's schema (infra/config.ts):
// the program reads them with `requireSecret` and passes them only to where they are needed, so
// they are dropped before the rest of the config is validated or printed.
export const SSH_PRIVATE_KEY = "sshPrivateKey";
export const SECRET_CONFIG_KEYS: readonly string[] = [SSH_PRIVATE_KEY];

/** The config without the secret keys. */
export function withoutSecretKeys<T>(raw: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(raw).filter(([k]) => !SECRET_CONFIG_KEYS.includes(k)));
}

/** What to run when the private key is missing. */
export const SSH_KEY_HINT = `pulumi config set --secret c1m-lab:${SSH_PRIVATE_KEY} < ~/.ssh/id_ed25519`;
