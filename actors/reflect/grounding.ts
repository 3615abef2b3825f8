/** One learning as the model proposes it, with the transcript excerpt it rests on. */
export interface Learning {
  /** Short kebab-case subject; learnings with the same topic are merged across sessions. */
  topic: string
  text: string
  /** Verbatim quote from the transcript. */
  excerpt: string
  tools: string[]
  paths: string[]
  commands: string[]
}

export interface DroppedLearning {
  topic: string
  reason: string
}

export interface GroundingResult {
  kept: Learning[]
  dropped: DroppedLearning[]
}

const normalise = (s: string): string => s.replace(/\s+/g, ' ').trim().toLowerCase()

/** Inline code spans in a learning's own text: quoted commands it cites without listing them. */
const CODE_SPAN = /`([^`\n]{2,200})`/g
/** Path-like tokens: rooted (`/etc/hosts`, `~/.ssh/config`, `./x`) or relative with an extension (`src/a.ts`). */
const PATH_TOKEN = /(?:^|[\s("'])((?:~\/|\.{1,2}\/|\/)[\w.-]+(?:\/[\w.-]+)*|(?:[\w-]+\/)+[\w-]+\.[A-Za-z0-9]{1,8})/g

/**
 * Keeps a learning only when everything it cites occurs in its source transcript: the
 * excerpt (whitespace- and case-insensitive), every tool name, file path and quoted command,
 * including paths and code spans written into its text. Everything else is dropped with why.
 */
export function groundLearnings(learnings: readonly Learning[], transcript: string, toolsUsed: readonly string[]): GroundingResult {
  const haystack = normalise(transcript)
  const used = new Set(toolsUsed)
  const kept: Learning[] = []
  const dropped: DroppedLearning[] = []
  for (const l of learnings) {
    const reason = ungrounded(l, haystack, used)
    if (reason === undefined) kept.push(l)
    else dropped.push({ topic: l.topic, reason })
  }
  return { kept, dropped }
}

function ungrounded(l: Learning, haystack: string, used: ReadonlySet<string>): string | undefined {
  const excerpt = normalise(l.excerpt)
  if (excerpt.length < 8) return 'no excerpt from the transcript'
  if (!haystack.includes(excerpt)) return 'excerpt not in the transcript'
  for (const t of l.tools) if (!used.has(t)) return `tool "${t}" not used in the transcript`
  for (const p of [...l.paths, ...tokens(l.text, PATH_TOKEN)]) if (!haystack.includes(normalise(p))) return `path "${p}" not in the transcript`
  for (const c of [...l.commands, ...tokens(l.text, CODE_SPAN)]) if (!haystack.includes(normalise(c))) return `command "${c}" not in the transcript`
  return undefined
}

function tokens(text: string, pattern: RegExp): string[] {
  return [...text.matchAll(pattern)].map((m) => m[1]!).filter((t) => t.length > 0)
}
