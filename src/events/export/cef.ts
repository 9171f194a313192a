/**
 * ArcSight Common Event Format (CEF:0), the line most SIEMs parse without a plug-in:
 * `CEF:Version|Vendor|Product|Version|Signature ID|Name|Severity|Extension`. Header fields
 * escape `\` and `|`; extension values escape `\`, `=` and line breaks, so that no text an
 * attacker influenced (a key, a reason) can forge a field.
 */
import type { EventAction, SecurityEvent } from '../types.ts';

/** CEF severity (0-10): what refused traffic ranks above what only alerted. */
const SEVERITY: Readonly<Record<EventAction, number>> = {
  block: 8,
  reject: 6,
  drop: 6,
  tarpit: 6,
  alert: 4,
  unblock: 2,
};

export function cefSeverity(action: EventAction): number {
  return SEVERITY[action];
}

function header(text: string): string {
  return text.replace(/[\\|]/g, (c) => `\\${c}`).replace(/[\r\n]+/g, ' ');
}

function value(text: string): string {
  return text
    .replace(/[\\=]/g, (c) => `\\${c}`)
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n');
}

export function formatCef(event: SecurityEvent, version: string): string {
  const signature = `${event.type}:${event.rule ?? event.stage}`;
  const name = `${event.type} ${event.action}${event.rule === undefined ? '' : ` (${event.rule})`}`;
  const fields: [string, string | number][] = [
    ['act', event.action],
    ['cnt', event.count],
    ['start', event.firstSeen],
    ['end', event.lastSeen],
  ];
  if (event.source !== undefined) {
    fields.push(
      ['src', event.source.address],
      ['spt', event.source.port],
      ['proto', event.source.transport.toUpperCase()],
    );
  }
  fields.push(['cs1Label', 'stage'], ['cs1', event.stage]);
  if (event.rule !== undefined) fields.push(['cs2Label', 'rule'], ['cs2', event.rule]);
  if (event.key !== undefined) fields.push(['cs3Label', 'key'], ['cs3', event.key]);
  if (event.status !== undefined) fields.push(['cn1Label', 'sipStatus'], ['cn1', event.status]);
  if (event.aggregateId !== undefined) fields.push(['externalId', event.aggregateId]);
  if (event.final === true) fields.push(['cs4Label', 'final'], ['cs4', 'true']);
  fields.push(['msg', event.reason]);
  const extension = fields.map(([k, v]) => `${k}=${value(String(v))}`).join(' ');
  return [
    'CEF:0',
    'sipwarden',
    'sipwarden',
    header(version),
    header(signature),
    header(name),
    String(cefSeverity(event.action)),
    extension,
  ].join('|');
}
