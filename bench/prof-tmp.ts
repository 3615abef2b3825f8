import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { privateKeyToAccount } from 'viem/accounts'
import { loadConfig } from '../config.js'
import { startGateway } from '../gateway.js'
import { createLogger } from '../transport/logger.js'
import { signIn } from '../test/gateway.js'
const dir = mkdtempSync(join(tmpdir(), 'agw-prof-'))
const gateway = await startGateway(loadConfig({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: dir, LOG_LEVEL: 'warn', WORKER_THREADS: '1' }), { logger: createLogger('warn') })
const token = await signIn(gateway.url, privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'))
const path = process.env.P ?? '/health'
const { spawn } = await import('node:child_process')
await new Promise<void>((r) => { const c = spawn('wrk', ['-t1','-c50','-d3s','-H',`authorization: Bearer ${token}`, gateway.url + path], { stdio: 'inherit' }); c.on('exit', () => r()) })
await gateway.close()
process.exit(0)
