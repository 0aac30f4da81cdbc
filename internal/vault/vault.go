package vault

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/identity"
	"github.com/cofferhq/coffer/internal/schema"
	"github.com/cofferhq/coffer/internal/seal"
)

// Vault holds the keys and the use cases over one store. It is safe for
// concurrent use. Each use case is a small type of its own:
//
//	Records   create, read, update, delete and search records
//	Tokens    tokenize, detokenize, revoke, format-preserving encryption
//	Privacy   consent, restriction, data-subject requests, export, retention
//	Identity  API keys, operators, sessions, logins, WebAuthn, rate limits
//	Admin     the schema and the audit log
//
// The Vault itself owns the key lifecycle: Unseal, Seal, key rotation.
type Vault struct {
	Records  *Records
	Tokens   *Tokens
	Privacy  *Privacy
	Identity *Identity
	Admin    *Admin

	core *core
}

// core is what every use case shares: the store, the clock, the log, the
// current schema and the unsealed keys.
type core struct {
	store coffer.Store
	// raw is the store as given, for the optional capabilities a store
	// may have (coffer.Pinger, SubjectWatcher, JobLocker): store wraps it
	// to scrub audit entries and hides them.
	raw    coffer.Store
	log    *slog.Logger
	now    func() time.Time
	schema atomic.Pointer[loadedSchema]
	keys   atomic.Pointer[unsealed] // nil while sealed
	// refusals coalesces the audit entries of refusals made before any
	// decision (refusals.go).
	refusals *audit.Coalescer

	bgMu   sync.Mutex
	bg     sync.WaitGroup // background goroutines, waited for by Close
	closed bool
	// bgCtx is the context of background jobs, cancelled by Close (a job
	// waiting for another node's lock stops waiting).
	bgCtx  context.Context
	stopBG context.CancelFunc

	purges purger // the job deleting what schema changes dropped

	keySrc   KeySource   // nil: keys cannot be rotated on this vault
	signer   AuditSigner // nil: the store's log is unsigned (tests)
	rotation rotation    // the background re-wrap (keys.go)
	reindex  reindex     // the re-index after a derived-key rotation (reindex.go)
}

type loadedSchema struct {
	s   *coffer.Schema
	doc []byte
}

// Options configure a Vault.
type Options struct {
	Store  coffer.Store
	Keys   *coffer.RootKeys // nil: start sealed
	Schema []byte           // schema document used when the store holds none
	// SchemaName names the document in errors ("examples/shop.yaml").
	SchemaName string
	Logger     *slog.Logger
	Now        func() time.Time // for tests; default time.Now
	// RateLimit applies to every API key (zero: no limit).
	RateLimit RateLimit
	// Policy is the security policy operators acknowledge (default
	// DefaultPolicy).
	Policy SecurityPolicy
	// HashConcurrency bounds concurrent argon2id hashes, 64 MiB each
	// (default 2).
	HashConcurrency int
	// WebAuthn, when RPID is set, enables security keys and passkeys as an
	// operator's second factor.
	WebAuthn WebAuthnConfig
	// Privacy configures data-subject requests.
	Privacy PrivacyOptions
	// KeySource persists KEK rotations and retirements (nil: the keys API
	// answers that this server cannot rotate).
	KeySource KeySource
	// Hold is what KeySource holds for as long as Keys are installed (an
	// envelope provider's root): destroyed with them, or when New fails.
	Hold Holder
	// AuditSigner is the store's audit signer: a rotation of the
	// derived-key root adds its audit key (nil: an unsigned log).
	AuditSigner AuditSigner
}

// AuditSigner is what the vault needs of the audit signer the store signs
// with (audit.Signer): the audit key follows the derived-key root (SPEC
// §4), so a rotation, or an unseal with keys that hold a newer version,
// installs it; verification uses every version's public key.
type AuditSigner interface {
	Install(keys *coffer.RootKeys) error
	PublicKeys() map[uint32]ed25519.PublicKey
}

