package vault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/identity"
)

// SecurityPolicy is the staff security policy operators must acknowledge
// before they see plaintext.
type SecurityPolicy struct {
	Version string
	Text    string
	// TrainingValidity is how long a recorded security training counts
	// (default one year).
	TrainingValidity time.Duration
}

// DefaultPolicy applies when the configuration names none.
var DefaultPolicy = SecurityPolicy{Version: "coffer-default-1", Text: "Use customer data only for the purpose you name. " +
	"Never copy it out of Coffer, never share your credentials, report anything unusual at once."}

// Session and login limits.
const (
	sessionIdle      = 30 * time.Minute
	sessionAbsolute  = 12 * time.Hour
	sessionSeenEvery = time.Minute // how often activity is written
	sessionPrefix    = "cofs_"
)

var usernameRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{1,63}$`)

var errBadLogin = coffer.Errorf(coffer.EUNAUTHENTICATED, "invalid username, password or code")

// dummyHash is verified against when a username does not exist, so that a
// login takes as long whether or not the operator exists.
var dummyHash = "$argon2id$v=19$m=65536,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$2c8Q9l6n0mDbyJQ5QnN1XbUyGQzJ7xVn6z8n0X2bYx8"

// CreateOperator is in enroll.go: operators enroll themselves.

// Login checks password and TOTP code and opens a session. Failures slow
// down further attempts of the same (username, source) pair and of the
// source (identity.LoginThrottle), never the username everywhere: someone
// guessing cannot lock the rightful operator out. Every attempt is audited.
func (v *Identity) Login(ctx context.Context, username, password, code string, client netip.Addr, requestID string) (token string, expires time.Time, err error) {
	u, done, err := v.open()
	if err != nil {
		return "", time.Time{}, err
	}
	defer done()
	// A malformed code is refused before the password is checked (so the
	// answer says nothing of the password), after the address throttle,
	// and audited like every refused login.
	op, fail, err := v.checkPassword(ctx, username, password, client, requestID, identity.CheckTOTPFormat(code))
	if err != nil || fail != nil {
		return "", time.Time{}, firstErr(err, fail)
	}
	now := v.now().UTC()
	e := v.loginEntry(username, client, requestID)
	secret, err := v.openTOTP(u, op)
	if err != nil {
		return "", time.Time{}, err
	}
	step, ok := identity.CheckTOTP(string(secret), code, now, op.TOTPLastStep)
	if !ok {
		v.throttle.Fail(throttleName(username), client, now)
		return v.denyLogin(ctx, e, "wrong or reused code", errBadLogin)
	}
	if op.Locked {
		return v.denyLogin(ctx, e, "operator is locked", errLocked)
	}
	v.throttle.Succeed(throttleName(username), client)
	op.FailedLogins, op.TOTPLastStep, op.MFAEnrolled = 0, step, true
	err = v.store.UpdateOperator(ctx, op, nil)
	if coffer.ErrorCode(err) == coffer.ECONFLICT {
		// The row changed since it was read. A re-seal of the TOTP secret
		// (a derived-key rotation) changes nothing a login decided on:
		// apply the login to the row as it is now, once.
		var fresh *coffer.Operator
		if fresh, err = v.store.Operator(ctx, username); err == nil {
			if fresh.Role != op.Role || fresh.PasswordHash != op.PasswordHash || !bytes.Equal(fresh.MAC, op.MAC) ||
				fresh.Locked || fresh.TOTPLastStep >= step {
				// A concurrent login used this state, or an admin changed it.
				return v.denyLogin(ctx, e, "concurrent login", errBadLogin)
			}
			fresh.FailedLogins, fresh.TOTPLastStep, fresh.MFAEnrolled = 0, step, true
			err = v.store.UpdateOperator(ctx, fresh, nil)
		}
	}
	if err != nil {
		if coffer.ErrorCode(err) == coffer.ECONFLICT { // a concurrent login used this state
			return v.denyLogin(ctx, e, "concurrent login", errBadLogin)
		}
		return "", time.Time{}, err
	}
	return v.openSession(ctx, username, now, e)
}

func (v *Identity) loginEntry(username string, client netip.Addr, requestID string) *coffer.AuditEntry {
	e := &coffer.AuditEntry{Actor: "op:" + username, Action: "login", RequestID: requestID}
	if !usernameRE.MatchString(username) {
		e.Actor = "op:?"
	}
	if client.IsValid() {
		e.ClientIP = client.String()
	}
	return e
}

// denyLogin audits a refused login and returns err.
func (v *Identity) denyLogin(ctx context.Context, e *coffer.AuditEntry, reason string, err error) (string, time.Time, error) {
	e.Outcome, e.Reason = coffer.OutcomeDenied, reason
	if aerr := v.store.AppendAudit(ctx, e); aerr != nil {
		return "", time.Time{}, aerr
	}
	return "", time.Time{}, err
}

// throttleName bounds what the login throttle keys on: a name that cannot
// be a username counts under one key.
func throttleName(username string) string {
	if !usernameRE.MatchString(username) {
		return "?"
	}
	return username
}

var errLocked = coffer.Errorf(coffer.EFORBIDDEN, "this operator is locked; an admin can unlock it")

// checkPassword is the first factor of every login: the throttle, then the
// password. A refusal comes back as fail (already audited); err is a
// failure of the server. A throttled attempt is refused before the
// username is looked up, so a known and an unknown name answer alike; an
// unknown name costs a password hash like a known one. Whether an operator
// is locked is said only to someone who has both factors. malformed, when
// not nil, is a refusal known from the request alone (a TOTP code that is
// not six digits): it is audited and returned after the throttle.
func (v *Identity) checkPassword(ctx context.Context, username, password string, client netip.Addr, requestID string, malformed error) (op *coffer.Operator, fail, err error) {
	now := v.now().UTC()
	e := v.loginEntry(username, client, requestID)
	deny := func(reason string, refusal error) (*coffer.Operator, error, error) {
		_, _, err := v.denyLogin(ctx, e, reason, refusal)
		if coffer.ErrorCode(err) == coffer.EINTERNAL && err != refusal {
			return nil, nil, err
		}
		return nil, refusal, nil
	}
	name := throttleName(username)
	if wait := v.throttle.Wait(name, client, now); wait > 0 {
		return deny("login throttled after failed attempts", &RateLimited{RetryAfter: wait, Login: true})
	}
	if malformed != nil {
		return deny("malformed code", malformed)
	}
	op, err = v.store.Operator(ctx, username)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		v.hasher.Verify(ctx, password, dummyHash)
		v.throttle.Fail(name, client, now)
		return deny("unknown operator", errBadLogin)
	}
	if err != nil {
		return nil, nil, err
	}
	if ok, err := v.checkOperator(ctx, op, client, requestID); !ok {
		if err != nil {
			return nil, nil, err
		}
		return nil, errBadLogin, nil // audited by checkOperator
	}
	if _, pending := parseEnrollment(op.PasswordHash); pending { // no password to log in with yet (enroll.go)
		v.hasher.Verify(ctx, password, dummyHash)
		v.throttle.Fail(name, client, now)
		return deny("enrollment not finished", errBadLogin)
	}
	ok, err := v.hasher.Verify(ctx, password, op.PasswordHash)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		v.throttle.Fail(name, client, now)
		return deny("wrong password", errBadLogin)
	}
	return op, nil, nil
}

// openSession creates a session for a verified login and audits it.
func (v *Identity) openSession(ctx context.Context, username string, now time.Time, e *coffer.AuditEntry) (string, time.Time, error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	secretPart := base64.RawURLEncoding.EncodeToString(raw)
	id := newID("", now)
	s := &coffer.Session{ID: "ses_" + id, Hash: hashSecret(secretPart), Username: username, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(sessionAbsolute)}
	e.Outcome, e.Record = coffer.OutcomeAllowed, s.ID
	if err := v.store.CreateSession(ctx, s, e); err != nil {
		return "", time.Time{}, err
	}
	return sessionPrefix + id + "_" + secretPart, s.ExpiresAt, nil
}

// authenticateSession resolves an operator's session token.
func (v *Identity) authenticateSession(ctx context.Context, token string, client netip.Addr) (*coffer.Actor, error) {
	rest := strings.TrimPrefix(token, sessionPrefix)
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || id == "" || len(id) > 40 || secret == "" {
		return nil, errBadToken
	}
	s, err := v.store.Session(ctx, "ses_"+id)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	now := v.now()
	if !constantEqual(hashSecret(secret), s.Hash) || !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) > sessionIdle {
		return nil, errBadToken
	}
	op, err := v.store.Operator(ctx, s.Username)
	if err != nil {
		return nil, errBadToken
	}
	if ok, err := v.checkOperator(ctx, op, client, ""); !ok {
		if err != nil {
			return nil, err
		}
		return nil, errBadToken
	}
	if now.Sub(s.LastSeenAt) > sessionSeenEvery {
		if err := v.store.SeeSession(ctx, s.ID, now); err != nil {
			return nil, err
		}
	}
	return &coffer.Actor{ID: "op:" + op.Username, Kind: coffer.ActorOperator, RoleName: op.Role, Role: v.Schema().Roles[op.Role],
		ClientIP: client, Locked: op.Locked, MFAEnrolled: op.MFAEnrolled,
		PolicyAcked: op.PolicyVersion == v.policy.Version && !op.TrainedAt.IsZero() && now.Sub(op.TrainedAt) < v.policy.TrainingValidity,
		SessionID:   s.ID}, nil
}

// Logout ends the caller's session.
func (v *Identity) Logout(ctx context.Context, c *Call) error {
	if c.Actor == nil || c.Actor.SessionID == "" {
		return coffer.Errorf(coffer.EINVALID, "only an operator's session can log out; API keys are revoked instead")
	}
	e := c.entry("logout", "")
	e.Record, e.Outcome = c.Actor.SessionID, coffer.OutcomeAllowed
	return v.store.DeleteSessions(ctx, c.Actor.SessionID, "", e)
}

// SetOperatorLock locks or unlocks an operator (admin). Locking ends its
// sessions; unlocking also clears a temporary lockout.
func (v *Identity) SetOperatorLock(ctx context.Context, c *Call, username string, locked bool) error {
	action := "operator.unlock"
	if locked {
		action = "operator.lock"
	}
	e := c.entry(action, "")
	e.Record = "op:" + username
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return err
	}
	op, err := v.store.Operator(ctx, username)
	if err != nil {
		return err
	}
	op.Locked, op.LockedUntil, op.FailedLogins = locked, time.Time{}, 0
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.UpdateOperator(ctx, op, e); err != nil {
		return err
	}
	if locked {
		return v.store.DeleteSessions(ctx, "", username, nil)
	}
	return nil
}

// AcknowledgePolicy records that the calling operator acknowledged the
// current security policy version.
func (v *Identity) AcknowledgePolicy(ctx context.Context, c *Call, username, version string) error {
	e := c.entry("policy.acknowledge", "")
	e.Record = "op:" + username
	if c.Actor == nil || c.Actor.ID != "op:"+username {
		e.Outcome, e.Reason = coffer.OutcomeDenied, "operators acknowledge the policy for themselves"
		if err := v.store.AppendAudit(ctx, e); err != nil {
			return err
		}
		return coffer.Errorf(coffer.EFORBIDDEN, "operators acknowledge the policy for themselves")
	}
	if version != v.policy.Version {
		return coffer.Errorf(coffer.EINVALID, "version: the current security policy version is %s", v.policy.Version)
	}
	op, err := v.store.Operator(ctx, username)
	if err != nil {
		return err
	}
	op.PolicyVersion = version
	e.Outcome, e.Reason = coffer.OutcomeAllowed, "version "+version
	return v.store.UpdateOperator(ctx, op, e)
}

// RecordTraining records that an operator completed security training at
// a time (admin): it counts for the policy's training validity.
func (v *Identity) RecordTraining(ctx context.Context, c *Call, username string, at time.Time) error {
	e := c.entry("operator.training", "")
	e.Record = "op:" + username
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return err
	}
	now := v.now()
	if at.IsZero() {
		at = now
	}
	if at.After(now.Add(time.Minute)) {
		return coffer.Errorf(coffer.EINVALID, "completed_at: must not be in the future")
	}
	op, err := v.store.Operator(ctx, username)
	if err != nil {
		return err
	}
	op.TrainedAt = at.UTC()
	e.Outcome = coffer.OutcomeAllowed
	return v.store.UpdateOperator(ctx, op, e)
}

// Policy returns the current security policy.
func (v *Identity) Policy() SecurityPolicy { return v.policy }

// Operators lists operators (admin).
func (v *Identity) Operators(ctx context.Context, c *Call) ([]*coffer.Operator, error) {
	e := c.entry("operator.list", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	return v.store.Operators(ctx)
}
