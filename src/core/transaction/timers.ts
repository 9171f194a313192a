/** RFC 3261 section 17.1.1.1 and table 4: the base timer values, in milliseconds. */
export interface TimerSettings {
  /** RTT estimate. */
  readonly T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses. */
  readonly T2: number;
  /** Maximum time a message remains in the network. */
  readonly T4: number;
  /** RFC 3261 section 16.6 item 11: proxy INVITE transaction timeout, greater than 3 minutes. */
  readonly timerC: number;
  /**
   * RFC 3261 section 17.2.1: an INVITE gets 100 (Trying) unless a provisional or final response
   * goes back within 200 ms. sipwarden answers it after this long when nothing else went back
   * first (0: at once). Default 100 ms.
   */
  readonly trying?: number;
}

export const RFC3261_TIMERS: TimerSettings = Object.freeze({ T1: 500, T2: 4000, T4: 5000, timerC: 181_000 });

/** Timers B, F, H, J, L and M are all 64*T1 (RFC 3261 section 17, RFC 6026 section 8.4). */
export const DEFAULT_TRYING_DELAY_MS = 100;

export const sixtyFourT1 = (t: TimerSettings): number => 64 * t.T1;
