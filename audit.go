package coffer

import "time"

// Audit outcomes.
const (
	OutcomeAllowed = "allowed"
	OutcomeDenied  = "denied"
	OutcomeError   = "error"
)

// AuditEntry is one link of the tamper-evident audit log. It names fields,
// never their values. Seq, Time, PrevHash and Hash are set by the store when
// the entry is appended, in commit order.
type AuditEntry struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	Collection string    `json:"collection,omitempty"`
	Record     string    `json:"record,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	Fields     []string  `json:"fields,omitempty"`
	// Views[i] is the view Fields[i] was returned in (ViewPlain,
	// ViewMasked, ViewToken; empty or missing: ViewNone). Format 2.
	Views     []View `json:"views,omitempty"`
	Purpose   string `json:"purpose,omitempty"`
	Outcome   string `json:"outcome"`
	Reason    string `json:"reason,omitempty"`
	ClientIP  string `json:"client_ip,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	PrevHash  []byte `json:"prev_hash"`
	Hash      []byte `json:"hash"`
}

// View returns the view of Fields[i] (ViewNone when not set).
func (e *AuditEntry) View(i int) View {
	if i < len(e.Views) && e.Views[i] != "" {
		return e.Views[i]
	}
	return ViewNone
}

// AuditCheckpoint is a signed checkpoint of the log as a store keeps it
// (the fields of audit.Checkpoint, which converts from it).
type AuditCheckpoint struct {
	Kind       string
	Seq        int64
	Hash       []byte
	Time       time.Time
	Counter    uint64
	KeyVersion uint32
	Signature  []byte
}

// AuditFilter selects audit entries. Zero values match everything.
type AuditFilter struct {
	Actor    string
	Subject  string
	Since    time.Time
	Until    time.Time
	AfterSeq int64 // entries with Seq > AfterSeq, in ascending order
	Limit    int   // 0: a store default
	Desc     bool  // newest first (ignored when AfterSeq is set)
}

// AuditHead is the signed end of the audit log: the last sequence number,
// its hash and an Ed25519 signature over both. Verification requires the
// chain to end exactly there, which detects entries deleted at the end.
type AuditHead struct {
	Seq       int64
	Hash      []byte
	Signature []byte
}
