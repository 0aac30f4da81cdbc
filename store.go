package coffer

import (
	"context"
	"io"
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
	NewSubjects []*Subject // ECONFLICT if one exists already
	// Creates are inserted; ECONFLICT if the id exists, ENOTFOUND if the
	// subject is gone (erased, perhaps through another node: a record is
	// never orphaned; so are NewTokens and Updates).
	Creates []*StoredRecord
	// Updates replace fields and index; ECONFLICT if gone or its Version
	// moved on. A field whose sealed value changes or goes loses its
	// tokens (Token.Record and Field) in the same transaction.
	Updates []*StoredRecord
	Deletes []RecordRef // ENOTFOUND if gone; the record's tokens go with it
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
	// NewNamedKeys add versions of named keys (a rotation); ECONFLICT if
	// the kind, name and version exist (a concurrent rotation won).
	NewNamedKeys []*NamedKey
	// NewTokens are stored; a token that exists with the same namespace and
	// fingerprint is the same tokenization (kept), with another it is a
	// collision: ECONFLICT.
	NewTokens []*Token
	// RevokeTokens revokes tokens; ENOTFOUND if one is unknown.
	RevokeTokens []string
	// DeleteTokens deletes tokens (a retention sweep of expired ones);
	// unknown ones are skipped.
	DeleteTokens []string
	// SchemaDoc, when not nil, replaces the stored schema document
	// (updated at At), and NewPurges record what it dropped, in the same
	// transaction: ECONFLICT if a purge of the same name is still pending.
	SchemaDoc []byte
	SchemaMAC []byte // the root-derived MAC of SchemaDoc (credential rows, SPEC §4)
	NewPurges []*Purge
	// PurgesDone ends purges whose values are all deleted; unknown ids are
	// skipped.
	PurgesDone []string
	Audit      []*AuditEntry
	// At is when the change is made, set by the caller (stores never read
	// the clock): it stamps erasures in the ledger, token revocations and
	// the schema document. A change with Erasures, RevokeTokens or
	// SchemaDoc and a zero At fails (EINTERNAL).
	At time.Time
}

// Purge is a field (or, with Field "", a whole collection) that a schema
// change dropped while values of it were stored. Until the purge ends, the
// values are invisible and the name cannot be declared again; a background
// job deletes them a page at a time.
type Purge struct {
	ID         string
	Collection string
	Field      string // "": the whole collection
	CreatedAt  time.Time
}

// Rewrap is one subject's DEK (or, when Namespace is set, one token
// namespace's key) wrapped anew under another KEK version.
type Rewrap struct {
	Subject    string
	Namespace  string // a token-namespace key instead of a subject's DEK
	OldVersion uint32
	WrappedDEK []byte
	KEKVersion uint32
}

// Store persists subjects, sealed records, blind indexes, tokens,
// credentials, the schema document and the audit log. It never decides
// access and never sees a plaintext value. Implementations:
// internal/sqlite and internal/postgres (both over internal/sqlstore), held
// to one suite in internal/storetest.
//
// It is the sum of role interfaces; a consumer that needs one role takes
// that one. Every method may also fail with EINTERNAL (a storage failure,
// a closed or read-only store) or the context's error; the codes listed
// per method are the domain errors. Durable means the transaction is on
// stable storage (fsync'd) before the method returns; every write that
// takes audit entries appends them in the same transaction, and when the
// write fails with a domain error the entries are still appended with
// Outcome error and Reason the code.
type Store interface {
	Committer
	RecordReader
	IndexStore
	SubjectStore
	PrivacyReader
	TokenReader
	AuditReader
	CredentialStore
	OperatorStore
	SchemaStore
	NamedKeyReader
	io.Closer
}

// Committer is the store's general write: a Change and its audit entries.
type Committer interface {
	// Commit applies ch and appends its audit entries, durably, all or
	// nothing. Errors: those listed on Change (ECONFLICT, ENOTFOUND).
	Commit(ctx context.Context, ch *Change) error
	// AppendAudit appends entries durably (reads, denials). No domain
	// errors.
	AppendAudit(ctx context.Context, entries ...*AuditEntry) error
}

