package coffer

import (
	"context"
	"iter"
	"time"
)

// Change is one atomic change to the vault together with the audit entries
// that record it. A store commits all of it in one durable transaction, or
// none of it. When the change itself fails (a subject that already exists,
// a record that is gone), the store still appends the audit entries, with
// Outcome set to OutcomeError and Reason to the error code, and returns the
// error: every attempt is traced.
type Change struct {
	NewSubjects []*Subject      // ECONFLICT if one exists already
	Creates     []*StoredRecord // ECONFLICT if the id exists
	Updates     []*StoredRecord // replace fields and index; ECONFLICT if gone or its Version moved on
	Deletes     []RecordRef     // ENOTFOUND if gone
	// Consents are appended to their subjects' histories and set the
	// current state; ENOTFOUND if a subject is absent.
	Consents     []*ConsentEvent
	Restrictions []Restriction // ENOTFOUND if a subject is absent
	Erasures     []Erasure     // after Deletes; see Erasure
	NewRequests  []*Request    // ECONFLICT if the id exists
	// RequestUpdates replace requests whose Version is still the one read
	// (and bump it); ECONFLICT if it moved on, ENOTFOUND if gone.
	RequestUpdates []*Request
	// RequestDeletes remove requests past their record-keeping period.
	RequestDeletes []string
	// NewTokenKeys are created unless their namespace has one already.
	NewTokenKeys []*TokenKey
	// NewTokens are stored; a token that exists with the same namespace and
	// fingerprint is the same tokenization (kept), with another it is a
	// collision: ECONFLICT.
	NewTokens []*Token
	// RevokeTokens revokes tokens; ENOTFOUND if one is unknown.
	RevokeTokens []string
	Audit        []*AuditEntry
}

// Rewrap is one subject's DEK wrapped anew under another KEK version.
type Rewrap struct {
	Subject    string
	OldVersion uint32
	WrappedDEK []byte
	KEKVersion uint32
}

// Store persists subjects, sealed records, blind indexes, API keys, the
// schema document and the audit log. It never decides access and never
// sees a plaintext value. Implementations: internal/sqlite (and, for scale,
// internal/postgres), held to one suite in internal/storetest.
//
// Durable means the transaction is on stable storage (fsync'd) before the
// method returns.
type Store interface {
	// Commit applies ch and appends its audit entries, durably.
	Commit(ctx context.Context, ch *Change) error
	// AppendAudit appends entries durably (reads, denials).
	AppendAudit(ctx context.Context, entries ...*AuditEntry) error

	// Record returns one record. ENOTFOUND if absent.
	Record(ctx context.Context, collection, id string) (*StoredRecord, error)
	// FindRecords returns records of collection whose field has the blind
	// index hash, at most limit, oldest first.
	FindRecords(ctx context.Context, collection, field string, hash []byte, limit int) ([]*StoredRecord, error)
	// Subject returns a subject. ENOTFOUND if absent.
	Subject(ctx context.Context, id string) (*Subject, error)
	// SubjectsBelow returns up to limit subjects whose DEK is wrapped under
	// a KEK version lower than version, in id order after afterID.
	SubjectsBelow(ctx context.Context, version uint32, afterID string, limit int) ([]*Subject, error)
	// Rewrap replaces wrapped DEKs (key rotation), each only if the subject
	// still has the KEK version it was read with; it returns how many it
	// replaced, and appends audit in the same transaction.
	Rewrap(ctx context.Context, rewraps []Rewrap, audit *AuditEntry) (int, error)
	// KEKVersions counts subjects per KEK version.
	KEKVersions(ctx context.Context) (map[uint32]int64, error)

	// SubjectRecords returns every record of a subject, oldest first.
	SubjectRecords(ctx context.Context, subject string) ([]*StoredRecord, error)
	// Consents returns a subject's consent history, oldest first.
	Consents(ctx context.Context, subject string) ([]*ConsentEvent, error)
	// ExpiredRecords returns up to limit records of collection last
	// updated before cutoff, in (updated, id) order after the cursor
	// (afterUpdated, afterID); the zero cursor starts at the oldest.
	ExpiredRecords(ctx context.Context, collection string, cutoff, afterUpdated time.Time, afterID string, limit int) ([]*StoredRecord, error)
	// Erased reports whether the ledger holds hash.
	Erased(ctx context.Context, hash []byte) (bool, error)
	// TokenKey returns a namespace's key. ENOTFOUND if absent.
	TokenKey(ctx context.Context, namespace string) (*TokenKey, error)
	// Tokens returns the tokens found among ids (absent ones are left out).
	Tokens(ctx context.Context, ids []string) (map[string]*Token, error)

	// Request returns a data-subject request. ENOTFOUND if absent.
	Request(ctx context.Context, id string) (*Request, error)
	// Requests lists requests matching f, newest first.
	Requests(ctx context.Context, f RequestFilter) ([]*Request, error)

	// Audit returns entries matching f.
	Audit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
	// AuditLog iterates over the whole log in storage order, for
	// verification, in bounded memory.
	AuditLog(ctx context.Context) iter.Seq2[*AuditEntry, error]
	// AuditHead returns the signed head. ENOTFOUND if never signed.
	AuditHead(ctx context.Context) (*AuditHead, error)

	// CreateAPIKey stores k. ECONFLICT if its id exists.
	CreateAPIKey(ctx context.Context, k *APIKey, audit *AuditEntry) error
	// APIKey returns a key by id. ENOTFOUND if absent.
	APIKey(ctx context.Context, id string) (*APIKey, error)
	// APIKeys lists keys, newest first.
	APIKeys(ctx context.Context) ([]*APIKey, error)
	// TouchAPIKeys records when keys were last used (later times win).
	// Unknown ids are ignored. It writes no audit entry: each use is
	// audited by the request itself.
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error
	// RevokeAPIKey marks a key revoked. ENOTFOUND if absent.
	RevokeAPIKey(ctx context.Context, id string, audit *AuditEntry) error

	// CreateOperator stores a new operator. ECONFLICT if the name exists.
	CreateOperator(ctx context.Context, op *Operator, audit *AuditEntry) error
	// Operator returns an operator. ENOTFOUND if absent.
	Operator(ctx context.Context, username string) (*Operator, error)
	// Operators lists operators by name.
	Operators(ctx context.Context) ([]*Operator, error)
	// UpdateOperator replaces an operator whose Version is still op.Version
	// (and bumps it). ECONFLICT if it moved on, ENOTFOUND if gone.
	UpdateOperator(ctx context.Context, op *Operator, audit *AuditEntry) error
	// CreateSession stores a session.
	CreateSession(ctx context.Context, s *Session, audit *AuditEntry) error
	// Session returns a session. ENOTFOUND if absent.
	Session(ctx context.Context, id string) (*Session, error)
	// SeeSession records activity on a session (idle timeout).
	SeeSession(ctx context.Context, id string, at time.Time) error
	// DeleteSessions ends sessions: one by id, or every one of username
	// when id is empty.
	DeleteSessions(ctx context.Context, id, username string, audit *AuditEntry) error

	// SaveSchema stores the schema document (the source text).
	SaveSchema(ctx context.Context, doc []byte, audit *AuditEntry) error
	// Schema returns the stored schema document. ENOTFOUND if none.
	Schema(ctx context.Context) ([]byte, error)

	Close() error
}