// A Holder is secret material a key source holds exactly as long as the
// keys installed with it (keyring.Lease: an envelope provider's unsealed
// root, from which rotation derives new versions). The vault destroys it
// when it drops those keys: a seal, another unseal, Close.
type Holder interface{ Destroy() }

// New returns a vault over a store. The schema stored in the database wins
// over Options.Schema, which seeds an empty store.
func New(ctx context.Context, o Options) (*Vault, error) {
	v, err := newVault(ctx, o)
	if err != nil && o.Hold != nil {
		o.Hold.Destroy()
	}
	return v, err
}

func newVault(ctx context.Context, o Options) (*Vault, error) {
	c := &core{log: o.Logger, now: o.Now, keySrc: o.KeySource, signer: o.AuditSigner}
	c.bgCtx, c.stopBG = context.WithCancel(context.Background())
	c.store, c.raw = &scrubStore{Store: o.Store, c: c}, o.Store // every audit entry is scrubbed (scrub.go)
	c.refusals = c.newRefusals()
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if err := c.loadSchema(ctx, o.Schema, o.SchemaName); err != nil {
		return nil, err
	}
	c.watchSubjects()

	pol := o.Policy
	if pol.Version == "" {
		pol.Version, pol.Text = DefaultPolicy.Version, DefaultPolicy.Text
	}
	if pol.TrainingValidity <= 0 {
		pol.TrainingValidity = 365 * 24 * time.Hour
	}
	id := &Identity{core: c, keyCache: map[string]cachedKey{}, limits: newLimiter(o.RateLimit), used: map[string]time.Time{},
		throttle: identity.DefaultLoginThrottle(),
		hasher:   identity.NewHasher(max(o.HashConcurrency, 2)), policy: pol}
	id.ceremonies.pending = map[string]ceremony{}
	if o.WebAuthn.RPID != "" {
		wa, err := webauthn.New(&webauthn.Config{RPID: o.WebAuthn.RPID, RPDisplayName: "Coffer", RPOrigins: o.WebAuthn.Origins})
		if err != nil {
			return nil, coffer.Errorf(coffer.EINVALID, "webauthn: %v", err)
		}
		id.wa = wa
	}

	priv := o.Privacy
	if priv.RequestRetention <= 0 {
		priv.RequestRetention = 730 * 24 * time.Hour
	}
	if priv.Location == nil {
		priv.Location = time.UTC
	}
	v := &Vault{core: c, Records: &Records{core: c}, Tokens: &Tokens{core: c}, Privacy: &Privacy{core: c, opts: priv},
		Identity: id, Admin: &Admin{core: c}}
	if o.Keys != nil {
		if err := v.UnsealHolding(o.Keys, o.Hold); err != nil {
			return nil, err
		}
	} else if o.Hold != nil {
		o.Hold.Destroy()
	}
	return v, nil
}

// loadSchema loads the stored schema, or stores and loads doc when the
// store holds none.
func (c *core) loadSchema(ctx context.Context, doc []byte, name string) error {
	stored, err := c.store.Schema(ctx)
	switch {
	case coffer.ErrorCode(err) == coffer.ENOTFOUND:
		if doc == nil {
			return coffer.Errorf(coffer.EINVALID, "no schema: the store holds none and none was given")
		}
		sc, err := schema.Parse(name, doc)
		if err != nil {
			return err
		}
		if err := c.store.SaveSchema(ctx, doc, c.now(), &coffer.AuditEntry{Actor: "system", Action: "schema.load", Outcome: coffer.OutcomeAllowed}); err != nil {
			return err
		}
		c.schema.Store(&loadedSchema{s: sc, doc: doc})
	case err != nil:
		return err
	default:
		sc, err := schema.Parse("stored schema", stored)
		if err != nil {
			return err
		}
		c.schema.Store(&loadedSchema{s: sc, doc: stored})
	}
	return nil
}

// Unseal installs root keys; data calls work from then on.
func (v *Vault) Unseal(keys *coffer.RootKeys) error { return v.UnsealHolding(keys, nil) }

