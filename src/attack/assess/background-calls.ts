/**
 * Legitimate calls placed while an attack runs, from an address of their own: the share
 * that succeeds is what the defences cost (or saved) real users during the attack.
 */
import { Random } from '../random.ts';
import type { Endpoint } from '../target.ts';
import { makeCall, Phone } from '../ua/caller.ts';
import { SipEndpoint } from '../ua/endpoint.ts';

export interface CallCount {
  readonly attempted: number;
  readonly succeeded: number;
}

export interface BackgroundCallsOptions {
  readonly target: Endpoint;
  readonly source: string;
  /** Whom to call. */
  readonly user: string;
  /** Time between call starts; default 500 ms. */
  readonly intervalMs?: number;
  readonly holdMs?: number;
  /** Calls open at once at most; default 8. */
  readonly concurrency?: number;
}

export class BackgroundCalls {
  readonly #phone: Phone;
  readonly #endpoint: SipEndpoint;
  readonly #options: BackgroundCallsOptions;
  #timer: NodeJS.Timeout | undefined;
  #open = 0;
  #attempted = 0;
  #succeeded = 0;
  readonly #jobs = new Set<Promise<void>>();

  private constructor(endpoint: SipEndpoint, options: BackgroundCallsOptions) {
    this.#endpoint = endpoint;
    this.#options = options;
    this.#phone = new Phone(endpoint, options.target, new Random());
  }

  static async open(options: BackgroundCallsOptions): Promise<BackgroundCalls> {
    return new BackgroundCalls(await SipEndpoint.bind(options.source), options);
  }

  /** Starts placing calls; counts restart from zero. */
  start(): void {
    this.#attempted = 0;
    this.#succeeded = 0;
    const tick = () => {
      if (this.#open < (this.#options.concurrency ?? 8)) this.#place();
      this.#timer = setTimeout(tick, this.#options.intervalMs ?? 500);
    };
    tick();
  }

  #place(): void {
    this.#open++;
    this.#attempted++;
    const call = this.#phone.newCall({
      user: this.#options.user,
      fromUser: 'legit',
      userAgent: 'Yealink SIP-T46S 66.86.0.15',
    });
    const job = makeCall(call, this.#options.holdMs ?? 200, 6000)
      .then((outcome) => {
        if (outcome.ok) this.#succeeded++;
      })
      .finally(() => {
        this.#open--;
        this.#phone.forget(call);
        this.#jobs.delete(job);
      });
    this.#jobs.add(job);
  }

  /** Stops placing calls, waits for those open, and returns the counts since start(). */
  async stop(): Promise<CallCount> {
    clearTimeout(this.#timer);
    await Promise.all([...this.#jobs]);
    return { attempted: this.#attempted, succeeded: this.#succeeded };
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#endpoint.close();
  }
}
