import SwaggerParser from '@apidevtools/swagger-parser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestGateway, type TestGateway } from '../test/gateway.js'

describe('/openapi.json is a valid OpenAPI 3.1 document', () => {
  let gw: TestGateway
  beforeAll(async () => {
    gw = await startTestGateway({ LOG_LEVEL: 'warn' })
  })
  afterAll(() => gw?.stop())

  it('passes @apidevtools/swagger-parser validation, with recursive schemas under components/schemas', async () => {
    const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as Record<string, unknown>
    expect(JSON.stringify(doc)).not.toContain('#/$defs/')
    // validate() dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined()
    const settings = (doc.paths as Record<string, Record<string, { requestBody?: unknown }>>)['/wallet/settings']?.put
    expect(JSON.stringify(settings?.requestBody)).toContain('#/components/schemas/')
  })
})
