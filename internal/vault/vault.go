package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/identity"
	"github.com/cofferhq/coffer/internal/policy"
	"github.com/cofferhq/coffer/internal/schema"
	"github.com/cofferhq/coffer/internal/seal"
)

// Vault is the use-case layer. It is safe for concurrent use.
type Vault struct {
	store  coffer.Store
	log    *slog.Logger
	now    func() time.Time
	sealer atomic.Pointer[seal.Sealer] // nil while sealed
	schema atomic.Pointer[loadedSchema]
	deks   *seal.DEKCache

	keyMu      sync.Mutex
	keyCache   map[string]cachedKey // API key id → key, for keyCacheTTL
	limits     *limiter
	logins     *limiter // login attempts per client address
	hasher     *identity.Hasher
	policy     SecurityPolicy
	wa         *webauthn.WebAuthn // nil: WebAuthn not configured
	ceremonies ceremonies
	privacy    PrivacyOptions
	tokenKeys  sync.Map // token namespace → *seal.DEK
	fpeCiphers sync.Map // key name|algorithm|alphabet → fpe.Cipher

	useMu     sync.Mutex
	used      map[string]time.Time // API key id → last use, not yet stored
	usedFlush time.Time            // when used was last flushed
}

// usedFlushEvery bounds how stale a key's stored last-used time may be.
const usedFlushEvery = 30 * time.Second

// noteUse records a key's use; every usedFlushEvery the uses are stored in
// the background, so the request path never waits for that write.
func (v *Vault) noteUse(id string, now time.Time) {
	v.useMu.Lock()
	v.used[id] = now
	due := now.Sub(v.usedFlush) >= usedFlushEvery
	var batch map[string]time.Time
	if due {
		batch, v.used, v.usedFlush = v.used, map[string]time.Time{}, now
	}
	v.useMu.Unlock()
	if due {
		go func() {
			if err := v.store.TouchAPIKeys(context.Background(), batch); err != nil {
				v.log.Warn("could not store API key last-used times", "err", err)
			}
		}()
	}
}

// flushUses stores pending last-used times now.
func (v *Vault) flushUses(ctx context.Context) error {
	v.useMu.Lock()
	batch := v.used
	v.used, v.usedFlush = map[string]time.Time{}, v.now()
	v.useMu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	return v.store.TouchAPIKeys(ctx, batch)
}

type loadedSchema struct {
	s   *coffer.Schema
	doc []byte
}

type cachedKey struct {
	k       *coffer.APIKey
	fetched time.Time
}

// keyCacheTTL bounds how long another node's revocation takes to apply here.
const keyCacheTTL = 5 * time.Second

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
}

