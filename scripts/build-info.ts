import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { computeBuildInfo, PROJECT_ROOT } from '../attest/build-info.js'

/** Run after tsc: writes dist/build-info.json (version, commit, lockfile and source-tree digests). */
const root = process.argv[2] ?? PROJECT_ROOT
const info = computeBuildInfo(root, { origin: 'dist' })
mkdirSync(join(root, 'dist'), { recursive: true })
writeFileSync(join(root, 'dist', 'build-info.json'), JSON.stringify(info, null, 2) + '\n')
process.stdout.write(`build-info: ${info.version} ${info.gitCommit ?? 'no-git'}${info.gitDirty === true ? ' (dirty)' : ''} ${info.sourceTreeDigest}\n`)
