/**
 * Event (RFC 6665 8.4): Event = ( "Event" / "o" ) HCOLON event-type *( SEMI event-param ),
 * event-type = event-package *( "." event-template ); packages and templates are tokens, and
 * a token may hold ".", so the event type is one token.
 */
import { isToken } from '../chars.ts';

/** True when the value starts with an event type (its parameters are not checked). */
export function isEvent(value: string): boolean {
  const semi = value.indexOf(';');
  return isToken((semi < 0 ? value : value.slice(0, semi)).trim());
}