// RecordReader reads sealed records.
type RecordReader interface {
	// Record returns one record of collection. ENOTFOUND if absent (or in
	// another collection).
	Record(ctx context.Context, collection, id string) (*StoredRecord, error)
	// FindRecords returns the records q selects, at most q.Limit, oldest
	// first. Every filter of q is applied before the limit. None found is
	// no error.
	FindRecords(ctx context.Context, q RecordQuery) ([]*StoredRecord, error)
	// SubjectRecords returns every record of a subject, oldest first.
	SubjectRecords(ctx context.Context, subject string) ([]*StoredRecord, error)
	// ExpiredRecords returns up to limit records of collection last
	// updated before cutoff, in (updated, id) order after the cursor
	// (afterUpdated, afterID); the zero cursor starts at the oldest. The
	// records carry their Index (the sweeper rewrites them).
	ExpiredRecords(ctx context.Context, collection string, cutoff, afterUpdated time.Time, afterID string, limit int) ([]*StoredRecord, error)
}

// RecordQuery selects records of a collection by exact blind-index matches.
// A search leaves out what its caller may not see in the store, before the
// limit, so that the limit cannot reveal a hidden match (SPEC §3).
type RecordQuery struct {
	Collection string
	// Where: every entry must match (at least one), hashed under derived
	// version IndexVersion (0 means 1); only records indexed under that
	// version match.
	Where        []IndexEntry
	IndexVersion uint32
	// Older are the same fields hashed under other derived versions (while
	// a re-index moves records to IndexVersion): a record matches when it
	// matches every entry of the version it is indexed under.
	Older []IndexedWhere
	// UpdatedSince leaves out records last updated before it (retention);
	// zero: no bound.
	UpdatedSince time.Time
	// Unrestricted leaves out the records of restricted subjects.
	Unrestricted bool
	After        string // record id cursor: only ids after it
	Limit        int
}

// IndexedWhere is a RecordQuery's Where under one derived version.
type IndexedWhere struct {
	Version uint32
	Where   []IndexEntry
}

// Reindex is one record's blind index computed anew under another derived
// version, from the record as it was read (at Version).
type Reindex struct {
	Collection   string
	Record       string
	Version      int64 // the record's version when it was read
	Index        []IndexEntry
	IndexVersion uint32
}

// IndexStore re-computes blind indexes under a new derived-key root
// version (SPEC §4): a background job pages through the records indexed
// under an older one.
type IndexStore interface {
	// IndexVersions counts records per derived version of their index.
	IndexVersions(ctx context.Context) (map[uint32]int64, error)
	// RecordsIndexedBelow returns up to limit records (with IndexVersion)
	// whose index was computed under a derived version lower than version,
	// in id order after afterID.
	RecordsIndexedBelow(ctx context.Context, version uint32, afterID string, limit int) ([]*StoredRecord, error)
	// Reindex replaces records' blind indexes, each only if the record is
	// still at the version it was read with and indexed under a lower
	// derived version; it returns how many it replaced, and appends audit
	// in the same transaction. Neither the record's version nor its
	// updated time changes. No domain errors: a stale one is skipped.
	Reindex(ctx context.Context, rs []Reindex, audit *AuditEntry) (int, error)
}

