package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/identity"
)

// Identity authenticates callers and manages who they are: API keys,
// operators, sessions, logins (password, TOTP, WebAuthn) and rate limits.
type Identity struct {
	*core

	keyMu    sync.Mutex
	keyCache map[string]cachedKey    // API key id → key, for keyCacheTTL
	limits   *limiter                // requests per API key
	throttle *identity.LoginThrottle // failed logins per (username, source) and per source

	hasher     *identity.Hasher
	policy     SecurityPolicy
	wa         *webauthn.WebAuthn // nil: WebAuthn not configured
	ceremonies ceremonies

	useMu     sync.Mutex
	used      map[string]time.Time // API key id → last use, not yet stored
	usedFlush time.Time            // when used was last flushed
}

// usedFlushEvery bounds how stale a key's stored last-used time may be.
const usedFlushEvery = 30 * time.Second

// noteUse records a key's use; every usedFlushEvery the uses are stored in
// the background, so the request path never waits for that write.
func (v *Identity) noteUse(id string, now time.Time) {
	v.useMu.Lock()
	v.used[id] = now
	due := now.Sub(v.usedFlush) >= usedFlushEvery
	var batch map[string]time.Time
	if due {
		batch, v.used, v.usedFlush = v.used, map[string]time.Time{}, now
	}
	v.useMu.Unlock()
	if due {
		v.spawn(func() {
			if err := v.store.TouchAPIKeys(context.Background(), batch); err != nil {
				v.log.Warn("could not store API key last-used times", "err", err)
			}
		})
	}
}

// flushUses stores pending last-used times now.
func (v *Identity) flushUses(ctx context.Context) error {
	v.useMu.Lock()
	batch := v.used
	v.used, v.usedFlush = map[string]time.Time{}, v.now()
	v.useMu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	return v.store.TouchAPIKeys(ctx, batch)
}

type cachedKey struct {
	k       *coffer.APIKey
	fetched time.Time
}

// keyCacheTTL bounds how long another node's revocation takes to apply here.
const keyCacheTTL = 5 * time.Second

// API keys look like coffer_<id>_<secret>. Only a verifier is stored, an
// HMAC of SHA-256(secret) under a root-derived key (credentials.go): the
// secret has 256 bits of entropy, so a slow hash would add nothing.
const keyPrefix = "coffer_"

func constantEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

var errBadToken = coffer.Errorf(coffer.EUNAUTHENTICATED, "invalid or revoked API key")

// Authenticate resolves a bearer token into an actor. The token never
// appears in an error.
//
// A sealed vault authenticates no one: every authenticated call answers
// ESEALED until it is unsealed, whatever it asks (data calls also check
// for themselves).
func (v *Identity) Authenticate(ctx context.Context, token string, client netip.Addr) (*coffer.Actor, error) {
	u := v.keys.Load()
	if u == nil {
		return nil, errSealed
	}
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
	if !constantEqual(apiKeyVerifier(u.sealer, secret), k.Hash) || !k.RevokedAt.IsZero() {
		return nil, errBadToken
	}
	if !u.sealer.VerifyCredentialMAC(k.MAC, "api_key", apiKeyMACParts(k)...) {
		if err := v.refuseRow(ctx, k.ID, "authenticate", client, ""); err != nil {
			return nil, err
		}
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
		p, err := netip.ParsePrefix(c)
		if err != nil {
			// A stored network that does not parse was corrupted or
			// tampered with: refuse the key rather than drop the entry
			// (dropping every entry would leave it unrestricted).
			v.log.Error("api key refused: a stored allowed network does not parse", "key", k.ID)
			return nil, errBadToken
		}
		a.AllowedCIDRs = append(a.AllowedCIDRs, p)
	}
	return a, nil
}

func (v *Identity) apiKey(ctx context.Context, id string) (*coffer.APIKey, error) {
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
// shown once and never stored. Only admins may call it, or the system
// bootstrapping (SystemCall: coffer serve --dev).
func (v *Identity) CreateAPIKey(ctx context.Context, c *Call, nk NewAPIKey) (id, token string, err error) {
	e := c.entry("api_key.create", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
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
	u, done, err := v.open()
	if err != nil {
		return "", "", err
	}
	defer done()
	now := v.now().UTC()
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := base64.RawURLEncoding.EncodeToString(raw)
	short := newID("", now)
	k := &coffer.APIKey{ID: "key_" + short, Name: nk.Name, Role: nk.Role, Hash: apiKeyVerifier(u.sealer, secret),
		AllowedCIDRs: nk.AllowedCIDRs, CreatedAt: now}
	if nk.ExpiresIn > 0 {
		k.ExpiresAt = now.Add(nk.ExpiresIn)
	}
	k.MAC = apiKeyMAC(u.sealer, k)
	e.Record = k.ID
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.CreateAPIKey(ctx, k, e); err != nil {
		return "", "", err
	}
	return k.ID, keyPrefix + short + "_" + secret, nil
}

// RevokeAPIKey revokes a key (admin).
func (v *Identity) RevokeAPIKey(ctx context.Context, c *Call, id string) error {
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

// APIKeys lists API keys (admin). The result holds hashes; callers show
// everything but them.
func (v *Identity) APIKeys(ctx context.Context, c *Call) ([]*coffer.APIKey, error) {
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

// RateLimited is the error of a request over its key's rate limit, or of
// a throttled login (Login set).
type RateLimited struct {
	RetryAfter time.Duration
	Login      bool
}

func (e *RateLimited) Error() string { return "rate limited" }

// Unwrap gives the coffer error code and a caller-safe message. A login's
// wait is said in whole seconds, rounded up: the same for every name.
func (e *RateLimited) Unwrap() error {
	if e.Login {
		return coffer.Errorf(coffer.ERATELIMITED, "too many login attempts; retry after %s", e.RetryAfter.Truncate(time.Second)+time.Second)
	}
	return coffer.Errorf(coffer.ERATELIMITED, "too many requests for this API key; retry after %s", e.RetryAfter.Round(time.Millisecond))
}
