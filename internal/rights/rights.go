// Package rights holds the rules of data-subject requests (SPEC §9): the
// regimes, kinds and statuses a request may have, the statutory clocks
// (due date, extension, acknowledgement) and the status machine. It is pure:
// no I/O, no clock of its own, the standard library only. Callers pass the
// time a request was received, the controller's time zone and "now".
package rights

import (
	"unicode/utf8"

	"github.com/cofferhq/coffer"
)

// Regime is the law a request is made under.
type Regime string

// Regimes.
const (
	GDPR Regime = "gdpr" // EU/UK GDPR Art. 12(3)
	CCPA Regime = "ccpa" // Cal. Civ. Code §1798.130 and 11 CCR §7021
)

// Kind is what the data subject asks for.
type Kind string

// Kinds.
const (
	Access        Kind = "access"
	Erasure       Kind = "erasure"
	Rectification Kind = "rectification"
	Restriction   Kind = "restriction"
	Objection     Kind = "objection"
	OptOut        Kind = "opt_out"
)

// Status is where a request stands. Completed and Denied are final.
type Status string

// Statuses: unverified → open → in_progress → completed | denied.
const (
	Unverified Status = "unverified"
	Open       Status = "open"
	InProgress Status = "in_progress"
	Completed  Status = "completed"
	Denied     Status = "denied"
)

var (
	regimes  = []Regime{GDPR, CCPA}
	kinds    = []Kind{Access, Erasure, Rectification, Restriction, Objection, OptOut}
	statuses = []Status{Unverified, Open, InProgress, Completed, Denied}
)

// ParseRegime returns the regime spelled s ("gdpr" or "ccpa", lower case).
// Anything else is an EINVALID error naming the field "regime".
func ParseRegime(s string) (Regime, error) {
	for _, r := range regimes {
		if s == string(r) {
			return r, nil
		}
	}
	return "", invalidValue("regime", s, `"gdpr", "ccpa"`)
}

// ParseKind returns the kind spelled s. Anything else is an EINVALID error
// naming the field "kind".
func ParseKind(s string) (Kind, error) {
	for _, k := range kinds {
		if s == string(k) {
			return k, nil
		}
	}
	return "", invalidValue("kind", s, `"access", "erasure", "rectification", "restriction", "objection", "opt_out"`)
}

// ParseStatus returns the status spelled s. Anything else is an EINVALID
// error naming the field "status".
func ParseStatus(s string) (Status, error) {
	if valid(Status(s)) {
		return Status(s), nil
	}
	return "", invalidValue("status", s, `"unverified", "open", "in_progress", "completed", "denied"`)
}

func valid(s Status) bool {
	for _, v := range statuses {
		if s == v {
			return true
		}
	}
	return false
}

// invalidValue is the error for a value outside an enumeration. It echoes
// the value only when it is short and looks like an identifier, so that a
// personal value sent by mistake never reaches a response or a log.
func invalidValue(field, s, allowed string) error {
	if s == "" {
		return coffer.Errorf(coffer.EINVALID, "%s is required: one of %s", field, allowed)
	}
	return coffer.Errorf(coffer.EINVALID, "%s %s is not known: one of %s", field, echo(s), allowed)
}

// maxEcho is the longest input an error message repeats.
const maxEcho = 32

func echo(s string) string {
	if len(s) > maxEcho || !utf8.ValidString(s) {
		return "(value not shown)"
	}
	if q := coffer.Name(s); q[0] == '"' {
		return q
	}
	return "(value not shown)"
}
