import { createECDH, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject, type webcrypto } from 'node:crypto'
import { join } from 'node:path'
import { calculateJwkThumbprint, importJWK, type JWK } from 'jose'
import { loadOrCreateSealedSecret, type TpmOptions } from './tpm.js'
import { loadOrCreateSecret, readSecretFileIfAny, type KeySource } from './key-source.js'

/** The public half as served in the JWKS (API §10, §12). */
export interface PublicSigningJwk {
  kty: 'EC'
  crv: 'P-256'
  alg: 'ES256'
  use: 'sig'
  kid: string
  x: string
  y: string
}

export interface Jwks {
  keys: PublicSigningJwk[]
}

/** The gateway's ES256 key: delegated MCP JWTs and provenance signatures. */
export interface SigningKey {
  alg: 'ES256'
  /** RFC 7638 thumbprint of the public JWK. */
  kid: string
  /** For jose (SignJWT#sign). */
  privateKey: webcrypto.CryptoKey
  publicKey: webcrypto.CryptoKey
  /** For node:crypto (DSSE signatures). */
  privateKeyObject: KeyObject
  publicKeyObject: KeyObject
  publicJwk: PublicSigningJwk
  jwks: Jwks
  source: KeySource
}

export class SigningKeyError extends Error {
  override name = 'SigningKeyError'
}

/** Relative to DATA_DIR. */
export const SIGNING_KEY_FILE = join('keys', 'mcp-signing-key.jwk')

export interface LoadSigningKeyOptions {
  /** MCP_SIGNING_KEY: PEM (PKCS#8 or SEC1) or a private JWK as JSON. */
  envValue?: string | undefined
  dataDir: string
  /** Seal a newly generated key to the TPM's PCRs (source 'tpm_pcr') instead of a plain file. */
  tpm?: TpmOptions | undefined
}

/**
 * The signing key from MCP_SIGNING_KEY, else DATA_DIR/keys/mcp-signing-key.jwk (0600),
 * else a fresh P-256 key persisted there. Rejects anything that is not a P-256 private key.
 */
export async function loadSigningKey(opts: LoadSigningKeyOptions): Promise<SigningKey> {
  const file = join(opts.dataDir, SIGNING_KEY_FILE)
  const fromEnv = opts.envValue !== undefined && opts.envValue !== ''
  if (opts.tpm !== undefined && !fromEnv && readSecretFileIfAny(file) === undefined) {
    // A sealed object holds ≤ 128 bytes: seal the private scalar d, rebuild x,y from it.
    const sealed = await loadOrCreateSealedSecret({
      base: file.replace(/\.jwk$/, ''),
      tpm: opts.tpm,
      generate: () => (generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as JWK).d!,
    })
    return signingKeyFromMaterial(JSON.stringify(jwkFromScalar(sealed.value)), 'tpm_pcr')
  }
  const loaded = loadOrCreateSecret({
    envValue: opts.envValue,
    file,
    generate: () => JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })),
  })
  return signingKeyFromMaterial(loaded.value, loaded.source)
}

/** P-256 private JWK from its scalar d (base64url). */
function jwkFromScalar(d: string): JsonWebKey {
  const ecdh = createECDH('prime256v1')
  ecdh.setPrivateKey(Buffer.from(d, 'base64url'))
  const pub = ecdh.getPublicKey() // 0x04 ‖ x ‖ y
  return { kty: 'EC', crv: 'P-256', d, x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33, 65).toString('base64url') }
}

/** Builds a SigningKey from PEM or private-JWK text (no I/O). */
export async function signingKeyFromMaterial(material: string, source: KeySource): Promise<SigningKey> {
  let keyObject: KeyObject
  try {
    const text = material.trim()
    keyObject = text.startsWith('{')
      ? createPrivateKey({ key: JSON.parse(text) as JsonWebKey, format: 'jwk' })
      : createPrivateKey(text.replace(/\\n/g, '\n'))
  } catch {
    // Never echo the material: it is a private key.
    throw new SigningKeyError('signing key is not a readable PEM or JWK private key')
  }
  if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new SigningKeyError('signing key must be an EC P-256 private key (ES256)')
  }
  const priv = keyObject.export({ format: 'jwk' }) as JWK
  const pub: JWK = { kty: 'EC', crv: 'P-256', x: priv.x!, y: priv.y! }
  const kid = await calculateJwkThumbprint(pub, 'sha256')
  const publicJwk: PublicSigningJwk = { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid, x: pub.x!, y: pub.y! }
  const [privateKey, publicKey] = await Promise.all([importJWK({ ...priv, alg: 'ES256' }, 'ES256'), importJWK({ ...pub, alg: 'ES256' }, 'ES256')])
  return {
    alg: 'ES256',
    kid,
    privateKey: privateKey as webcrypto.CryptoKey,
    publicKey: publicKey as webcrypto.CryptoKey,
    privateKeyObject: keyObject,
    publicKeyObject: createPublicKey(keyObject),
    publicJwk,
    jwks: { keys: [publicJwk] },
    source,
  }
}
