import type { AggregateDefinition } from '../runtime/types.js'
import type { CanvasCommand } from './commands.js'
import { decide } from './decide.js'
import type { CanvasEvent } from './events.js'
import { canvasMachine } from './machine.js'

/** The canvas-run aggregate: one actor per run id, stream `canvas-<runId>`. */
export const canvasDefinition: AggregateDefinition<typeof canvasMachine, CanvasCommand, CanvasEvent> = {
  category: 'canvas',
  machine: canvasMachine,
  version: 1,
  decide,
}
