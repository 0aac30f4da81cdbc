package coffer

import "time"

// Operator is a person who uses Coffer: password, TOTP second factor, a
// role, and the security policy version they acknowledged.
type Operator struct {
	Username      string
	Role          string
	PasswordHash  string // argon2id PHC string
	TOTPSecret    []byte // sealed; never stored in plaintext
	TOTPVersion   uint32 // the derived-key root version TOTPSecret is sealed under
	TOTPLastStep  int64  // the last TOTP step accepted (replay protection)
	MFAEnrolled   bool   // a first TOTP code confirmed the enrollment
	Locked        bool   // locked by an admin or a detection rule
	LockedUntil   time.Time
	FailedLogins  int
	PolicyVersion string    // the security policy version acknowledged
	TrainedAt     time.Time // when security training was last completed
	WebAuthn      []byte    // registered WebAuthn credentials (JSON; public keys only)
	CreatedAt     time.Time
	Version       int64 // bumped by every update; updates name the version read
	// MAC authenticates username, role and password hash under a
	// root-derived key (SPEC §4); set at creation, kept by updates.
	MAC []byte
}

// Session is an operator's login. Only a hash of its secret is stored.
type Session struct {
	ID         string
	Hash       []byte
	Username   string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute end
}
