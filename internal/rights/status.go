package rights

import (
	"strings"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
)

// Actions that move a request from one status to another (see Next).
const (
	Verify   = "verify"   // unverified → open
	Start    = "start"    // open → in_progress
	Complete = "complete" // open | in_progress → completed
	Deny     = "deny"     // unverified | open | in_progress → denied
	// Extend moves the deadline once and keeps the status (CanExtend).
	Extend = "extend"
)

// IsAction reports whether a names one of the actions on a request.
func IsAction(a string) bool {
	_, ok := transitions[a]
	return ok || a == Extend
}

// transitions lists, per action, the statuses it may start from and the
// status it leads to.
var transitions = map[string]struct {
	from []Status
	to   Status
}{
	Verify:   {[]Status{Unverified}, Open},
	Start:    {[]Status{Open}, InProgress},
	Complete: {[]Status{Open, InProgress}, Completed},
	Deny:     {[]Status{Unverified, Open, InProgress}, Denied},
}

// Next validates the action on a request in status current and returns the
// status it leads to:
//
//	verify    unverified → open
//	start     open → in_progress
//	complete  open | in_progress → completed
//	deny      unverified | open | in_progress → denied
//
// An unknown action or status is EINVALID. Any action on a completed or
// denied request, and any other move, is ECONFLICT; the status is then
// unchanged.
func Next(current Status, action string) (Status, error) {
	tr, ok := transitions[action]
	if !ok {
		return current, coffer.Errorf(coffer.EINVALID, "action %s is not known: one of %q, %q, %q, %q", echo(action), Verify, Start, Complete, Deny)
	}
	if !valid(current) {
		return current, coffer.Errorf(coffer.EINVALID, "status %s is not known", echo(string(current)))
	}
	if current == Completed || current == Denied {
		return current, coffer.Errorf(coffer.ECONFLICT, "the request is already %s", current)
	}
	for _, from := range tr.from {
		if current == from {
			return tr.to, nil
		}
	}
	return current, coffer.Errorf(coffer.ECONFLICT, "a request that is %s cannot be %s: %q applies to %s", current, past(action), action, list(tr.from))
}

// MaxReason is the longest extension reason, in characters.
const MaxReason = 500

// CanExtend reports whether a request in status current, extended already
// or not, may have its deadline extended with reason. Only an open or
// in-progress request that was never extended may be (ECONFLICT otherwise:
// the law allows one extension). The reason is required, 1 to 500
// characters of valid UTF-8, not only spaces (EINVALID naming "reason").
func CanExtend(current Status, extended bool, reason string) error {
	switch current {
	case Open, InProgress:
	case Completed, Denied:
		return coffer.Errorf(coffer.ECONFLICT, "a %s request cannot be extended", current)
	case Unverified:
		return coffer.Errorf(coffer.ECONFLICT, "an unverified request cannot be extended: verify it first")
	default:
		return coffer.Errorf(coffer.EINVALID, "status %s is not known", echo(string(current)))
	}
	if extended {
		return coffer.Errorf(coffer.ECONFLICT, "the request was already extended once; the law allows one extension")
	}
	switch {
	case !utf8.ValidString(reason):
		return coffer.Errorf(coffer.EINVALID, "reason must be valid UTF-8")
	case strings.TrimSpace(reason) == "":
		return coffer.Errorf(coffer.EINVALID, "reason is required to extend a request")
	case utf8.RuneCountInString(reason) > MaxReason:
		return coffer.Errorf(coffer.EINVALID, "reason is longer than %d characters", MaxReason)
	}
	return nil
}

func past(action string) string {
	switch action {
	case Verify:
		return "verified"
	case Start:
		return "started"
	case Complete:
		return "completed"
	}
	return "denied"
}

func list(ss []Status) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, " or ")
}
