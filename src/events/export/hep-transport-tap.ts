/**
 * The transport as the proxy sees it, with every message it sends also handed to the HEP
 * capture (hep-capture.ts): the sending side of signalling capture. Messages received are
 * handed over where the gateway receives them. The local address of a message sent is the
 * listener of its transport (a wildcard listener shows as 0.0.0.0 or ::).
 */
import type { SendTarget, TransportLayer } from '../../transport/types.ts';
import type { CapturedMessage } from './hep-capture.ts';

export interface MessageCapture {
  message(message: CapturedMessage): void;
}

export function tapTransport(transport: TransportLayer, capture: MessageCapture): TransportLayer {
  const captureSent = (target: SendTarget, data: Buffer): void => {
    const local = transport.localFor(target.transport);
    capture.message({
      transport: target.transport,
      from: { address: local?.host ?? '0.0.0.0', port: local?.port ?? 0 },
      to: { address: target.address, port: target.port },
      remoteAddress: target.address,
      data,
    });
  };
  return {
    onMessage: (handler) => transport.onMessage(handler),
    send(target, data) {
      captureSent(target, data);
      return transport.send(target, data);
    },
    sendNow(target, data) {
      captureSent(target, data);
      transport.sendNow(target, data);
    },
    listening: () => transport.listening(),
    localFor: (name) => transport.localFor(name),
    stats: () => transport.stats(),
    ...(transport.receiveQueueAgeMs === undefined
      ? {}
      : { receiveQueueAgeMs: () => transport.receiveQueueAgeMs?.() ?? 0 }),
    close: () => transport.close(),
  };
}
