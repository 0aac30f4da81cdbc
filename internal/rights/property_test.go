package rights_test

import (
	"testing"
	"time"
	_ "time/tzdata"

	"pgregory.net/rapid"

	"github.com/cofferhq/coffer/internal/rights"
)

// zones holds offsets ahead of and behind UTC, half and quarter hours, DST
// in both hemispheres, DST changes at midnight and a 30-minute DST.
var zones = []string{
	"UTC", "Europe/Berlin", "Europe/London", "America/Los_Angeles", "America/New_York",
	"America/Santiago", "America/Havana", "America/Sao_Paulo", "Asia/Tokyo", "Asia/Kolkata",
	"Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham", "Pacific/Kiritimati", "Pacific/Pago_Pago",
}

// drawReceived is an instant between 1990 and 2200 and the zone it is read in.
func drawReceived(t *rapid.T) (time.Time, *time.Location) {
	lo := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	hi := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	received := time.Unix(0, rapid.Int64Range(lo, hi).Draw(t, "received")).UTC()
	loc, err := time.LoadLocation(rapid.SampledFrom(zones).Draw(t, "zone"))
	if err != nil {
		t.Fatal(err)
	}
	return received, loc
}

const day = 24 * time.Hour

// slack absorbs DST and offset changes between receipt and deadline.
const slack = 2 * time.Hour

func monthIndex(t time.Time) int { return t.Year()*12 + int(t.Month()) - 1 }

func TestPropertyGDPR(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		received, loc := drawReceived(t)
		due := rights.Due(rights.GDPR, received, loc)
		ext := rights.Extended(rights.GDPR, received, loc)
		local, dueLocal, extLocal := received.In(loc), due.In(loc), ext.In(loc)

		if !due.After(received) {
			t.Fatalf("due %s not after received %s", due, received)
		}
		if d := due.Sub(received); d < 28*day-slack || d > 32*day+slack {
			t.Fatalf("due %s is %s after received %s (%s): want 28..31 days + 1 day", due, d, received, loc)
		}
		// Exactly the next calendar month, never the one after.
		if got, want := monthIndex(dueLocal), monthIndex(local)+1; got != want {
			t.Fatalf("due %s (%s) is in month %d, received %s in %d", dueLocal, loc, got, local, monthIndex(local))
		}
		// The same day of the month, or the month's last day when it is shorter.
		if dueLocal.Day() != local.Day() && (dueLocal.Day() > local.Day() || dueLocal.AddDate(0, 0, 1).Day() != 1) {
			t.Fatalf("due day %s (%s) for received %s", dueLocal, loc, local)
		}
		// The last instant of its local day.
		if next := due.Add(time.Nanosecond).In(loc); next.YearDay() == dueLocal.YearDay() {
			t.Fatalf("due %s (%s) is not the end of its day", dueLocal, loc)
		}
		if !ext.After(due) {
			t.Fatalf("extended %s not after due %s", ext, due)
		}
		if got, want := monthIndex(extLocal), monthIndex(dueLocal)+2; got != want {
			t.Fatalf("extended %s is not two months after due %s (%s)", extLocal, dueLocal, loc)
		}
	})
}

func TestPropertyCCPA(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		received, loc := drawReceived(t)
		due := rights.Due(rights.CCPA, received, loc)
		ext := rights.Extended(rights.CCPA, received, loc)
		ack := rights.AckDue(rights.CCPA, received, loc)

		if d := due.Sub(received); d < 45*day-slack || d > 46*day+slack {
			t.Fatalf("due %s is %s after received %s (%s)", due, d, received, loc)
		}
		if d := ext.Sub(due); d < 45*day-slack || d > 45*day+slack {
			t.Fatalf("extended %s is %s after due %s (%s)", ext, d, due, loc)
		}
		if !ack.After(received) || !ack.Before(due) {
			t.Fatalf("ack %s not between received %s and due %s", ack, received, due)
		}
		// The ack day is a weekday, with exactly 10 weekdays after the day of receipt up to it.
		y, m, d := received.In(loc).Date()
		ay, am, ad := ack.In(loc).Date()
		from := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		to := time.Date(ay, am, ad, 0, 0, 0, 0, time.UTC)
		if wd := to.Weekday(); wd == time.Saturday || wd == time.Sunday {
			t.Fatalf("ack day %s is a %s", to.Format(time.DateOnly), wd)
		}
		n := 0
		for c := from.AddDate(0, 0, 1); !c.After(to); c = c.AddDate(0, 0, 1) {
			if wd := c.Weekday(); wd != time.Saturday && wd != time.Sunday {
				n++
			}
		}
		if n != 10 {
			t.Fatalf("%d business days from %s to %s, want 10", n, from.Format(time.DateOnly), to.Format(time.DateOnly))
		}
	})
}
