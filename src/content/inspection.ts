/**
 * What the `content` stage is given when `content.enabled` is on: the scanner (shared with
 * the MSRP relay), the settings and, when kept, the quarantine. Built by the gateway.
 */
import type { ContentSettings } from './config.ts';
import type { Quarantine } from './quarantine.ts';
import type { ContentScanner } from './scanner.ts';

export interface ContentInspection {
  readonly scanner: ContentScanner;
  readonly settings: ContentSettings;
  readonly quarantine?: Quarantine;
}