// SubjectStore reads subjects and rotates their wrapped DEKs.
type SubjectStore interface {
	// Subject returns a subject. ENOTFOUND if absent.
	Subject(ctx context.Context, id string) (*Subject, error)
	// SubjectsBelow returns up to limit subjects whose DEK is wrapped under
	// a KEK version lower than version, in id order after afterID.
	SubjectsBelow(ctx context.Context, version uint32, afterID string, limit int) ([]*Subject, error)
	// Rewrap replaces wrapped DEKs (key rotation), each only if the subject
	// still has the KEK version it was read with; it returns how many it
	// replaced, and appends audit in the same transaction. No domain
	// errors: a stale rewrap is skipped, not refused.
	Rewrap(ctx context.Context, rewraps []Rewrap, audit *AuditEntry) (int, error)
	// KEKVersions counts subjects per KEK version.
	KEKVersions(ctx context.Context) (map[uint32]int64, error)
	// TokenKeysBelow returns up to limit token-namespace keys wrapped under
	// a KEK version lower than version, in namespace order after afterNS
	// (Rewrap with Namespace set replaces them).
	TokenKeysBelow(ctx context.Context, version uint32, afterNS string, limit int) ([]*TokenKey, error)
	// TokenKEKVersions counts token-namespace keys per KEK version.
	TokenKEKVersions(ctx context.Context) (map[uint32]int64, error)
}

// PrivacyReader reads consent histories, the erasure ledger and
// data-subject requests.
type PrivacyReader interface {
	// Consents returns a subject's consent history, oldest first (empty for
	// an unknown subject).
	Consents(ctx context.Context, subject string) ([]*ConsentEvent, error)
	// Erased reports whether the ledger holds any of hashes (a subject's
	// hash under each derived-key root version: an entry keeps the version
	// it was made under).
	Erased(ctx context.Context, hashes ...[]byte) (bool, error)
	// ErasureLedger returns the whole erasure ledger (keyed hashes, no
	// ids), oldest first.
	ErasureLedger(ctx context.Context) ([]LedgerEntry, error)
	// Request returns a data-subject request. ENOTFOUND if absent.
	Request(ctx context.Context, id string) (*Request, error)
	// Requests lists requests matching f, newest first.
	Requests(ctx context.Context, f RequestFilter) ([]*Request, error)
}

// TokenReader reads the token vault (tokens are written by Commit).
type TokenReader interface {
	// TokenKey returns a namespace's key. ENOTFOUND if absent.
	TokenKey(ctx context.Context, namespace string) (*TokenKey, error)
	// Tokens returns the tokens found among ids (absent ones are left out:
	// no error). A token of a record field under a pending Purge is left
	// out too: the values a schema change dropped are invisible at once.
	Tokens(ctx context.Context, ids []string) (map[string]*Token, error)
	// ExpiredTokens returns up to limit tokens whose expiry is before
	// cutoff, in expiry order.
	ExpiredTokens(ctx context.Context, cutoff time.Time, limit int) ([]*Token, error)
}

// NamedKeyReader reads the versions of named keys (FPE keys and
// deterministic-token namespaces; added by Commit's NewNamedKeys). The
// table is shared by every node of a store, so a rotation on one is seen
// by the next call on any other.
type NamedKeyReader interface {
	// NamedKeyVersions returns the versions (2 and up) of one named key,
	// oldest first; none means the name is at its implicit version 1.
	NamedKeyVersions(ctx context.Context, kind NamedKeyKind, name string) ([]*NamedKey, error)
	// NamedKeys returns every stored version of every named key, by kind,
	// name and version.
	NamedKeys(ctx context.Context) ([]*NamedKey, error)
}

// AuditReader reads the audit log.
type AuditReader interface {
	// Audit returns entries matching f.
	Audit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
	// AuditLog iterates over the whole log in storage order, for
	// verification, in bounded memory.
	AuditLog(ctx context.Context) iter.Seq2[*AuditEntry, error]
	// AuditHead returns the signed head. ENOTFOUND if never signed.
	AuditHead(ctx context.Context) (*AuditHead, error)
	// Checkpoints returns the log's signed checkpoints, oldest first.
	Checkpoints(ctx context.Context) ([]*AuditCheckpoint, error)
}

// CredentialStore keeps API keys.
type CredentialStore interface {
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
	// RevokeAPIKey marks a key revoked at at. ENOTFOUND if absent or
	// revoked already.
	RevokeAPIKey(ctx context.Context, id string, at time.Time, audit *AuditEntry) error
	// SetCredentialMACs writes MACs (and API-key verifiers) over the rows
	// that have no MAC yet; rows that have one are left alone.
	SetCredentialMACs(ctx context.Context, m *CredentialMACs, audit *AuditEntry) error
}

