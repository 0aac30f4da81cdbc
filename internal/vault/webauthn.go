package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/netip"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/cofferhq/coffer"
)

// WebAuthnConfig names the relying party: its id (a domain, "localhost" in
// development) and the origins allowed to run ceremonies.
type WebAuthnConfig struct {
	RPID    string
	Origins []string
}

// ceremonies holds the WebAuthn challenges in flight, per operator, for
// ceremonyTTL.
type ceremonies struct {
	mu      sync.Mutex
	pending map[string]ceremony
}

type ceremony struct {
	data    webauthn.SessionData
	expires time.Time
}

const ceremonyTTL = 5 * time.Minute

func (c *ceremonies) put(key string, d *webauthn.SessionData, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) > 10_000 {
		clear(c.pending)
	}
	c.pending[key] = ceremony{data: *d, expires: now.Add(ceremonyTTL)}
}

// take returns and forgets a ceremony: a challenge is used at most once.
func (c *ceremonies) take(key string, now time.Time) (webauthn.SessionData, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cer, ok := c.pending[key]
	delete(c.pending, key)
	return cer.data, ok && now.Before(cer.expires)
}

// waUser adapts an operator to go-webauthn.
type waUser struct {
	op    *coffer.Operator
	creds []webauthn.Credential
}

func newWAUser(op *coffer.Operator) (*waUser, error) {
	u := &waUser{op: op}
	if len(op.WebAuthn) > 0 {
		if err := json.Unmarshal(op.WebAuthn, &u.creds); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// WebAuthnID is an opaque handle derived from the username.
func (u *waUser) WebAuthnID() []byte {
	h := sha256.Sum256([]byte("coffer/webauthn-user/v1|" + u.op.Username))
	return h[:32]
}
func (u *waUser) WebAuthnName() string                       { return u.op.Username }
func (u *waUser) WebAuthnDisplayName() string                { return u.op.Username }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

var errNoWebAuthn = coffer.Errorf(coffer.EINVALID, "WebAuthn is not configured on this server")

// BeginWebAuthnRegistration starts registering a security key or passkey
// for the calling operator (logged in with password and TOTP). It returns
// the options to pass to navigator.credentials.create.
func (v *Identity) BeginWebAuthnRegistration(ctx context.Context, c *Call) ([]byte, error) {
	if v.wa == nil {
		return nil, errNoWebAuthn
	}
	if c.Actor == nil || c.Actor.SessionID == "" {
		return nil, coffer.Errorf(coffer.EFORBIDDEN, "an operator registers its own authenticator, from a login session")
	}
	op, err := v.store.Operator(ctx, c.Actor.ID[len("op:"):])
	if err != nil {
		return nil, err
	}
	u, err := newWAUser(op)
	if err != nil {
		return nil, err
	}
	opts, data, err := v.wa.BeginRegistration(u, webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()))
	if err != nil {
		return nil, err
	}
	v.ceremonies.put("register|"+op.Username, data, v.now())
	return json.Marshal(opts)
}

// FinishWebAuthnRegistration checks the authenticator's response and adds
// the credential (its public key) to the operator.
func (v *Identity) FinishWebAuthnRegistration(ctx context.Context, c *Call, response []byte) error {
	if v.wa == nil {
		return errNoWebAuthn
	}
	if c.Actor == nil || c.Actor.SessionID == "" {
		return coffer.Errorf(coffer.EFORBIDDEN, "an operator registers its own authenticator, from a login session")
	}
	username := c.Actor.ID[len("op:"):]
	e := c.entry("webauthn.register", "")
	e.Record = c.Actor.ID
	data, ok := v.ceremonies.take("register|"+username, v.now())
	if !ok {
		return coffer.Errorf(coffer.EINVALID, "no registration in progress, or it expired: begin again")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(response))
	if err != nil {
		return coffer.Errorf(coffer.EINVALID, "credential: not a valid WebAuthn registration response")
	}
	op, err := v.store.Operator(ctx, username)
	if err != nil {
		return err
	}
	u, err := newWAUser(op)
	if err != nil {
		return err
	}
	cred, err := v.wa.CreateCredential(u, data, parsed)
	if err != nil {
		e.Outcome, e.Reason = coffer.OutcomeDenied, "registration response did not verify"
		if aerr := v.store.AppendAudit(ctx, e); aerr != nil {
			return aerr
		}
		return coffer.Errorf(coffer.EINVALID, "credential: the registration response did not verify")
	}
	u.creds = append(u.creds, *cred)
	if op.WebAuthn, err = json.Marshal(u.creds); err != nil {
		return err
	}
	e.Outcome = coffer.OutcomeAllowed
	return v.store.UpdateOperator(ctx, op, e)
}

// BeginWebAuthnLogin checks an operator's password and returns the options
// for navigator.credentials.get; FinishWebAuthnLogin then opens a session.
// WebAuthn replaces the TOTP code as the second factor.
func (v *Identity) BeginWebAuthnLogin(ctx context.Context, username, password string, client netip.Addr, requestID string) ([]byte, error) {
	if v.wa == nil {
		return nil, errNoWebAuthn
	}
	op, fail, err := v.checkPassword(ctx, username, password, client, requestID, nil)
	if err != nil || fail != nil {
		return nil, firstErr(err, fail)
	}
	u, err := newWAUser(op)
	if err != nil {
		return nil, err
	}
	if len(u.creds) == 0 {
		return nil, coffer.Errorf(coffer.EINVALID, "no WebAuthn authenticator is registered for this operator: log in with a TOTP code")
	}
	opts, data, err := v.wa.BeginLogin(u)
	if err != nil {
		return nil, err
	}
	v.ceremonies.put("login|"+username, data, v.now())
	return json.Marshal(opts)
}

// FinishWebAuthnLogin verifies the assertion and opens a session.
func (v *Identity) FinishWebAuthnLogin(ctx context.Context, username string, response []byte, client netip.Addr, requestID string) (string, time.Time, error) {
	if v.wa == nil {
		return "", time.Time{}, errNoWebAuthn
	}
	now := v.now().UTC()
	e := v.loginEntry(username, client, requestID)
	data, ok := v.ceremonies.take("login|"+username, now)
	if !ok {
		return v.denyLogin(ctx, e, "no WebAuthn login in progress", coffer.Errorf(coffer.EINVALID, "no WebAuthn login in progress, or it expired: begin again"))
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader(response))
	if err != nil {
		return v.denyLogin(ctx, e, "malformed assertion", coffer.Errorf(coffer.EINVALID, "credential: not a valid WebAuthn login response"))
	}
	op, err := v.store.Operator(ctx, username)
	if err != nil {
		return v.denyLogin(ctx, e, "unknown operator", errBadLogin)
	}
	u, err := newWAUser(op)
	if err != nil {
		return "", time.Time{}, err
	}
	cred, err := v.wa.ValidateLogin(u, data, parsed)
	if err != nil || cred.Authenticator.CloneWarning {
		v.throttle.Fail(throttleName(username), client, now)
		return v.denyLogin(ctx, e, "WebAuthn assertion did not verify", errBadLogin)
	}
	if op.Locked {
		return v.denyLogin(ctx, e, "operator is locked", errLocked)
	}
	v.throttle.Succeed(throttleName(username), client)
	for i := range u.creds {
		if bytes.Equal(u.creds[i].ID, cred.ID) {
			u.creds[i].Authenticator.SignCount = cred.Authenticator.SignCount
		}
	}
	if op.WebAuthn, err = json.Marshal(u.creds); err != nil {
		return "", time.Time{}, err
	}
	op.FailedLogins = 0
	if err := v.store.UpdateOperator(ctx, op, nil); err != nil {
		return v.denyLogin(ctx, e, "concurrent login", errBadLogin)
	}
	return v.openSession(ctx, username, now, e)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
