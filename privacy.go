package coffer

import "time"

// ConsentEvent is one entry of a subject's consent history for a purpose.
// Consent is append-only: a withdrawal is a new event, never an edit.
type ConsentEvent struct {
	Seq           int64 // assigned by the store, increasing
	Subject       string
	Purpose       string
	Granted       bool
	Time          time.Time
	Source        string // where it was given: "signup-form", "gpc", "request:req_…"
	NoticeVersion string // the privacy-notice version shown
}

// Restriction sets or lifts a subject's restriction of processing
// (GDPR Art. 18): while restricted, only legal_obligation purposes read.
type Restriction struct {
	Subject    string
	Restricted bool
}

// Erasure crypto-shreds a subject: its DEK, consents and every record and
// blind index of it go; LedgerHash (a keyed hash of the subject id) is
// appended to the erasure ledger, which a backup restore replays. The
// change fails with ECONFLICT if records of the subject remain beyond the
// change's Deletes (one was created concurrently): the caller retries.
type Erasure struct {
	Subject    string
	LedgerHash []byte
}

// Request is a data-subject request (GDPR Art. 15–22, CCPA §1798.100–125).
// Kinds, regimes and statuses are spelled as in internal/rights.
type Request struct {
	ID              string
	Kind            string
	Regime          string
	Subject         string
	Status          string
	ReceivedAt      time.Time
	DueAt           time.Time
	AckDueAt        time.Time // CCPA acknowledgement; zero for GDPR
	Extended        bool
	ExtensionReason string
	DenialReason    string
	Checklist       []string // external systems to handle by hand (erasure)
	CompletedAt     time.Time
	UpdatedAt       time.Time
	Version         int64 // bumped by every update; an update names the version read
}

// RequestFilter selects requests; empty fields match all.
type RequestFilter struct {
	Status  string
	Subject string
	Limit   int
}
