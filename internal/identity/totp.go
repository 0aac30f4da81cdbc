package identity

import (
	"crypto/subtle"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer"
)

// TOTP parameters (RFC 6238 defaults, which authenticator apps expect).
const (
	totpPeriod = 30
	totpSkew   = 1 // steps accepted before and after the current one
)

// NewTOTP makes a random secret for account and returns it (base32) with
// its otpauth:// URI for an authenticator app.
func NewTOTP(issuer, account string) (secret, uri string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", err
	}
	return k.Secret(), k.URL(), nil
}

// CheckTOTPFormat refuses a code that is not six digits with an
// invalid_argument error naming the field only. It is the one format check
// of a TOTP code; the vault's login calls it, so a refusal is audited.
func CheckTOTPFormat(code string) error {
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return &coffer.Error{Code: coffer.EINVALID, Message: "totp: the 6-digit code of the authenticator app"}
	}
	return nil
}

// Step is the RFC 6238 time step of t.
func Step(t time.Time) int64 { return t.Unix() / totpPeriod }

// CheckTOTP validates a 6-digit code against secret at now, accepting one
// step of clock skew either way. A code of a step at or before lastStep is
// refused: pquerna/otp has no replay protection, so the caller stores the
// step returned here and passes it back next time.
func CheckTOTP(secret, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	if CheckTOTPFormat(code) != nil {
		return 0, false
	}
	cur := Step(now)
	matched := int64(-1)
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		// Compare every candidate, in constant time, whatever matches.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && matched < 0 {
			matched = s
		}
	}
	if matched < 0 || matched <= lastStep {
		return 0, false
	}
	return matched, true
}
