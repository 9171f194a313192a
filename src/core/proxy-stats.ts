/** Counters of the proxy core, one shared record that every layer adds to. */
export interface ProxyStats {
  messagesIn: number;
  requestsForwarded: number;
  responsesForwarded: number;
  retransmissionsAbsorbed: number;
  malformed: number;
  rejected: number;
  strayResponses: number;
  transactions: number;
  dialogs: number;
  dialogRefusals: number;
  /** Messages and new requests shed under overload (by age, budget or table), answered or not. */
  shed: number;
}

export function newProxyStats(): ProxyStats {
  return {
    messagesIn: 0,
    requestsForwarded: 0,
    responsesForwarded: 0,
    retransmissionsAbsorbed: 0,
    malformed: 0,
    rejected: 0,
    strayResponses: 0,
    transactions: 0,
    dialogs: 0,
    dialogRefusals: 0,
    shed: 0,
  };
}
