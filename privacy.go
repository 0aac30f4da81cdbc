package coffer

import "time"

// ConsentEvent is one entry of a subject's consent history for a purpose.
// Consent is append-only: a withdrawal is a new event, never an edit.
type ConsentEvent struct {
	Seq           int64     `json:"seq"` // assigned by the store, increasing
	Subject       string    `json:"subject"`
	Purpose       string    `json:"purpose"`
	Granted       bool      `json:"granted"`
	Time          time.Time `json:"time"`
	Source        string    `json:"source"`         // where it was given: "signup-form", "gpc", "request:req_…"
	NoticeVersion string    `json:"notice_version"` // the privacy-notice version shown
}

// Restriction sets or lifts a subject's restriction of processing
// (GDPR Art. 18): while restricted, only legal_obligation purposes read.
type Restriction struct {
	Subject    string
	Restricted bool
}

// Erasure crypto-shreds a subject: its DEK, consents and every record and
// blind index of it go; LedgerHash (a keyed hash of the subject id under
// derived-key root version LedgerVersion, at least 1) is appended to the
// erasure ledger with its version, which a backup restore replays. The
// change fails with ECONFLICT if records of the subject remain beyond the
// change's Deletes (one was created concurrently): the caller retries.
type Erasure struct {
	Subject       string
	LedgerHash    []byte
	LedgerVersion uint32
}

// LedgerEntry is one erasure in the ledger: the keyed hash of the subject
// id (never the id), the derived-key root version it is keyed under, and
// when.
type LedgerEntry struct {
	Hash     []byte
	Version  uint32
	ErasedAt time.Time
}

// Request is a data-subject request (GDPR Art. 15–22, CCPA §1798.100–125).
// Kinds, regimes and statuses are spelled as in internal/rights.
type Request struct {
	ID              string     `json:"id"`
	Kind            string     `json:"kind"`
	Regime          string     `json:"regime"`
	Subject         string     `json:"subject"`
	Status          string     `json:"status"`
	ReceivedAt      time.Time  `json:"received_at"`
	DueAt           time.Time  `json:"due_at"`
	AckDueAt        *time.Time `json:"ack_due_at,omitempty"` // CCPA acknowledgement; nil for GDPR
	Extended        bool       `json:"extended"`
	ExtensionReason string     `json:"extension_reason,omitempty"`
	DenialReason    string     `json:"denial_reason,omitempty"`
	Checklist       []string   `json:"checklist"` // external systems to handle by hand (erasure)
	CompletedAt     *time.Time `json:"completed_at,omitempty"`
	UpdatedAt       time.Time  `json:"updated_at"`
	Version         int64      `json:"version"` // bumped by every update; an update names the version read
}

// MaxRequestList is the most requests one listing returns (newest first).
const MaxRequestList = 100_000

// RequestFilter selects requests; empty fields match all.
type RequestFilter struct {
	Status  string
	Subject string
	// FinishedBefore keeps requests completed or denied before it.
	FinishedBefore time.Time
	Limit          int // 0: 1,000; at most MaxRequestList
}