// OperatorStore keeps operators and their sessions.
type OperatorStore interface {
	// CreateOperator stores a new operator. ECONFLICT if the name exists.
	CreateOperator(ctx context.Context, op *Operator, audit *AuditEntry) error
	// Operator returns an operator. ENOTFOUND if absent.
	Operator(ctx context.Context, username string) (*Operator, error)
	// Operators lists operators by name.
	Operators(ctx context.Context) ([]*Operator, error)
	// UpdateOperator replaces an operator whose Version is still op.Version
	// (and bumps it). ECONFLICT if it moved on or the operator is gone.
	UpdateOperator(ctx context.Context, op *Operator, audit *AuditEntry) error
	// CreateSession stores a session. No domain errors.
	CreateSession(ctx context.Context, s *Session, audit *AuditEntry) error
	// Session returns a session. ENOTFOUND if absent.
	Session(ctx context.Context, id string) (*Session, error)
	// SeeSession records activity on a session (idle timeout); later
	// times win, an unknown id is ignored.
	SeeSession(ctx context.Context, id string, at time.Time) error
	// DeleteSessions ends sessions: one by id, or every one of username
	// when id is empty. Ending none is no error.
	DeleteSessions(ctx context.Context, id, username string, audit *AuditEntry) error
}

// SchemaStore keeps the schema document (its source text).
type SchemaStore interface {
	// SaveSchema stores the document, updated at at. No domain errors.
	SaveSchema(ctx context.Context, doc []byte, at time.Time, audit *AuditEntry) error
	// SaveSchemaMAC stores the document with its MAC (SPEC §4).
	SaveSchemaMAC(ctx context.Context, doc, mac []byte, at time.Time, audit *AuditEntry) error
	// SchemaMAC returns the stored document's MAC (nil: none yet).
	// ENOTFOUND if no schema is stored.
	SchemaMAC(ctx context.Context) ([]byte, error)
	// Schema returns the stored document. ENOTFOUND if none.
	Schema(ctx context.Context) ([]byte, error)
	// Purges returns the pending purges, oldest first.
	Purges(ctx context.Context) ([]*Purge, error)
	// CountValues counts a collection's stored records, and per field name
	// the records holding a value of it.
	CountValues(ctx context.Context, collection string) (records int64, fields map[string]int64, err error)
}

// Pinger is a store that can tell whether its database answers (the
// readiness probe). Both stores implement it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// SubjectWatcher is a store that several nodes share: it tells each node
// when another one erased or re-keyed a subject, so that the node drops
// what it caches of the subject (its unwrapped DEK). changed(id) names the
// subject; changed("") means notices may have been missed (a reconnect):
// drop everything. A node's own commits are reported too.
type SubjectWatcher interface {
	WatchSubjects(changed func(subject string))
}

// KeysChanged is what a SubjectWatcher reports, in place of a subject id,
// when a node tells the others that the key source changed (a rotation or
// retirement; KeyNotifier). No subject id has this shape (ids start with a
// letter).
const KeysChanged = "*keys"

// KeyNotifier is a store that several nodes share: NotifyKeys tells every
// node (this one too) to re-read its key source, so that a key change on
// one node is seen by every other (SPEC §7).
type KeyNotifier interface {
	NotifyKeys(ctx context.Context) error
}

// JobLocker is a store that several nodes share: background jobs take a
// named lock so that one node at a time runs each (SPEC §7). TryLock
// returns ok false when another node holds the lock; unlock releases it
// (and is a no-op when ok is false).
type JobLocker interface {
	TryLock(ctx context.Context, job string) (unlock func(), ok bool, err error)
}

// JobWaiter is a JobLocker that can also wait for a job's lock: Lock
// blocks until this node holds it (another node's run ended) or ctx ends.
// A job that must run after another node's (a key re-wrap started by a
// later rotation) waits instead of skipping.
type JobWaiter interface {
	JobLocker
	Lock(ctx context.Context, job string) (unlock func(), err error)
}
