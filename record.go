package coffer

import (
	"encoding/json"
	"time"
)

// Record is a record as the vault returns it to an actor: the fields the
// actor may see, in the view it may see them, and the names of the others.
type Record struct {
	ID         string                     `json:"id"`
	Subject    string                     `json:"subject"`
	Collection string                     `json:"collection"`
	Fields     map[string]json.RawMessage `json:"fields"`
	Withheld   []string                   `json:"withheld"`
	CreatedAt  time.Time                  `json:"created_at"`
	UpdatedAt  time.Time                  `json:"updated_at"`
}

// NewRecord is a record to create: its subject and plaintext field values
// as decoded from the request (not yet validated).
type NewRecord struct {
	Subject string                     `json:"subject"`
	Fields  map[string]json.RawMessage `json:"fields"`
	// Consents are recorded for the subject in the record's transaction
	// (purpose → grant); only a role with the consents grant may send them.
	Consents map[string]ConsentGrant `json:"consents,omitempty"`
}

// ConsentGrant is a consent given (or withdrawn) with a create.
type ConsentGrant struct {
	Granted       bool   `json:"granted"`
	Source        string `json:"source"`
	NoticeVersion string `json:"notice_version"`
}

// StoredRecord is a record as a store holds it: every field value sealed
// under the subject's DEK, plus the blind-index hashes of searchable fields.
type StoredRecord struct {
	ID         string
	Collection string
	Subject    string
	Fields     map[string][]byte // field name → ciphertext
	Index      []IndexEntry      // every blind-index hash of the record (writes only)
	// IndexVersion is the derived-key root version Index was computed
	// under (writes, ExpiredRecords and RecordsIndexedBelow; 0 on a create
	// means 1, on an update: the row's). An update never lowers it: one
	// whose version is below the row's fails ECONFLICT.
	IndexVersion uint32
	Version      int64 // bumped by every update; an update must name the version it read
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// IndexEntry is one blind-index hash of a searchable field's value.
type IndexEntry struct {
	Field string
	Hash  []byte // truncated HMAC-SHA256, 16 bytes
}

// RecordRef names one record.
type RecordRef struct {
	Collection string
	ID         string
}

// Subject is one customer: the owner of records and of a DEK.
type Subject struct {
	ID         string
	WrappedDEK []byte // the DEK sealed under KEK version KEKVersion
	KEKVersion uint32
	CreatedAt  time.Time
	// Restricted: processing restricted (GDPR Art. 18).
	Restricted bool
	// Consents is the current consent per purpose (the last event of each
	// purpose's history); a purpose absent was never granted.
	Consents map[string]bool
}
