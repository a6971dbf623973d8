// Close codes and reasons the server sets itself (ws sends 1009 for an oversized frame and 1007 for
// invalid UTF-8). Resumable streams' codes are in resume-frames.ts.
export const CLOSE_GOING_AWAY = 1001;
export const SHUTTING_DOWN_REASON = 'Server shutting down';
export const CLOSE_POLICY_VIOLATION = 1008;
/** 1008: the client stopped reading its replies (CLIENT_STALL_TIMEOUT_MS). */
export const STALLED_REASON = 'Client not reading';
/** 1008 in JWT mode: the stream is held by a connection of another `sub`. */
export const STREAM_HELD_REASON = 'Stream held by another subject';
/** 1013 (CLOSE_TRY_AGAIN_LATER): the stream's state cannot be read now. */
export const TRY_AGAIN_LATER_REASON = 'Try Again Later';
/** JWT mode: the connection's token expired (exp + AUTH_CLOCK_TOLERANCE_S) and was not refreshed. */
export const CLOSE_TOKEN_EXPIRED = 4003;
export const TOKEN_EXPIRED_REASON = 'Token expired';

/** 1008 on the monitor socket: monitors only listen, so what they may send is small and rare. */
export const MONITOR_INBOUND_MAX_BYTES = 4 * 1024;
export const MONITOR_INBOUND_FRAMES_PER_SECOND = 10;
export const MONITOR_FRAME_TOO_LARGE_REASON = `Monitor frames are limited to ${MONITOR_INBOUND_MAX_BYTES} bytes`;
export const MONITOR_TOO_MANY_FRAMES_REASON = `Monitors may send at most ${MONITOR_INBOUND_FRAMES_PER_SECOND} frames per second`;
