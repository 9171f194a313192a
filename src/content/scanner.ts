/**
 * What scans content for malware, as the MESSAGE stage and the MSRP relay see it. The
 * implementation is the clamd client (clamd-scanner.ts); tests and embedders may give another.
 */

export type ScanResult =
  /** Nothing found. */
  | { readonly verdict: 'clean' }
  /** A signature matched. `signature` is for the event and the log, never for the sender. */
  | { readonly verdict: 'infected'; readonly signature: string }
  /** The scan could not be done (scanner down, slow, refused the size): the caller applies its failure mode. */
  | { readonly verdict: 'error'; readonly reason: string };

export interface ContentScanner {
  /**
   * Scans one piece of content, given whole or as chunks in order (large content is
   * streamed to the scanner, not collected first). Never rejects: a failure is a result.
   */
  scan(content: Buffer | AsyncIterable<Buffer>, signal?: AbortSignal): Promise<ScanResult>;
  /** Ends pooled connections (on shutdown). */
  close(): Promise<void>;
}
