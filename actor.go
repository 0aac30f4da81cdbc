package coffer

import (
	"net/netip"
	"time"
)

// Actor kinds.
const (
	ActorAPIKey   = "api_key"
	ActorOperator = "operator"
)

// Actor is who acts: an API key (a service) or an operator (a person).
// The vault builds it when it authenticates a request; the access decision
// reads it. It never holds a credential.
type Actor struct {
	ID       string // "key_…" or "op:<username>"; what the audit log names
	Kind     string
	RoleName string
	Role     *Role // resolved from the schema; nil if the role does not exist

	ClientIP     netip.Addr
	AllowedCIDRs []netip.Prefix // empty: any address
	ExpiresAt    time.Time      // zero: never
	Locked       bool

	// Operators only (issue 3): a second factor is enrolled and the current
	// security policy is acknowledged with training current.
	MFAEnrolled bool
	PolicyAcked bool
	SessionID   string // the operator's session, for logout
}
