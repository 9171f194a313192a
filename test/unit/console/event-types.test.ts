import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EVENT_TYPES as CONSOLE_EVENT_TYPES } from '../../../console/src/types.ts';
import { EVENT_TYPES } from '../../../src/events/types.ts';

// The console keeps its own copy (it is built for the browser, without the server's modules):
// an event type missing from it could not be chosen in the events page's filter.
test("the console's event type filter offers every type the server emits, in the server's order", () => {
  assert.deepEqual([...CONSOLE_EVENT_TYPES], [...EVENT_TYPES]);
});
