import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { canonicalJson } from './binding.js'
import type { BuildInfo } from './build-info.js'

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json'
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1'
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1'
export const BUILD_TYPE = 'https://agent-gateway.invalid/build/npm-tsc@v1'

export interface InTotoStatement {
  _type: typeof STATEMENT_TYPE
  subject: { name: string; digest: Record<string, string> }[]
  predicateType: typeof SLSA_PROVENANCE_V1
  predicate: {
    buildDefinition: {
      buildType: string
      externalParameters: Record<string, unknown>
      internalParameters: Record<string, unknown>
      resolvedDependencies: { uri?: string; name?: string; digest: Record<string, string> }[]
    }
    runDetails: {
      builder: { id: string }
      metadata: { invocationId?: string; startedOn?: string }
    }
  }
}

export interface DsseEnvelope {
  payloadType: string
  /** base64 of the statement (RFC 8785 canonical JSON). */
  payload: string
  signatures: { keyid: string; sig: string }[]
}

const stripSha = (d: string | null): string | undefined => (d === null ? undefined : d.replace(/^sha256:/, ''))

/**
 * The SLSA v1 provenance statement for a build. Deterministic in the build's identity
 * (version, commit, lockfile, source tree): builtAt stays out so two runs of the same
 * build attest the same digest.
 */
export function buildProvenanceStatement(info: BuildInfo): InTotoStatement {
  const deps: InTotoStatement['predicate']['buildDefinition']['resolvedDependencies'] = []
  if (info.gitCommit !== null) deps.push({ name: 'git-commit', digest: { gitCommit: info.gitCommit } })
  const lock = stripSha(info.lockfileDigest)
  if (lock !== undefined) deps.push({ name: 'package-lock.json', digest: { sha256: lock } })
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: `${info.name}@${info.version}:source-tree`, digest: { sha256: stripSha(info.sourceTreeDigest)! } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: { package: info.name, version: info.version },
        internalParameters: { gitDirty: info.gitDirty, sourceFiles: info.sourceFiles },
        resolvedDependencies: deps,
      },
      runDetails: { builder: { id: `${BUILD_TYPE}#${info.origin}` }, metadata: {} },
    },
  }
}

/** DSSE pre-authentication encoding: "DSSEv1 <len(type)> <type> <len(body)> <body>". */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8')
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload])
}

/** Canonical bytes of a statement (what the envelope carries and the digest covers). */
export function statementBytes(statement: InTotoStatement): Buffer {
  return Buffer.from(canonicalJson(statement), 'utf8')
}

/** SHA-256 of the DSSE payload: the provenance digest bound into REPORT_DATA[0:32]. */
export function provenanceDigest(payload: Uint8Array): Buffer {
  return createHash('sha256').update(payload).digest()
}

/** Signs a payload into a DSSE envelope with an ES256 key (ASN.1 DER signature, as sigstore). */
export function signDsse(payload: Uint8Array, key: { privateKeyObject: KeyObject; kid: string }, payloadType = IN_TOTO_PAYLOAD_TYPE): DsseEnvelope {
  const sig = sign('sha256', pae(payloadType, payload), key.privateKeyObject)
  return { payloadType, payload: Buffer.from(payload).toString('base64'), signatures: [{ keyid: key.kid, sig: sig.toString('base64') }] }
}

export type DsseVerification =
  | { ok: true; keyid: string; payload: Buffer; statement: InTotoStatement; digest: Buffer }
  | { ok: false; reason: string }

/** The part of a JWKS the DSSE verifier reads. */
export interface JwksLike {
  keys: ReadonlyArray<{ kty?: unknown; crv?: unknown; x?: unknown; y?: unknown; kid?: unknown }>
}

/**
 * Verifies a DSSE envelope against a JWKS (ES256 keys): some signature by a listed key
 * over PAE(payloadType, payload); then that the payload is an in-toto v1 statement with
 * an SLSA v1 predicate. Accepts DER or raw (r‖s) ECDSA signatures.
 */
export function verifyDsse(envelope: DsseEnvelope, jwks: JwksLike): DsseVerification {
  if (typeof envelope?.payload !== 'string' || typeof envelope.payloadType !== 'string' || !Array.isArray(envelope.signatures)) {
    return { ok: false, reason: 'not a DSSE envelope' }
  }
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return { ok: false, reason: `unexpected payloadType ${envelope.payloadType}` }
  const payload = Buffer.from(envelope.payload, 'base64')
  const message = pae(envelope.payloadType, payload)
  let keyid: string | undefined
  for (const s of envelope.signatures) {
    const candidates = jwks.keys.filter((k) => k.kty === 'EC' && k.crv === 'P-256' && (s.keyid === undefined || s.keyid === '' || k.kid === s.keyid))
    const sig = Buffer.from(String(s.sig), 'base64')
    for (const jwk of candidates) {
      if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string') continue
      let ok = false
      try {
        const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, format: 'jwk' })
        ok = sig.length === 64 ? verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, sig) : verify('sha256', message, key, sig)
      } catch {
        ok = false // a malformed key or signature is simply not a valid signature
      }
      if (ok) {
        keyid = typeof jwk.kid === 'string' ? jwk.kid : s.keyid
        break
      }
    }
    if (keyid !== undefined) break
  }
  if (keyid === undefined) return { ok: false, reason: 'no signature verifies with a key of the JWKS' }
  let statement: InTotoStatement
  try {
    statement = JSON.parse(payload.toString('utf8')) as InTotoStatement
  } catch {
    return { ok: false, reason: 'payload is not JSON' }
  }
  if (statement._type !== STATEMENT_TYPE) return { ok: false, reason: 'payload is not an in-toto v1 statement' }
  if (statement.predicateType !== SLSA_PROVENANCE_V1) return { ok: false, reason: 'predicate is not SLSA provenance v1' }
  if (!Array.isArray(statement.subject) || statement.subject.length === 0) return { ok: false, reason: 'statement has no subject' }
  return { ok: true, keyid, payload, statement, digest: provenanceDigest(payload) }
}

export interface Provenance {
  statement: InTotoStatement
  envelope: DsseEnvelope
  /** SHA-256 of the payload, hex. */
  digest: string
}

/** Statement + signed envelope + digest for a build. */
export function createProvenance(info: BuildInfo, key: { privateKeyObject: KeyObject; kid: string }): Provenance {
  const statement = buildProvenanceStatement(info)
  const payload = statementBytes(statement)
  return { statement, envelope: signDsse(payload, key), digest: provenanceDigest(payload).toString('hex') }
}
