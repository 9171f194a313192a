/**
 * The MSRP relay's security events (type `content`, stage `msrp`): content refused as
 * infected (rule `infected`, action reject, the signature in the details for the operator),
 * and content the scanner could not scan (rule `scan-failed`: reject when the failure mode
 * is closed, alert when the content went on).
 */
import type { EventEmitter } from '../events/types.ts';
import type { MsrpRelayObserver, MsrpSender } from './relay.ts';

const source = (sender: MsrpSender) => ({ address: sender.address, port: sender.port, transport: 'tcp' });

export function msrpEvents(events: EventEmitter): MsrpRelayObserver {
  return {
    refused: (sender, detail) =>
      events.emit(
        {
          type: 'content',
          stage: 'msrp',
          rule: 'infected',
          action: 'reject',
          source: source(sender),
          key: `src:${sender.address}`,
          reason: 'MSRP content refused: malware found',
          status: 403,
          details: { signature: detail.signature.slice(0, 200), bytes: detail.bytes, party: sender.from },
        },
        Date.now(),
      ),
    scanFailed: (sender, detail) =>
      events.emit(
        {
          type: 'content',
          stage: 'msrp',
          rule: 'scan-failed',
          action: detail.forwarded ? 'alert' : 'reject',
          source: source(sender),
          key: `src:${sender.address}`,
          reason: detail.forwarded
            ? 'MSRP content forwarded unscanned: the scanner failed'
            : 'MSRP content refused unscanned: the scanner failed',
          ...(detail.forwarded ? {} : { status: 403 }),
          details: { error: detail.reason.slice(0, 200), party: sender.from },
        },
        Date.now(),
      ),
  };
}
