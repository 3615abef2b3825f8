import { createPublicKey, hash, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto'

/**
 * C2SP signed notes (c2sp.org/signed-note) carrying C2SP tlog-checkpoints
 * (c2sp.org/tlog-checkpoint): three lines `origin`, `tree size`, `base64(root)`, a blank
 * line, then one signature line `— <key name> base64(key ID ‖ signature)`.
 *
 * The gateway's key is ECDSA P-256 (the ES256 key of /.well-known/jwks.json), so the
 * signature type is signed-note's 0x02 "ECDSA as implemented by transparency-dev/witness"
 * (also what Sigstore's Rekor uses): key ID = first 4 bytes of SHA-256(DER SPKI public
 * key), signature = ASN.1 DER ECDSA over SHA-256(note text). Ed25519 (0x01) would need a
 * second key that the attestation report does not bind.
 */

export const SIGNATURE_TYPE_ECDSA = 0x02
const EM_DASH = '\u2014'

export interface Checkpoint {
  origin: string
  size: number
  root: Buffer
}

/** The note text of a checkpoint (ends in a newline, as signed-note requires). */
export function checkpointBody(c: Checkpoint): string {
  return `${c.origin}\n${c.size}\n${c.root.toString('base64')}\n`
}

function spkiOf(key: KeyObject): Buffer {
  return (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'der', type: 'spki' })
}

/** 0x02 key ID: SHA-256(DER SPKI)[:4]. */
export function keyId(publicKey: KeyObject): Buffer {
  return hash('sha256', spkiOf(publicKey), 'buffer').subarray(0, 4)
}

/** The verifier key text (`name+hex(key ID)+base64(0x02 ‖ SPKI)`) witnesses and the CLI take. */
export function verifierKey(name: string, publicKey: KeyObject): string {
  return `${name}+${keyId(publicKey).toString('hex')}+${Buffer.concat([Buffer.from([SIGNATURE_TYPE_ECDSA]), spkiOf(publicKey)]).toString('base64')}`
}

/** Signs a checkpoint as a note with one signature line under `keyName` (conventionally the origin). */
export function signCheckpoint(c: Checkpoint, keyName: string, privateKey: KeyObject): string {
  const body = checkpointBody(c)
  const signature = sign('sha256', Buffer.from(body, 'utf8'), { key: privateKey, dsaEncoding: 'der' })
  return `${body}\n${EM_DASH} ${keyName} ${Buffer.concat([keyId(privateKey), signature]).toString('base64')}\n`
}

export interface Verifier {
  name: string
  keyId: Buffer
  publicKey: KeyObject
}

/** A verifier from a verifier key text (see verifierKey). */
export function parseVerifierKey(text: string): Verifier {
  // name+keyid+key: the base64 key may itself hold '+', so split at the first two only.
  const t = text.trim()
  const first = t.indexOf('+')
  const second = t.indexOf('+', first + 1)
  const parts = first < 0 || second < 0 ? [] : [t.slice(0, first), t.slice(first + 1, second), t.slice(second + 1)]
  if (parts.length !== 3) throw new CheckpointError('a verifier key has the form name+keyid+base64key')
  const bytes = Buffer.from(parts[2]!, 'base64')
  if (bytes[0] !== SIGNATURE_TYPE_ECDSA) throw new CheckpointError('only ECDSA (signature type 0x02) verifier keys are supported')
  const publicKey = createPublicKey({ key: bytes.subarray(1), format: 'der', type: 'spki' })
  const id = keyId(publicKey)
  if (id.toString('hex') !== parts[1]!.toLowerCase()) throw new CheckpointError('the verifier key id does not match its public key')
  return { name: parts[0]!, keyId: id, publicKey }
}

/** A verifier for a P-256 public JWK (from /.well-known/jwks.json) under `name`. */
export function verifierFromJwk(name: string, jwk: JsonWebKey): Verifier {
  const publicKey = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } as JsonWebKey, format: 'jwk' })
  return { name, keyId: keyId(publicKey), publicKey }
}

export class CheckpointError extends Error {
  override name = 'CheckpointError'
}

export interface SignedCheckpoint extends Checkpoint {
  note: string
  /** Extension lines after the root (none from us; kept, unsigned-meaning, from others). */
  extensions: string[]
}

/** Parses a checkpoint note without checking any signature (see openCheckpoint). */
export function parseCheckpointNote(note: string): { checkpoint: SignedCheckpoint; signatures: { name: string; keyId: Buffer; signature: Buffer }[]; body: string } {
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) throw new CheckpointError('a note must not contain control characters other than newline')
  const split = note.lastIndexOf('\n\n')
  if (split < 0 || !note.endsWith('\n')) throw new CheckpointError('not a signed note (no blank line before the signatures)')
  const body = note.slice(0, split + 1)
  const signatures = note
    .slice(split + 2, -1)
    .split('\n')
    .map((line) => {
      const m = new RegExp(`^${EM_DASH} (\\S+) ([A-Za-z0-9+/=]+)$`).exec(line)
      if (m === null) throw new CheckpointError('malformed signature line')
      const bytes = Buffer.from(m[2]!, 'base64')
      if (bytes.length < 5) throw new CheckpointError('signature too short')
      return { name: m[1]!, keyId: bytes.subarray(0, 4), signature: bytes.subarray(4) }
    })
  const lines = body.slice(0, -1).split('\n')
  const [origin, sizeText, rootText, ...extensions] = lines
  if (origin === undefined || origin === '' || sizeText === undefined || rootText === undefined) throw new CheckpointError('a checkpoint has origin, size and root lines')
  if (!/^(0|[1-9]\d{0,15})$/.test(sizeText)) throw new CheckpointError('tree size is not a decimal number')
  const root = Buffer.from(rootText, 'base64')
  if (root.length !== 32 || root.toString('base64') !== rootText) throw new CheckpointError('root is not a base64 SHA-256 hash')
  return { checkpoint: { origin, size: Number(sizeText), root, note, extensions }, signatures, body }
}

/**
 * Verifies a checkpoint note against a trusted key, as signed-note prescribes: signatures
 * from unknown keys are ignored, one from the known key (name and key ID) must verify.
 */
export function openCheckpoint(note: string, verifier: Verifier): SignedCheckpoint {
  const { checkpoint, signatures, body } = parseCheckpointNote(note)
  const mine = signatures.filter((s) => s.name === verifier.name && s.keyId.equals(verifier.keyId))
  if (mine.length === 0) throw new CheckpointError(`no signature by ${verifier.name} (key ${verifier.keyId.toString('hex')})`)
  for (const s of mine)
    if (!verify('sha256', Buffer.from(body, 'utf8'), { key: verifier.publicKey, dsaEncoding: 'der' }, s.signature))
      throw new CheckpointError('the checkpoint signature does not verify')
  return checkpoint
}
