package rights

import "time"

// Statutory periods.
const (
	gdprMonths         = 1  // GDPR Art. 12(3): "within one month of receipt"
	gdprExtendMonths   = 2  // "extended by two further months"
	ccpaDays           = 45 // CCPA §1798.130(a)(2): 45 calendar days
	ccpaExtendDays     = 45 // "extended once by an additional 45 days"
	ccpaAckBusinessDay = 10 // 11 CCR §7021(a): confirm receipt within 10 business days
)

// Due is the statutory deadline for a request received at received,
// computed in loc, the controller's time zone (nil means UTC).
//
// GDPR Art. 12(3), counted as Regulation 1182/71 Art. 3(2)(c) counts months:
// the same day of the month one calendar month later, or the last day of that
// month when it has no such day (31 January → 28 February, or 29 February in
// a leap year). CCPA §1798.130: received + 45 calendar days.
//
// The deadline is the end of that day in loc (its last instant, normally
// 23:59:59.999999999 local time), returned in UTC. It is the zero time for
// an unknown regime.
func Due(r Regime, received time.Time, loc *time.Location) time.Time {
	loc = orUTC(loc)
	y, m, d := received.In(loc).Date()
	switch r {
	case GDPR:
		y, m, d = addMonths(y, m, d, gdprMonths)
	case CCPA:
		y, m, d = time.Date(y, m, d+ccpaDays, 12, 0, 0, 0, time.UTC).Date()
	default:
		return time.Time{}
	}
	return endOfDay(y, m, d, loc)
}

// Extended is the deadline after the one extension the law allows. GDPR: two
// further calendar months from the original due day, clamped to the month's
// last day the same way (so 31 January → 28 February → 28 April: never later
// than three months after receipt). CCPA: 45 further days (received + 90).
// End of that day in loc, in UTC; the zero time for an unknown regime.
func Extended(r Regime, received time.Time, loc *time.Location) time.Time {
	loc = orUTC(loc)
	y, m, d := received.In(loc).Date()
	switch r {
	case GDPR:
		y, m, d = addMonths(y, m, d, gdprMonths)
		y, m, d = addMonths(y, m, d, gdprExtendMonths)
	case CCPA:
		y, m, d = time.Date(y, m, d+ccpaDays+ccpaExtendDays, 12, 0, 0, 0, time.UTC).Date()
	default:
		return time.Time{}
	}
	return endOfDay(y, m, d, loc)
}

// AckDue is when a CCPA request must have been acknowledged (11 CCR §7021):
// the end of the 10th business day after the day of receipt, in loc, in UTC.
// Business days are Monday to Friday; public holidays are not known here
// and count as business days, which only ever makes the deadline earlier.
// GDPR has no separate acknowledgement clock: AckDue returns the zero time,
// as it does for an unknown regime.
func AckDue(r Regime, received time.Time, loc *time.Location) time.Time {
	if r != CCPA {
		return time.Time{}
	}
	loc = orUTC(loc)
	y, m, d := received.In(loc).Date()
	// Walk civil days in UTC, where every day has 24 hours.
	day := time.Date(y, m, d, 12, 0, 0, 0, time.UTC)
	for n := 0; n < ccpaAckBusinessDay; {
		day = day.AddDate(0, 0, 1)
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	y, m, d = day.Date()
	return endOfDay(y, m, d, loc)
}

// Overdue reports whether a request in status s whose deadline is due is
// overdue at now. Final requests (completed, denied) are never overdue, nor
// is a request without a deadline (due is zero).
func Overdue(s Status, due, now time.Time) bool {
	switch s {
	case Unverified, Open, InProgress:
		return !due.IsZero() && now.After(due)
	}
	return false
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

// addMonths adds n calendar months to a civil date, clamping the day to the
// last day of the target month.
func addMonths(y int, m time.Month, d, n int) (int, time.Month, int) {
	first := time.Date(y, m+time.Month(n), 1, 12, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return first.Year(), first.Month(), min(d, last)
}

// endOfDay is the last instant of the civil day y-m-d in loc, in UTC: one
// nanosecond before the next day starts. It is computed with time.Date in
// loc, never by adding 24 hours, so days of 23 or 25 hours (DST) end when
// their clocks say.
func endOfDay(y int, m time.Month, d int, loc *time.Location) time.Time {
	return startOfDay(y, m, d+1, loc).Add(-time.Nanosecond).UTC()
}

// startOfDay is the first instant of the civil day y-m-d in loc. Midnight
// is usually that instant; where a DST change skips midnight (clocks jump
// from 00:00 to 01:00) time.Date may normalize it into the previous day,
// and the day then starts when that zone period ends.
func startOfDay(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // normalized civil date
	ty, tm, td := t.Date()
	if time.Date(ty, tm, td, 0, 0, 0, 0, time.UTC).Before(want) {
		if _, end := t.ZoneBounds(); !end.IsZero() {
			return end
		}
	}
	return t
}
