/**
 * The ports canvas nodes call; connectors/github and connectors/browser implement them
 * (connectors sit above the domains, so they import these types).
 */

export interface GitHubRef {
  token: string
  owner: string
  repo: string
}

/** Every write is idempotent by `key` (recorded by the node before it writes): the adapter first
 *  looks up what a previous attempt with the same key created, and returns it with created:false. */
export interface GitHubPort {
  getRepo(p: GitHubRef): Promise<{ fullName: string; defaultBranch: string; headSha: string }>
  /** Creates `branch` from `fromBranch` (default: the repo's default branch) unless it exists. */
  createBranch(p: GitHubRef & { branch: string; fromBranch?: string; key: string }): Promise<{ branch: string; sha: string; created: boolean }>
  /** One commit with all files on `branch` (Git Data API: blobs, tree, commit, ref update).
   *  Idempotency: the commit message carries a trailer `Canvas-Key: <key>`; a commit on the branch
   *  with that trailer means done. */
  commitFiles(p: GitHubRef & { branch: string; message: string; files: { path: string; content: string }[]; key: string }): Promise<{ sha: string; created: boolean; url?: string }>
  /** Draft PR head→base; an open PR with the same head and base (or a body marker `<!-- canvas-key: <key> -->`) means done. */
  openDraftPr(p: GitHubRef & { head: string; base: string; title: string; body: string; key: string }): Promise<{ number: number; url: string; created: boolean }>
  /** Issue; an issue whose body holds `<!-- canvas-key: <key> -->` means done. */
  createIssue(p: GitHubRef & { title: string; body: string; labels: string[]; assignees: string[]; key: string }): Promise<{ number: number; url: string; created: boolean }>
  markPrReady(p: GitHubRef & { prNumber: number }): Promise<{ number: number; draft: boolean }>
}

export type BrowserStep =
  | { action: 'goto'; url: string }
  | { action: 'click'; selector: string }
  | { action: 'fill'; selector: string; value: string }
  | { action: 'waitFor'; selector: string; state?: 'visible' | 'hidden' | 'attached' }

export type BrowserAssertion =
  | { type: 'textVisible'; text: string }
  | { type: 'selectorCount'; selector: string; count: number }
  | { type: 'url'; equals?: string; contains?: string }
  | { type: 'httpStatus'; status: number }

export interface BrowserVerifyResult {
  passed: boolean
  assertions: { assertion: BrowserAssertion; passed: boolean; detail: string }[]
  finalUrl: string
  /** HTTP status of the last main-frame navigation. */
  status: number | null
  /** PNG bytes of the page at the end. */
  screenshot: Uint8Array
}

export interface BrowserPort {
  /** Refuses (throws an error with code `browser_host_forbidden`) any navigation or subresource to a
   *  host not on the allow-list, or whose resolved address is forbidden (loopback, private, link-local,
   *  metadata …) unless that address is itself explicitly allowed. */
  verify(p: { steps: BrowserStep[]; assertions: BrowserAssertion[]; timeoutMs: number; signal?: AbortSignal }): Promise<BrowserVerifyResult>
}
