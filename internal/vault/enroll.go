package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/identity"
)

// Operators enroll themselves: the admin who creates an operator names it
// and its role and gets a single-use enrollment link (72 hours); the
// operator follows it, chooses the password and scans the TOTP seed
// (Enroll), then proves the authenticator with a code (ConfirmEnrollment).
// The admin never sees the password or the seed, so cannot act as the
// operator. Only a hash of the enrollment token is stored.
//
// Until confirmed, the operator's password hash holds the enrollment
// state instead of a password: "$enroll$<sha256 of the token, hex>$<expiry,
// unix seconds>$<the argon2id hash chosen, once Enroll ran>". No login
// accepts it (checkPassword refuses a pending operator).

// EnrollmentTTL is how long an enrollment link is valid.
const EnrollmentTTL = 72 * time.Hour

const (
	enrollMarker      = "$enroll$"
	enrollTokenPrefix = "cofe_"
	enrollThrottle    = "enroll#" // the login throttle's key for enrollment attempts (no username has a #)
)

// Enrollment is the secret an admin passes on to a new operator.
type Enrollment struct {
	Token     string
	ExpiresAt time.Time
}

type pendingEnrollment struct {
	tokenHash []byte
	expires   time.Time
	password  string // the argon2id hash chosen; "" until Enroll
}

func (p pendingEnrollment) encode() string {
	return enrollMarker + hex.EncodeToString(p.tokenHash) + "$" + strconv.FormatInt(p.expires.Unix(), 10) + "$" + p.password
}

// parseEnrollment reads the enrollment state of a password hash; ok is
// false for an operator that has enrolled.
func parseEnrollment(passwordHash string) (p pendingEnrollment, ok bool) {
	rest, ok := strings.CutPrefix(passwordHash, enrollMarker)
	if !ok {
		return p, false
	}
	parts := strings.SplitN(rest, "$", 3)
	if len(parts) != 3 {
		return p, true // pending, but unreadable: it matches no token
	}
	p.tokenHash, _ = hex.DecodeString(parts[0])
	if sec, err := strconv.ParseInt(parts[1], 10, 64); err == nil {
		p.expires = time.Unix(sec, 0)
	}
	p.password = parts[2]
	return p, true
}

func enrollTokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// EnrollmentLink is the link an admin passes on for an enrollment token:
// the token rides in the fragment, which browsers never send to a server
// or write to its logs. The console's enrollment page (and meanwhile
// POST /v1/enroll) takes it. base is the server's URL (scheme and host).
func EnrollmentLink(base, token string) string {
	return strings.TrimRight(base, "/") + "/ui/enroll#token=" + token
}

// CreateOperator creates an operator (admin) that has yet to enroll, and
// returns its single-use enrollment token.
func (v *Identity) CreateOperator(ctx context.Context, c *Call, username, role string) (*Enrollment, error) {
	e := c.entry("operator.create", "")
	e.Record = "op:" + username
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	if !usernameRE.MatchString(username) {
		return nil, coffer.Errorf(coffer.EINVALID, "username: 2 to 64 characters of a-z 0-9 . _ -, starting with a letter")
	}
	if _, ok := v.Schema().Roles[role]; !ok {
		return nil, coffer.Errorf(coffer.EINVALID, "role: %s is not a role of the schema", coffer.Name(role))
	}
	u, done, err := v.open()
	if err != nil {
		return nil, err
	}
	defer done()
	raw := make([]byte, 32)
	rand.Read(raw)
	token := enrollTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	now := v.now().UTC()
	p := pendingEnrollment{tokenHash: enrollTokenHash(token), expires: now.Add(EnrollmentTTL).Truncate(time.Second)}
	e.Outcome, e.Reason = coffer.OutcomeAllowed, "enrollment link issued"
	op := &coffer.Operator{Username: username, Role: role, PasswordHash: p.encode(), TOTPSecret: []byte{}, CreatedAt: now} // no seed until Enroll
	op.MAC = operatorMAC(u.sealer, op)                                                                                     // the pending token hash is in PasswordHash: covered too
	if err := v.store.CreateOperator(ctx, op, e); err != nil {
		return nil, err
	}
	return &Enrollment{Token: token, ExpiresAt: p.expires}, nil
}

var errBadEnrollment = coffer.Errorf(coffer.ENOTFOUND, "unknown, used or expired enrollment link; ask an admin for a new one")

