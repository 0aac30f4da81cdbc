package rights_test

import (
	"testing"
	"time"
	_ "time/tzdata" // zones load on machines without a zoneinfo database

	"github.com/cofferhq/coffer/internal/rights"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func ts(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type clockCase struct {
	name     string
	regime   rights.Regime
	zone     string
	received string // RFC 3339
	want     string // RFC 3339, UTC
}

func runClock(t *testing.T, f func(rights.Regime, time.Time, *time.Location) time.Time, cases []clockCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := f(c.regime, ts(t, c.received), zone(t, c.zone))
			want := ts(t, c.want)
			if !got.Equal(want) {
				t.Errorf("got %s, want %s", got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
			}
			if got.Location() != time.UTC {
				t.Errorf("location %v, want UTC", got.Location())
			}
		})
	}
}

const eod = "T23:59:59.999999999Z"

func TestDueGDPR(t *testing.T) {
	runClock(t, rights.Due, []clockCase{
		// Month ends: the same day one month later, clamped to the month's last day.
		{"jan31-feb28-2027", rights.GDPR, "UTC", "2027-01-31T10:00:00Z", "2027-02-28" + eod},
		{"jan31-feb29-2028-leap", rights.GDPR, "UTC", "2028-01-31T10:00:00Z", "2028-02-29" + eod},
		{"jan30-feb28-2027", rights.GDPR, "UTC", "2027-01-30T00:00:00Z", "2027-02-28" + eod},
		{"jan29-feb29-2028", rights.GDPR, "UTC", "2028-01-29T00:00:00Z", "2028-02-29" + eod},
		{"mar31-apr30", rights.GDPR, "UTC", "2026-03-31T08:00:00Z", "2026-04-30" + eod},
		{"may31-jun30", rights.GDPR, "UTC", "2026-05-31T08:00:00Z", "2026-06-30" + eod},
		{"aug31-sep30", rights.GDPR, "UTC", "2026-08-31T08:00:00Z", "2026-09-30" + eod},
		{"oct31-nov30", rights.GDPR, "UTC", "2026-10-31T08:00:00Z", "2026-11-30" + eod},
		{"dec15-jan15-next-year", rights.GDPR, "UTC", "2026-12-15T08:00:00Z", "2027-01-15" + eod},
		{"dec31-jan31-next-year", rights.GDPR, "UTC", "2026-12-31T23:59:59Z", "2027-01-31" + eod},
		{"jul31-aug31", rights.GDPR, "UTC", "2026-07-31T00:00:00Z", "2026-08-31" + eod},
		{"mid-month", rights.GDPR, "UTC", "2026-06-10T12:00:00Z", "2026-07-10" + eod},
		// Leap years.
		{"feb29-2028-mar29", rights.GDPR, "UTC", "2028-02-29T12:00:00Z", "2028-03-29" + eod},
		{"feb28-2027-mar28", rights.GDPR, "UTC", "2027-02-28T12:00:00Z", "2027-03-28" + eod},
		{"jan31-2100-not-leap", rights.GDPR, "UTC", "2100-01-31T12:00:00Z", "2100-02-28" + eod},
		{"jan31-2000-leap", rights.GDPR, "UTC", "2000-01-31T12:00:00Z", "2000-02-29" + eod},
		// Time zones: the day of receipt is the controller's local day.
		{"berlin-utc-jan31-is-feb1", rights.GDPR, "Europe/Berlin", "2026-01-31T23:30:00Z", "2026-03-01T22:59:59.999999999Z"},
		{"berlin-same-instant-in-utc", rights.GDPR, "UTC", "2026-01-31T23:30:00Z", "2026-02-28" + eod},
		{"la-utc-mar1-is-feb28", rights.GDPR, "America/Los_Angeles", "2026-03-01T03:00:00Z", "2026-03-29T06:59:59.999999999Z"},
		{"tokyo-ahead", rights.GDPR, "Asia/Tokyo", "2026-04-30T15:00:00Z", "2026-06-01T14:59:59.999999999Z"}, // May 1 00:00 JST
		{"kolkata-half-hour", rights.GDPR, "Asia/Kolkata", "2026-06-10T12:00:00Z", "2026-07-10T18:29:59.999999999Z"},
		// DST: the due day ends at local 23:59:59.999999999 whatever the day's length.
		{"la-spring-forward-day", rights.GDPR, "America/Los_Angeles", "2026-02-08T18:00:00Z", "2026-03-09T06:59:59.999999999Z"},
		{"la-fall-back-day", rights.GDPR, "America/Los_Angeles", "2026-10-01T18:00:00Z", "2026-11-02T07:59:59.999999999Z"},
		{"la-received-winter-due-summer", rights.GDPR, "America/Los_Angeles", "2026-02-20T18:00:00Z", "2026-03-21T06:59:59.999999999Z"},
		{"berlin-eve-of-spring-forward", rights.GDPR, "Europe/Berlin", "2026-02-28T12:00:00Z", "2026-03-28T22:59:59.999999999Z"},
		{"berlin-due-on-spring-forward", rights.GDPR, "Europe/Berlin", "2027-02-28T10:00:00Z", "2027-03-28T21:59:59.999999999Z"},
		{"berlin-utc-feb28-is-mar1", rights.GDPR, "Europe/Berlin", "2026-02-28T23:30:00Z", "2026-04-01T21:59:59.999999999Z"},
		{"berlin-fall-back-sunday", rights.GDPR, "Europe/Berlin", "2026-09-25T10:00:00Z", "2026-10-25T22:59:59.999999999Z"},
		// Santiago ends DST at 24:00 Saturday: 23:00–24:00 happens twice, the day ends after the second.
		{"santiago-repeated-last-hour", rights.GDPR, "America/Santiago", "2026-03-04T15:00:00Z", "2026-04-05T03:59:59.999999999Z"},
		// Santiago starts DST at 24:00 Saturday: the next midnight never happens.
		{"santiago-skipped-midnight", rights.GDPR, "America/Santiago", "2026-08-05T15:00:00Z", "2026-09-06T03:59:59.999999999Z"},
	})
}

