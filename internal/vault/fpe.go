package vault

import (
	"context"
	"strconv"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/fpe"
	"github.com/cofferhq/coffer/internal/policy"
	"github.com/cofferhq/coffer/internal/schema"
)

// Format-preserving encryption under named, versioned keys (vaultless).

// FPERequest encrypts or decrypts values in place of their format
// (vaultless: nothing is stored) under a named key.
type FPERequest struct {
	Key       string   // key name (a token namespace for permissions)
	Algorithm string   // ff1 (default) or ff3-1
	Alphabet  string   // digits (default), base36, base62, lower
	Tweak     []byte   // FF1: 0..256 bytes; FF3-1: 7 bytes (default zeros)
	Values    []string // at most MaxTokens
	// Version is the version of the named key to decrypt under (0: the
	// current one). Encryption always uses the current version.
	Version uint32
}

// FPEResult is what an FPE call answers: the values and the version of
// the named key they were encrypted or decrypted under.
type FPEResult struct {
	Values  []string
	Version uint32
}

var fpeAlphabets = map[string]string{"": fpe.Digits, "digits": fpe.Digits, "base36": fpe.Base36, "base62": fpe.Base62, "lower": fpe.LowerLetter}

// FPE runs format-preserving encryption (NIST SP 800-38G FF1 or FF3-1 on
// AES-256) with a key derived from the root keys. Encrypting needs the
// role's tokenize and detokenize rights on the key name (a deterministic
// cipher lets its user confirm guesses, SPEC §3), decrypting its detokenize
// right and a purpose. One audit entry per call.
func (v *Tokens) FPE(ctx context.Context, c *Call, req FPERequest, decrypt bool) (*FPEResult, error) {
	u, done, err := v.open()
	if err != nil {
		return nil, err
	}
	defer done()
	alphabet, ok := fpeAlphabets[req.Alphabet]
	switch {
	case !schema.NamespaceRE.MatchString(req.Key):
		return nil, coffer.Errorf(coffer.EINVALID, "key: a key name of lower-case letters, digits, _ and - (at most 63)")
	case !ok:
		return nil, coffer.Errorf(coffer.EINVALID, "alphabet: digits, base36, base62 or lower")
	case len(req.Values) == 0 || len(req.Values) > MaxTokens:
		return nil, coffer.Errorf(coffer.EINVALID, "values: between 1 and %d values per request", MaxTokens)
	case req.Version != 0 && !decrypt:
		return nil, coffer.Errorf(coffer.EINVALID, "version: encryption uses the key's current version (give version to decrypt only)")
	}
	if req.Algorithm == "" {
		req.Algorithm = "ff1"
	}
	if req.Algorithm != "ff1" && req.Algorithm != "ff3-1" {
		return nil, coffer.Errorf(coffer.EINVALID, "algorithm: ff1 or ff3-1")
	}
	if req.Algorithm == "ff3-1" && req.Tweak == nil {
		req.Tweak = make([]byte, fpe.FF31TweakLen)
	}
	e, pa := c.entry("fpe.encrypt", ""), policy.Tokenize
	if decrypt {
		e, pa = c.entry("fpe.decrypt", ""), policy.Detokenize
	}
	// The decision comes before any key is derived or cipher built: a
	// refused call leaves nothing behind.
	// FPE encryption is deterministic: it needs the detokenize right too.
	if _, err := v.decide(ctx, c, &policy.Request{Action: pa, Namespace: req.Key, Deterministic: true}, e); err != nil {
		return nil, err
	}
	nk, err := v.namedKeyAt(ctx, coffer.NamedKeyFPE, req.Key, req.Version)
	if err != nil {
		return nil, err
	}
	if err := v.holdDerived(u, nk.DerivedVersion); err != nil {
		return nil, err
	}
	ciph, err := u.fpeCipher(nk, req.Algorithm, alphabet)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(req.Values))
	for i, s := range req.Values {
		var err error
		if decrypt {
			out[i], err = ciph.DecryptString(req.Tweak, s, alphabet)
		} else {
			out[i], err = ciph.EncryptString(req.Tweak, s, alphabet)
		}
		if err != nil {
			return nil, coffer.Errorf(coffer.EINVALID, "values[%d]: %s (lengths %d to %d of the alphabet)", i, fpeReason(err), ciph.MinLen(), ciph.MaxLen())
		}
	}
	e.Outcome, e.Reason = coffer.OutcomeAllowed, strconv.Itoa(len(out))+" values with key "+req.Key+" version "+strconv.FormatUint(uint64(nk.Version), 10)
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	return &FPEResult{Values: out, Version: nk.Version}, nil
}

// fpeCipher returns the cipher of a named key's version, an algorithm
// and an alphabet, built once and kept until the vault seals or the name
// is rotated: the id holds everything the key is derived from (name,
// version, derived-key root version), so a cached cipher is never another
// version's.
func (u *unsealed) fpeCipher(nk coffer.NamedKey, algorithm, alphabet string) (fpe.Cipher, error) {
	id := nk.Name + "|" + strconv.FormatUint(uint64(nk.Version), 10) + "|" + strconv.FormatUint(uint64(nk.DerivedVersion), 10) + "|" + algorithm + "|" + alphabet
	if ciph := u.fpe.get(id); ciph != nil {
		return ciph, nil
	}
	key, err := u.sealer.FPEKey(nk.Name, nk.Version, nk.DerivedVersion)
	if err != nil {
		return nil, err
	}
	radix := len(alphabet)
	defer clear(key) // the ciphers keep their own AES schedule
	var ciph fpe.Cipher
	if algorithm == "ff1" {
		ciph, err = fpe.NewFF1(key, radix)
	} else {
		ciph, err = fpe.NewFF31(key, radix)
	}
	if err != nil {
		return nil, err
	}
	u.fpe.put(id, ciph)
	return ciph, nil
}

// fpeReason words an fpe error (they never hold the value).
func fpeReason(err error) string {
	switch err {
	case fpe.ErrDomainTooSmall:
		return "too short: the domain would be under 1,000,000 values"
	case fpe.ErrTooLong:
		return "too long"
	case fpe.ErrNumeral, fpe.ErrAlphabet:
		return "a character outside the alphabet"
	case fpe.ErrTweak:
		return "tweak of the wrong length (FF1: at most 256 bytes; FF3-1: 7 bytes)"
	}
	return "cannot be processed"
}