// UnsealHolding is Unseal with what the key source holds for as long as
// these keys are installed (see Holder); h, when not nil, is destroyed
// with the keys, or at once when the unseal fails.
func (v *Vault) UnsealHolding(keys *coffer.RootKeys, h Holder) (err error) {
	if h != nil {
		defer func() {
			if err != nil {
				h.Destroy()
			}
		}()
	}
	s, err := seal.New(keys)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.Wipe() // a failed unseal keeps no key it derived
		}
	}()
	if err := v.core.checkCredentials(context.Background(), s); err != nil {
		return err
	}
	indexed, err := v.core.store.IndexVersions(context.Background())
	if err != nil {
		return err
	}
	if v.core.signer != nil {
		if err := v.core.signer.Install(keys); err != nil {
			return err
		}
	}
	ops, err := v.core.store.Operators(context.Background())
	if err != nil {
		return err
	}
	u := newUnsealed(s)
	u.held = h
	if old := v.core.keys.Swap(u); old != nil {
		old.drop()
	}
	v.core.startPurges() // resumes purges a restart or a seal interrupted
	v.core.resumeReindex(indexed, staleTOTP(ops, s.DerivedVersion()), s.DerivedVersion())
	return nil
}

// Seal drops every key from memory: the sealer (KEKs, index root key),
// the subject DEK cache, the token-namespace keys and the FPE ciphers, all
// held by one pointer that is set to nil. It waits for the calls using the
// keys to finish, then zeroes the key bytes it holds. From then on data
// calls answer ESEALED.
func (v *Vault) Seal() {
	if old := v.core.keys.Swap(nil); old != nil {
		old.drop()
	}
}

// Sealed reports whether the vault is sealed.
func (v *Vault) Sealed() bool { return v.core.keys.Load() == nil }

// Schema returns the current schema.
func (v *Vault) Schema() *coffer.Schema { return v.core.Schema() }

// Close seals the vault and waits for its background goroutines (stores
// of API keys' last-used times, read-ahead of retention pages). Call it
// before closing the store.
func (v *Vault) Close() error {
	c := v.core
	c.bgMu.Lock()
	c.closed = true
	c.bgMu.Unlock()
	if c.stopBG != nil { // nil on a core built without New (internal tests)
		c.stopBG()
	}
	c.bg.Wait()
	if c.refusals != nil {
		c.refusals.Close() // pending summaries are written before the store closes
	}
	v.Seal()
	return nil
}

// Schema returns the current schema.
func (c *core) Schema() *coffer.Schema { return c.schema.Load().s }

// spawn runs f in a goroutine that Close waits for; once the vault is
// closed, f runs before spawn returns.
func (c *core) spawn(f func()) {
	c.bgMu.Lock()
	if c.closed {
		c.bgMu.Unlock()
		f()
		return
	}
	c.bg.Add(1)
	c.bgMu.Unlock()
	go func() {
		defer c.bg.Done()
		f()
	}()
}

var errSealed = coffer.Errorf(coffer.ESEALED, "the vault is sealed")

// open returns the unsealed keys for one call, and the function that ends
// the call's use of them (Seal waits for it). ESEALED while sealed.
func (c *core) open() (*unsealed, func(), error) {
	u := c.keys.Load()
	if u == nil || !u.acquire() {
		return nil, nil, errSealed
	}
	return u, u.release, nil
}

// RewrapAll re-wraps every subject DEK and token-namespace key that is
// not under the current KEK version (key rotation: field values are not
// re-encrypted) and returns how many it re-wrapped. Each batch of 1,000 is
// one audited transaction.
func (v *Vault) RewrapAll(ctx context.Context) (int, error) { return v.core.rewrapAll(ctx) }

// KEKVersions counts subjects per KEK version.
func (v *Vault) KEKVersions(ctx context.Context) (map[uint32]int64, error) {
	return v.core.store.KEKVersions(ctx)
}