func TestDueCCPA(t *testing.T) {
	runClock(t, rights.Due, []clockCase{
		{"plus-45", rights.CCPA, "UTC", "2026-01-01T09:00:00Z", "2026-02-15" + eod},
		{"across-year", rights.CCPA, "UTC", "2026-12-01T09:00:00Z", "2027-01-15" + eod},
		{"across-leap-day", rights.CCPA, "UTC", "2028-02-01T09:00:00Z", "2028-03-17" + eod},
		{"no-leap-day", rights.CCPA, "UTC", "2027-02-01T09:00:00Z", "2027-03-18" + eod},
		{"received-saturday", rights.CCPA, "UTC", "2026-01-03T09:00:00Z", "2026-02-17" + eod},
		{"la-local-day", rights.CCPA, "America/Los_Angeles", "2026-01-02T05:00:00Z", "2026-02-16T07:59:59.999999999Z"},             // Jan 1 PST → Feb 15 PST
		{"la-across-spring-forward", rights.CCPA, "America/Los_Angeles", "2026-02-01T20:00:00Z", "2026-03-19T06:59:59.999999999Z"}, // Mar 18 PDT,
		{"la-due-on-spring-forward", rights.CCPA, "America/Los_Angeles", "2026-01-22T20:00:00Z", "2026-03-09T06:59:59.999999999Z"},
		{"la-due-on-fall-back", rights.CCPA, "America/Los_Angeles", "2026-09-17T20:00:00Z", "2026-11-02T07:59:59.999999999Z"},
		{"berlin-due-on-spring-forward", rights.CCPA, "Europe/Berlin", "2026-02-12T09:00:00Z", "2026-03-29T21:59:59.999999999Z"},
	})
}

func TestExtended(t *testing.T) {
	runClock(t, rights.Extended, []clockCase{
		// GDPR: two further calendar months from the original due day.
		{"gdpr-mid-month", rights.GDPR, "UTC", "2026-06-10T12:00:00Z", "2026-09-10" + eod},
		{"gdpr-jan31-2027", rights.GDPR, "UTC", "2027-01-31T12:00:00Z", "2027-04-28" + eod},      // due Feb 28
		{"gdpr-jan31-2028-leap", rights.GDPR, "UTC", "2028-01-31T12:00:00Z", "2028-04-29" + eod}, // due Feb 29
		{"gdpr-mar31", rights.GDPR, "UTC", "2026-03-31T12:00:00Z", "2026-06-30" + eod},           // due Apr 30
		{"gdpr-oct31", rights.GDPR, "UTC", "2026-10-31T12:00:00Z", "2027-01-30" + eod},           // due Nov 30
		{"gdpr-dec31", rights.GDPR, "UTC", "2026-12-31T12:00:00Z", "2027-03-31" + eod},           // due Jan 31
		{"gdpr-nov30-clamp-feb", rights.GDPR, "UTC", "2026-11-30T12:00:00Z", "2027-02-28" + eod}, // due Dec 30 → Feb 28
		{"gdpr-nov30-clamp-leap-feb", rights.GDPR, "UTC", "2027-11-30T12:00:00Z", "2028-02-29" + eod},
		{"gdpr-dec29-no-clamp", rights.GDPR, "UTC", "2027-12-29T12:00:00Z", "2028-03-29" + eod},
		{"gdpr-berlin", rights.GDPR, "Europe/Berlin", "2026-01-31T23:30:00Z", "2026-05-01T21:59:59.999999999Z"}, // Feb 1 → Mar 1 → May 1 CEST
		// CCPA: 45 further days, received + 90.
		{"ccpa-plus-90", rights.CCPA, "UTC", "2026-01-01T09:00:00Z", "2026-04-01" + eod},
		{"ccpa-leap", rights.CCPA, "UTC", "2028-01-01T09:00:00Z", "2028-03-31" + eod},
		{"ccpa-la", rights.CCPA, "America/Los_Angeles", "2026-01-02T05:00:00Z", "2026-04-02T06:59:59.999999999Z"}, // Jan 1 PST → Apr 1 PDT
	})
}

