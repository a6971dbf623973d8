// Close codes the server sets itself (ws sends 1009 for an oversized frame and 1007 for invalid UTF-8).
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_POLICY_VIOLATION = 1008;
/** JWT mode: the connection's token expired (exp + AUTH_CLOCK_TOLERANCE_S) and was not refreshed. */
export const CLOSE_TOKEN_EXPIRED = 4003;
export const TOKEN_EXPIRED_REASON = 'Token expired';
