/**
 * Exact non-negative rationals on bigint, for money. Every price is a decimal, so every
 * intermediate value has a power-of-ten denominator and prints as an exact decimal.
 */
export interface Rational {
  n: bigint
  d: bigint
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a
  let y = b < 0n ? -b : b
  while (y !== 0n) [x, y] = [y, x % y]
  return x
}

/** n/d reduced, denominator positive. */
export function rational(n: bigint, d: bigint = 1n): Rational {
  if (d === 0n) throw new RangeError('zero denominator')
  if (d < 0n) [n, d] = [-n, -d]
  const g = gcd(n, d)
  return g > 1n ? { n: n / g, d: d / g } : { n, d }
}

const DECIMAL = /^(\d+)(?:\.(\d+))?$/

/** Parses an exact decimal string such as "3.75" (no exponent, no sign). */
export function parseDecimal(text: string): Rational {
  const m = DECIMAL.exec(text)
  if (m === null) throw new RangeError(`not a decimal: ${text}`)
  const frac = m[2] ?? ''
  return rational(BigInt(m[1]! + frac), 10n ** BigInt(frac.length))
}

export const add = (a: Rational, b: Rational): Rational => rational(a.n * b.d + b.n * a.d, a.d * b.d)
export const mul = (a: Rational, b: Rational): Rational => rational(a.n * b.n, a.d * b.d)
export const fromBigint = (v: bigint): Rational => ({ n: v, d: 1n })

/** Smallest integer ≥ r (charges are rounded up, once). */
export function ceil(r: Rational): bigint {
  const q = r.n / r.d
  return r.n % r.d === 0n || r.n < 0n ? q : q + 1n
}

/**
 * Exact text: a decimal ("1234.5") when the denominator is 2^a·5^b, else "n/d".
 * parseRational inverts it.
 */
export function formatRational(r: Rational): string {
  let d = r.d
  let twos = 0
  let fives = 0
  while (d % 2n === 0n) (d /= 2n), twos++
  while (d % 5n === 0n) (d /= 5n), fives++
  if (d !== 1n) return `${r.n}/${r.d}`
  const digits = Math.max(twos, fives)
  const scaled = (r.n * 10n ** BigInt(digits)) / r.d
  const neg = scaled < 0n
  const abs = (neg ? -scaled : scaled).toString().padStart(digits + 1, '0')
  const int = abs.slice(0, abs.length - digits)
  const frac = abs.slice(abs.length - digits)
  return `${neg ? '-' : ''}${int}${digits > 0 ? `.${frac}` : ''}`
}

/** Parses "n/d" or a decimal string. */
export function parseRational(text: string): Rational {
  const slash = text.indexOf('/')
  if (slash < 0) return parseDecimal(text)
  return rational(BigInt(text.slice(0, slash)), BigInt(text.slice(slash + 1)))
}

export const equals = (a: Rational, b: Rational): boolean => a.n * b.d === b.n * a.d
