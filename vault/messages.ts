/**
 * The texts a wallet signs to derive its vault key. The signature IS the key material, so
 * a text, once used, must never change: a wallet's entries stay bound to the version they
 * were stored under, and the derive challenge keeps offering that version. Add new
 * versions at the end; never edit or remove one.
 */
const DERIVE_MESSAGES: Readonly<Record<number, (address: string) => string>> = Object.freeze({
  1: (address: string) =>
    [
      'Agent Gateway provider key vault',
      '',
      'Sign this message to derive the key that encrypts your provider API keys.',
      'Signing it costs nothing and sends no transaction.',
      'Only sign it on a gateway you trust: the signature unlocks your stored keys.',
      '',
      `Wallet: ${address}`,
      'Purpose: vault-derive',
      'Version: 1',
    ].join('\n'),
})

/** The version new wallets get. */
export const CURRENT_DERIVE_MESSAGE_VERSION = 1

/** Every version ever issued, oldest first. */
export const DERIVE_MESSAGE_VERSIONS: readonly number[] = Object.freeze(
  Object.keys(DERIVE_MESSAGES)
    .map(Number)
    .sort((a, b) => a - b),
)

/** The exact text for `address` (any case) at `version`; throws for an unknown version. */
export function deriveMessage(address: string, version: number): string {
  const build = DERIVE_MESSAGES[version]
  if (build === undefined) throw new Error(`unknown vault derive message version ${version}`)
  return build(address.toLowerCase())
}

/** Which version produced `message` for `address`, or undefined when it is none of ours. */
export function deriveMessageVersionOf(address: string, message: string): number | undefined {
  for (const v of DERIVE_MESSAGE_VERSIONS) if (deriveMessage(address, v) === message) return v
  return undefined
}