// pendingOperator finds the operator whose enrollment token is token,
// after the throttle; a refusal is audited (coalesced per source) and
// slows the source down.
func (v *Identity) pendingOperator(ctx context.Context, token string, client netip.Addr, requestID, action string) (*coffer.Operator, pendingEnrollment, error) {
	now := v.now()
	refuse := func(reason string, err error) (*coffer.Operator, pendingEnrollment, error) {
		e := &coffer.AuditEntry{Actor: "?", Action: action, Outcome: coffer.OutcomeDenied, Reason: reason, RequestID: requestID}
		if client.IsValid() {
			e.ClientIP = client.String()
		}
		if aerr := v.coalesced(ctx, e); aerr != nil {
			return nil, pendingEnrollment{}, aerr
		}
		return nil, pendingEnrollment{}, err
	}
	if wait := v.throttle.Wait(enrollThrottle, client, now); wait > 0 {
		return refuse("throttled after failed attempts", &RateLimited{RetryAfter: wait, Login: true})
	}
	if strings.HasPrefix(token, enrollTokenPrefix) && len(token) < 100 {
		want := enrollTokenHash(token)
		ops, err := v.store.Operators(ctx)
		if err != nil {
			return nil, pendingEnrollment{}, err
		}
		for _, op := range ops {
			p, pending := parseEnrollment(op.PasswordHash)
			if pending && subtle.ConstantTimeCompare(p.tokenHash, want) == 1 {
				if !now.Before(p.expires) {
					break
				}
				// A row a database writer made or changed does not verify:
				// refused (and audited by checkOperator).
				if ok, err := v.checkOperator(ctx, op, client, requestID); !ok {
					if err != nil {
						return nil, pendingEnrollment{}, err
					}
					return nil, pendingEnrollment{}, errBadEnrollment
				}
				return op, p, nil
			}
		}
	}
	v.throttle.Fail(enrollThrottle, client, now)
	return refuse("unknown, used or expired enrollment token", errBadEnrollment)
}

// Enroll sets a pending operator's password and draws its TOTP seed,
// returning the otpauth URI to scan. It may be repeated until confirmed
// (each time with a new seed).
func (v *Identity) Enroll(ctx context.Context, token, password string, client netip.Addr, requestID string) (string, error) {
	u, done, err := v.open()
	if err != nil {
		return "", err
	}
	defer done()
	op, p, err := v.pendingOperator(ctx, token, client, requestID, "operator.enroll")
	if err != nil {
		return "", err
	}
	if err := identity.CheckPassword(password, op.Username); err != nil {
		return "", err
	}
	if p.password, err = v.hasher.Hash(ctx, password); err != nil {
		return "", err
	}
	// From sealing to commit under the re-index's barrier: a re-seal pass
	// after it finds this secret if it was sealed under an older version.
	defer v.indexWrite()()
	secret, uri, err := identity.NewTOTP("Coffer", op.Username)
	if err != nil {
		return "", err
	}
	if op.TOTPSecret, op.TOTPVersion, err = u.sealer.SealSecret("totp", op.Username, []byte(secret)); err != nil {
		return "", err
	}
	op.PasswordHash, op.TOTPLastStep = p.encode(), 0
	op.MAC = operatorMAC(u.sealer, op)
	e := &coffer.AuditEntry{Actor: "op:" + op.Username, Action: "operator.enroll", Outcome: coffer.OutcomeAllowed,
		Reason: "password set, TOTP seed drawn", RequestID: requestID}
	if client.IsValid() {
		e.ClientIP = client.String()
	}
	if err := v.store.UpdateOperator(ctx, op, e); err != nil {
		return "", err
	}
	return uri, nil
}

// ConfirmEnrollment checks a TOTP code against the seed Enroll drew and
// activates the operator; the enrollment token is used up.
func (v *Identity) ConfirmEnrollment(ctx context.Context, token, code string, client netip.Addr, requestID string) error {
	u, done, err := v.open()
	if err != nil {
		return err
	}
	defer done()
	op, p, err := v.pendingOperator(ctx, token, client, requestID, "operator.enroll_confirm")
	if err != nil {
		return err
	}
	e := &coffer.AuditEntry{Actor: "op:" + op.Username, Action: "operator.enroll_confirm", RequestID: requestID}
	if client.IsValid() {
		e.ClientIP = client.String()
	}
	deny := func(reason string, err error) error {
		e.Outcome, e.Reason = coffer.OutcomeDenied, reason
		if aerr := v.store.AppendAudit(ctx, e); aerr != nil {
			return aerr
		}
		return err
	}
	if p.password == "" || len(op.TOTPSecret) == 0 {
		return deny("no password set yet", coffer.Errorf(coffer.EINVALID, "set the password first (POST /v1/enroll)"))
	}
	if err := identity.CheckTOTPFormat(code); err != nil {
		return deny("malformed code", err)
	}
	secret, err := v.openTOTP(u, op)
	if err != nil {
		return err
	}
	now := v.now()
	step, ok := identity.CheckTOTP(string(secret), code, now, op.TOTPLastStep)
	if !ok {
		v.throttle.Fail(enrollThrottle, client, now)
		return deny("wrong code", coffer.Errorf(coffer.EUNAUTHENTICATED, "wrong code: enter the current code of the authenticator app"))
	}
	op.PasswordHash, op.TOTPLastStep, op.MFAEnrolled = p.password, step, true
	op.MAC = operatorMAC(u.sealer, op)
	e.Outcome, e.Reason = coffer.OutcomeAllowed, "operator active"
	return v.store.UpdateOperator(ctx, op, e)
}
