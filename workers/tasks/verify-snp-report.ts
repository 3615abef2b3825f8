import { verifySnpReport, type VerifySnpInput, type VerifySnpResult } from '../../attest/verify-snp.js'

/**
 * SEV-SNP report verification (P-384 signature + RSA-4096 PSS chain + DER walks, a few
 * ms of CPU): kept off the event loop. Input and result are structured-clonable.
 */
export default function verifySnpReportTask(input: VerifySnpInput): VerifySnpResult {
  return verifySnpReport(input)
}
