package coffer

import (
	"errors"
	"fmt"
)

// Error codes. They map one to one to the HTTP API's error codes and
// statuses (SPEC §5).
const (
	EINVALID         = "invalid_argument"  // 400
	EPURPOSE         = "purpose_required"  // 400
	EUNAUTHENTICATED = "unauthenticated"   // 401
	EFORBIDDEN       = "forbidden"         // 403
	ENOTFOUND        = "not_found"         // 404
	ECONFLICT        = "conflict"          // 409
	ETOOLARGE        = "payload_too_large" // 413
	ESCHEMA          = "schema_violation"  // 422
	ERATELIMITED     = "rate_limited"      // 429
	EINTERNAL        = "internal"          // 500
	ESEALED          = "sealed"            // 503
	// EUNAVAILABLE: the database cannot be reached (SPEC §7: answered
	// with Retry-After; the node recovers by itself), or the store refuses
	// writes because its audit log was changed underneath (SPEC §8: a log
	// shortened or edited stops every write and audited read).
	EUNAVAILABLE = "unavailable" // 503
)

// Error is an error whose Code and Message are safe to show to a caller.
// Message never holds a personal value: it names fields, not their content.
// Err, when set, is the internal cause; it is logged, never shown.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
// Arguments must never be personal values.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or EINTERNAL when err is not an *Error.
// It returns "" for a nil error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err. Internal errors
// answer a generic message so that their details never reach a response.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Name quotes a caller-supplied name (a field, a collection, a purpose) for
// an error message when it looks like an identifier — a letter first, then
// letters, digits, _ - . and no run of four digits (a card, phone or SSN
// fragment) — and describes it otherwise, so that a value sent where a name
// belongs is never echoed.
func Name(s string) string {
	const refused = "(a name that is not an identifier)"
	if len(s) == 0 || len(s) > 64 || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
		return refused
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if '0' <= c && c <= '9' {
			if digits++; digits == 4 {
				return refused
			}
			continue
		}
		digits = 0
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-' || c == '.') {
			return refused
		}
	}
	return `"` + s + `"`
}