func TestAckDue(t *testing.T) {
	runClock(t, rights.AckDue, []clockCase{
		// 2026-01-02 is a Friday.
		{"received-monday", rights.CCPA, "UTC", "2026-01-05T09:00:00Z", "2026-01-19" + eod},
		{"received-tuesday", rights.CCPA, "UTC", "2026-01-06T09:00:00Z", "2026-01-20" + eod},
		{"received-wednesday", rights.CCPA, "UTC", "2026-01-07T09:00:00Z", "2026-01-21" + eod},
		{"received-thursday", rights.CCPA, "UTC", "2026-01-08T09:00:00Z", "2026-01-22" + eod},
		{"received-friday", rights.CCPA, "UTC", "2026-01-02T09:00:00Z", "2026-01-16" + eod},
		{"received-friday-late", rights.CCPA, "UTC", "2026-01-02T23:59:59Z", "2026-01-16" + eod},
		{"received-saturday", rights.CCPA, "UTC", "2026-01-03T09:00:00Z", "2026-01-16" + eod},
		{"received-sunday", rights.CCPA, "UTC", "2026-01-04T09:00:00Z", "2026-01-16" + eod},
		{"across-month-and-year", rights.CCPA, "UTC", "2026-12-24T09:00:00Z", "2027-01-07" + eod},
		{"across-leap-day", rights.CCPA, "UTC", "2028-02-25T09:00:00Z", "2028-03-10" + eod},
		// Friday evening in Los Angeles is Saturday in UTC: the local day counts.
		{"la-friday-evening", rights.CCPA, "America/Los_Angeles", "2026-01-03T04:00:00Z", "2026-01-17T07:59:59.999999999Z"},
		{"la-across-spring-forward", rights.CCPA, "America/Los_Angeles", "2026-03-02T18:00:00Z", "2026-03-17T06:59:59.999999999Z"}, // Mon Mar 2 → Mon Mar 16 PDT,
		// Saturday morning in Tokyo is Friday in UTC.
		{"tokyo-saturday", rights.CCPA, "Asia/Tokyo", "2026-01-02T16:00:00Z", "2026-01-16T14:59:59.999999999Z"},
		// GDPR has no acknowledgement clock.
		{"gdpr-zero", rights.GDPR, "UTC", "2026-01-05T09:00:00Z", "0001-01-01T00:00:00Z"},
	})
}

func TestUnknownRegimeHasNoClock(t *testing.T) {
	at := ts(t, "2026-01-05T09:00:00Z")
	for name, f := range map[string]func(rights.Regime, time.Time, *time.Location) time.Time{
		"Due": rights.Due, "Extended": rights.Extended, "AckDue": rights.AckDue,
	} {
		if got := f("lgpd", at, time.UTC); !got.IsZero() {
			t.Errorf("%s(unknown regime) = %s, want zero", name, got)
		}
	}
}

func TestNilLocationIsUTC(t *testing.T) {
	at := ts(t, "2026-01-31T23:30:00Z")
	for _, r := range []rights.Regime{rights.GDPR, rights.CCPA} {
		if got, want := rights.Due(r, at, nil), rights.Due(r, at, time.UTC); !got.Equal(want) {
			t.Errorf("%s: Due with nil location %s, want %s", r, got, want)
		}
	}
}

func TestOverdue(t *testing.T) {
	due := ts(t, "2026-02-28T23:59:59.999999999Z")
	before := due.Add(-time.Nanosecond)
	after := due.Add(time.Nanosecond)
	cases := []struct {
		status rights.Status
		due    time.Time
		now    time.Time
		want   bool
	}{
		{rights.Unverified, due, after, true},
		{rights.Open, due, after, true},
		{rights.InProgress, due, after, true},
		{rights.Completed, due, after, false},
		{rights.Denied, due, after, false},
		{rights.Open, due, due, false}, // the last instant of the due day is still on time
		{rights.Open, due, before, false},
		{rights.InProgress, due, before, false},
		{rights.Open, time.Time{}, after, false}, // no deadline
		{"bogus", due, after, false},
	}
	for _, c := range cases {
		if got := rights.Overdue(c.status, c.due, c.now); got != c.want {
			t.Errorf("Overdue(%s, %s, %s) = %v, want %v", c.status, c.due, c.now, got, c.want)
		}
	}
}