// New returns a vault over a store. The schema stored in the database wins
// over Options.Schema, which seeds an empty store.
func New(ctx context.Context, o Options) (*Vault, error) {
	v := &Vault{store: o.Store, log: o.Logger, now: o.Now, deks: seal.NewDEKCache(100_000), keyCache: map[string]cachedKey{},
		limits: newLimiter(o.RateLimit), used: map[string]time.Time{},
		logins: newLimiter(RateLimit{PerSecond: 0.2, Burst: 10}), // 10 attempts, then one per 5 s per address
		hasher: identity.NewHasher(max(o.HashConcurrency, 2)), policy: o.Policy}
	if v.policy.Version == "" {
		v.policy.Version, v.policy.Text = DefaultPolicy.Version, DefaultPolicy.Text
	}
	v.ceremonies.pending = map[string]ceremony{}
	v.privacy = o.Privacy
	if v.privacy.RequestRetention <= 0 {
		v.privacy.RequestRetention = 730 * 24 * time.Hour
	}
	if v.privacy.Location == nil {
		v.privacy.Location = time.UTC
	}
	if o.WebAuthn.RPID != "" {
		wa, err := webauthn.New(&webauthn.Config{RPID: o.WebAuthn.RPID, RPDisplayName: "Coffer", RPOrigins: o.WebAuthn.Origins})
		if err != nil {
			return nil, coffer.Errorf(coffer.EINVALID, "webauthn: %v", err)
		}
		v.wa = wa
	}
	if v.policy.TrainingValidity <= 0 {
		v.policy.TrainingValidity = 365 * 24 * time.Hour
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	doc, err := o.Store.Schema(ctx)
	name := "stored schema"
	switch {
	case coffer.ErrorCode(err) == coffer.ENOTFOUND:
		if o.Schema == nil {
			return nil, coffer.Errorf(coffer.EINVALID, "no schema: the store holds none and none was given")
		}
		doc, name = o.Schema, o.SchemaName
		sc, err := schema.Parse(name, doc)
		if err != nil {
			return nil, err
		}
		if err := o.Store.SaveSchema(ctx, doc, v.now(), &coffer.AuditEntry{Actor: "system", Action: "schema.load", Outcome: coffer.OutcomeAllowed}); err != nil {
			return nil, err
		}
		v.schema.Store(&loadedSchema{s: sc, doc: doc})
	case err != nil:
		return nil, err
	default:
		sc, err := schema.Parse(name, doc)
		if err != nil {
			return nil, err
		}
		v.schema.Store(&loadedSchema{s: sc, doc: doc})
	}
	if o.Keys != nil {
		if err := v.Unseal(o.Keys); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Unseal installs root keys; data calls work from then on.
func (v *Vault) Unseal(keys *coffer.RootKeys) error {
	s, err := seal.New(keys)
	if err != nil {
		return err
	}
	v.sealer.Store(s)
	return nil
}

// Seal drops the keys from memory; data calls answer ESEALED.
func (v *Vault) Seal() {
	v.sealer.Store(nil)
	v.deks.Clear()
}

// Sealed reports whether the vault is sealed.
func (v *Vault) Sealed() bool { return v.sealer.Load() == nil }

var errSealed = coffer.Errorf(coffer.ESEALED, "the vault is sealed")

func (v *Vault) unsealed() (*seal.Sealer, error) {
	s := v.sealer.Load()
	if s == nil {
		return nil, errSealed
	}
	return s, nil
}

// Schema returns the current schema.
func (v *Vault) Schema() *coffer.Schema { return v.schema.Load().s }

// Call is one request as the vault sees it: who, for what purpose, which
// request. Handlers build it from the authenticated actor and the headers.
type Call struct {
	Actor     *coffer.Actor
	Purpose   string
	RequestID string
}

// entry starts an audit entry for c.
func (c *Call) entry(action, collection string) *coffer.AuditEntry {
	e := &coffer.AuditEntry{Action: action, Collection: collection, Purpose: c.Purpose, RequestID: c.RequestID}
	if c.Actor != nil {
		e.Actor = c.Actor.ID
		if c.Actor.ClientIP.IsValid() {
			e.ClientIP = c.Actor.ClientIP.String()
		}
	}
	return e
}

// API keys look like coffer_<id>_<secret>. Only SHA-256(secret) is stored:
// the secret has 256 bits of entropy, so a slow hash would add nothing.
const keyPrefix = "coffer_"

func constantEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

var errBadToken = coffer.Errorf(coffer.EUNAUTHENTICATED, "invalid or revoked API key")

// Authenticate resolves a bearer token into an actor. The token never
// appears in an error.
func (v *Vault) Authenticate(ctx context.Context, token string, client netip.Addr) (*coffer.Actor, error) {
	if strings.HasPrefix(token, sessionPrefix) {
		return v.authenticateSession(ctx, token, client)
	}
	rest, ok := strings.CutPrefix(token, keyPrefix)
	if !ok {
		return nil, errBadToken
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) == 0 || len(id) > 40 || len(secret) == 0 {
		return nil, errBadToken
	}
	id = "key_" + id
	k, err := v.apiKey(ctx, id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	if !constantEqual(hashSecret(secret), k.Hash) || !k.RevokedAt.IsZero() {
		return nil, errBadToken
	}
	if ok, retry, audit := v.limits.allow(k.ID, v.now()); !ok {
		if audit {
			e := &coffer.AuditEntry{Actor: k.ID, Action: "request", Outcome: coffer.OutcomeDenied, Reason: "rate limited"}
			if client.IsValid() {
				e.ClientIP = client.String()
			}
			if err := v.store.AppendAudit(ctx, e); err != nil {
				return nil, err
			}
		}
		return nil, &RateLimited{RetryAfter: retry}
	}
	v.noteUse(k.ID, v.now())
	a := &coffer.Actor{ID: k.ID, Kind: coffer.ActorAPIKey, RoleName: k.Role, Role: v.Schema().Roles[k.Role],
		ClientIP: client, ExpiresAt: k.ExpiresAt}
	for _, c := range k.AllowedCIDRs {
		if p, err := netip.ParsePrefix(c); err == nil {
			a.AllowedCIDRs = append(a.AllowedCIDRs, p)
		}
	}
	return a, nil
}

func (v *Vault) apiKey(ctx context.Context, id string) (*coffer.APIKey, error) {
	now := v.now()
	v.keyMu.Lock()
	c, ok := v.keyCache[id]
	v.keyMu.Unlock()
	if ok && now.Sub(c.fetched) < keyCacheTTL {
		return c.k, nil
	}
	k, err := v.store.APIKey(ctx, id)
	if err != nil {
		return nil, err
	}
	v.keyMu.Lock()
	if len(v.keyCache) > 10_000 {
		clear(v.keyCache)
	}
	v.keyCache[id] = cachedKey{k: k, fetched: now}
	v.keyMu.Unlock()
	return k, nil
}

// NewAPIKey is a key to create.
type NewAPIKey struct {
	Name         string
	Role         string
	AllowedCIDRs []string
	ExpiresIn    time.Duration // 0: never
}

// CreateAPIKey creates a key and returns its id and the token, which is
// shown once and never stored. Only admins may call it; a nil actor is the
// system bootstrapping (coffer serve --dev).
func (v *Vault) CreateAPIKey(ctx context.Context, c *Call, nk NewAPIKey) (id, token string, err error) {
	e := c.entry("api_key.create", "")
	if c.Actor == nil {
		e.Actor = "system"
	} else if err := v.requireAdmin(ctx, c, e); err != nil {
		return "", "", err
	}
	if nk.Name == "" || len(nk.Name) > 100 {
		return "", "", coffer.Errorf(coffer.EINVALID, "name: required, at most 100 characters")
	}
	if _, ok := v.Schema().Roles[nk.Role]; !ok {
		return "", "", coffer.Errorf(coffer.EINVALID, "role: %s is not a role of the schema", coffer.Name(nk.Role))
	}
	for _, cidr := range nk.AllowedCIDRs {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			return "", "", coffer.Errorf(coffer.EINVALID, "allowed_cidrs: an entry is not a CIDR prefix such as 10.0.0.0/8")
		}
	}
	if nk.ExpiresIn < 0 {
		return "", "", coffer.Errorf(coffer.EINVALID, "expires_in: must be positive")
	}
	now := v.now().UTC()
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := base64.RawURLEncoding.EncodeToString(raw)
	short := newID("", now)
	k := &coffer.APIKey{ID: "key_" + short, Name: nk.Name, Role: nk.Role, Hash: hashSecret(secret),
		AllowedCIDRs: nk.AllowedCIDRs, CreatedAt: now}
	if nk.ExpiresIn > 0 {
		k.ExpiresAt = now.Add(nk.ExpiresIn)
	}
	e.Record = k.ID
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.CreateAPIKey(ctx, k, e); err != nil {
		return "", "", err
	}
	return k.ID, keyPrefix + short + "_" + secret, nil
}

// RevokeAPIKey revokes a key (admin).
func (v *Vault) RevokeAPIKey(ctx context.Context, c *Call, id string) error {
	e := c.entry("api_key.revoke", "")
	e.Record = id
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return err
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.RevokeAPIKey(ctx, id, v.now(), e); err != nil {
		return err
	}
	v.keyMu.Lock()
	delete(v.keyCache, id)
	v.keyMu.Unlock()
	return nil
}

// requireAdmin refuses actors that may not administer, auditing the refusal.
func (v *Vault) requireAdmin(ctx context.Context, c *Call, e *coffer.AuditEntry) error {
	d := policy.Decide(&policy.Request{Schema: v.Schema(), Actor: c.Actor, Action: policy.Admin, Now: v.now()})
	if d.Allowed {
		return nil
	}
	e.Outcome, e.Reason = coffer.OutcomeDenied, d.Reason
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return err
	}
	return coffer.Errorf(d.Code, "%s", d.Reason)
}

// APIKeys lists API keys (admin). The result holds hashes; callers show
// everything but them.
func (v *Vault) APIKeys(ctx context.Context, c *Call) ([]*coffer.APIKey, error) {
	e := c.entry("api_key.list", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	if err := v.flushUses(ctx); err != nil {
		return nil, err
	}
	return v.store.APIKeys(ctx)
}

// RateLimited is the error of a request over its key's rate limit.
type RateLimited struct{ RetryAfter time.Duration }

func (e *RateLimited) Error() string { return "rate limited" }

// Unwrap gives the coffer error code and a caller-safe message.
func (e *RateLimited) Unwrap() error {
	return coffer.Errorf(coffer.ERATELIMITED, "too many requests for this API key; retry after %s", e.RetryAfter.Round(time.Millisecond))
}
