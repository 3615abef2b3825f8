/** HTTP statuses of the self-improvement and skills codes (transport/http-errors.ts spreads them in). */
export const REFLECT_ERROR_STATUS = {
  skill_invalid: 422,
  skill_unsafe: 422,
  skill_not_found: 404,
  run_in_progress: 409,
  claude_md_secret: 422,
  claude_md_not_found: 404,
} as const
