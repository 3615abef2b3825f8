/**
 * The gateway as a bench contender: `startGateway` on the environment's configuration in a
 * process of its own (forked with an IPC channel), so it has a core to itself as Portkey and
 * the stand-in do, and its CPU is not mixed with the bench client's.
 *
 * Prints `listening <url>` once serving. Over IPC it answers `{ profile: 'start' }` (starts
 * the main thread's CPU profiler and a CPU-time meter of the whole process) and
 * `{ profile: 'stop' }` (replies `{ profile, cpuUs }`); on disconnect it shuts down.
 */
import { Session } from 'node:inspector/promises'
import { loadConfig } from '../config.js'
import { startGateway } from '../gateway.js'
import { createLogger } from '../transport/logger.js'

const config = loadConfig(process.env)
const gateway = await startGateway(config, { logger: createLogger(config.LOG_LEVEL) })
const inspector = new Session()
inspector.connect()
let cpuAtStart: NodeJS.CpuUsage | undefined

process.on('message', (message: { profile?: 'start' | 'stop' }) => {
  void (async () => {
    if (message.profile === 'start') {
      await inspector.post('Profiler.enable')
      await inspector.post('Profiler.setSamplingInterval', { interval: 100 })
      await inspector.post('Profiler.start')
      cpuAtStart = process.cpuUsage()
      process.send?.({ profile: 'started' })
    } else if (message.profile === 'stop') {
      const used = process.cpuUsage(cpuAtStart)
      const { profile } = await inspector.post('Profiler.stop')
      process.send?.({ profile, cpuUs: used.user + used.system })
    }
  })()
})
process.once('disconnect', () => {
  void gateway.close().then(() => process.exit(0))
})
console.log(`listening ${gateway.url}`)
