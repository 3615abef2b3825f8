/** The signed-in wallet, as a verified session JWT describes it (set by the auth middleware). */
export interface AuthContext {
  /** Checksummed address. */
  address: `0x${string}`
  /** Lower-case address (JWT `sub`). */
  sub: string
  jti: string
  /** Expiry, seconds since epoch. */
  exp: number
  token: string
}
