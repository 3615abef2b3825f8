/** HTTP statuses of the canvas codes, declared beside the domain (transport/http-errors.ts spreads them in). */
export const CANVAS_ERROR_STATUS = {
  invalid_workflow: 400,
  run_not_found: 404,
  approval_not_found: 404,
  artifact_not_found: 404,
  approval_already_resolved: 409,
} as const
