import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TimeWindow, TimeWindowError } from '../../../src/util/time-window.ts';

// 2026-12-07 is a Monday.
const at = (iso: string): number => Date.parse(iso);

describe('TimeWindow', () => {
  it('office hours on weekdays, in UTC by default', () => {
    const w = new TimeWindow({ days: 'mon-fri', hours: '08:00-18:00' });
    assert.equal(w.contains(at('2026-12-07T08:00:00Z')), true);
    assert.equal(w.contains(at('2026-12-07T17:59:00Z')), true);
    assert.equal(w.contains(at('2026-12-07T18:00:00Z')), false);
    assert.equal(w.contains(at('2026-12-07T07:59:00Z')), false);
    assert.equal(w.contains(at('2026-12-12T10:00:00Z')), false, 'Saturday');
  });

  it('reads the hour in the given time zone', () => {
    const w = new TimeWindow({ hours: '08:00-18:00', timezone: 'Asia/Tokyo' });
    // 23:30 UTC is 08:30 in Tokyo; 10:00 UTC is 19:00 there.
    assert.equal(w.contains(at('2026-12-07T23:30:00Z')), true);
    assert.equal(w.contains(at('2026-12-07T10:00:00Z')), false);
  });

  it('wraps past midnight, the early hours counting for the day the window opened', () => {
    const w = new TimeWindow({ days: 'fri', hours: '22:00-06:00' });
    assert.equal(w.contains(at('2026-12-11T23:00:00Z')), true, 'Friday night');
    assert.equal(w.contains(at('2026-12-12T05:00:00Z')), true, 'Saturday early, opened Friday');
    assert.equal(w.contains(at('2026-12-12T23:00:00Z')), false, 'Saturday night');
    assert.equal(w.contains(at('2026-12-11T05:00:00Z')), false, 'Friday early, opened Thursday');
  });

  it('lists and ranges of days, across the end of the week', () => {
    const w = new TimeWindow({ days: 'sat-mon' });
    assert.equal(w.contains(at('2026-12-06T12:00:00Z')), true, 'Sunday');
    assert.equal(w.contains(at('2026-12-07T12:00:00Z')), true, 'Monday');
    assert.equal(w.contains(at('2026-12-08T12:00:00Z')), false, 'Tuesday');
  });

  it('refuses what it cannot read, saying what', () => {
    assert.throws(() => new TimeWindow({ days: 'funday' }), TimeWindowError);
    assert.throws(() => new TimeWindow({ hours: '25:00-26:00' }), /not a time of day/);
    assert.throws(() => new TimeWindow({ hours: '08:00' }), /range of hours/);
    assert.throws(() => new TimeWindow({ timezone: 'Mars/Olympus' }), /unknown time zone/);
  });
});
