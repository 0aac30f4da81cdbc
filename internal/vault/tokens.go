package vault

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/policy"
	"github.com/cofferhq/coffer/internal/schema"
	"github.com/cofferhq/coffer/internal/seal"
	"github.com/cofferhq/coffer/internal/token"
)

// MaxTokens is the most values one tokenize or detokenize call may hold.
const MaxTokens = 1000

// maxTokenValue bounds a random-format value (bytes).
const maxTokenValue = 4096

// tokenSuffix names, inside a record, the sealed token of a tokenized
// field (a name no declared field can have).
const tokenSuffix = "#token"

// DefaultNamespace is the namespace of tokens created without one.
const DefaultNamespace = "default"

// TokenValue is one value to tokenize: format "random" (default) or "card".
type TokenValue struct {
	Value  string
	Format string
}

// TokenizeRequest is a batch to tokenize in one namespace.
type TokenizeRequest struct {
	Values        []TokenValue
	Namespace     string
	Deterministic bool          // same value, same namespace → same token
	TTL           time.Duration // 0: no expiry
	CardKeepBIN   int           // card tokens keep the first 0, 6 or 8 digits
	// Subject, when set, owns the tokens (created if new, like a record's
	// subject): erasing it deletes them.
	Subject string
}

// Tokens tokenizes and detokenizes values, revokes tokens and runs
// format-preserving encryption.
type Tokens struct{ *core }

// tokenKey returns a namespace's data key, creating it (in its own
// transaction, so concurrent creators agree on the stored one) on first use.
func (v *core) tokenKey(ctx context.Context, u *unsealed, ns string) (*seal.DEK, error) {
	if d, ok := u.tokenKeys.Load(ns); ok {
		return d.(*seal.DEK), nil
	}
	k, err := v.store.TokenKey(ctx, ns)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		_, wrapped, version, nerr := u.sealer.NewDEK("ns:" + ns)
		if nerr != nil {
			return nil, nerr
		}
		nk := &coffer.TokenKey{Namespace: ns, WrappedKey: wrapped, KEKVersion: version, CreatedAt: v.now().UTC()}
		if err := v.store.Commit(ctx, &coffer.Change{NewTokenKeys: []*coffer.TokenKey{nk}}); err != nil {
			return nil, err
		}
		k, err = v.store.TokenKey(ctx, ns)
	}
	if err != nil {
		return nil, err
	}
	d, err := v.openWrapped(u, "ns:"+ns, k.WrappedKey, k.KEKVersion)
	if err != nil {
		return nil, err
	}
	u.tokenKeys.Store(ns, d)
	return d, nil
}

// tokenRef names a token in the audit log without writing the token (a
// card token keeps digits of the card, and a caller may send a card where
// a token belongs): a keyed hash, so the log cannot be searched by brute
// force over card numbers.
func tokenRef(u *unsealed, t string) string {
	return "tok#" + hex.EncodeToString(u.sealer.TokenFingerprint("audit-ref", []byte(t))[:8])
}

// Tokenize replaces values by tokens, all or nothing: a bad value fails
// the whole call with 400 naming its index, and nothing is stored.
// Deterministic tokens need the namespace's detokenize right as well.
func (v *Tokens) Tokenize(ctx context.Context, c *Call, req TokenizeRequest) ([]string, error) {
	toks, _, err := v.TokenizeVersion(ctx, c, req)
	return toks, err
}

// TokenizeVersion is Tokenize that also returns, for a deterministic
// tokenization, the version of the namespace's deterministic-token key it
// used (its current one; 0 for random tokens). A rotation of that key
// changes which token a value gets from then on; tokens made under older
// versions keep detokenizing (each is stored with its sealed value).
func (v *Tokens) TokenizeVersion(ctx context.Context, c *Call, req TokenizeRequest) (_ []string, detVersion uint32, _ error) {
	u, done, err := v.open()
	if err != nil {
		return nil, 0, err
	}
	defer done()
	ns := req.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	switch {
	case !schema.NamespaceRE.MatchString(ns):
		return nil, 0, coffer.Errorf(coffer.EINVALID, "namespace: lower-case letters, digits, _ and - (at most 63)")
	case len(req.Values) == 0 || len(req.Values) > MaxTokens:
		return nil, 0, coffer.Errorf(coffer.EINVALID, "values: between 1 and %d values per request", MaxTokens)
	case req.CardKeepBIN != 0 && req.CardKeepBIN != 6 && req.CardKeepBIN != 8:
		return nil, 0, coffer.Errorf(coffer.EINVALID, "card_keep_bin: 0, 6 or 8")
	case req.TTL < 0:
		return nil, 0, coffer.Errorf(coffer.EINVALID, "ttl: a positive duration such as 720h")
	case req.Subject != "" && !validSubjectID(req.Subject):
		return nil, 0, coffer.Errorf(coffer.EINVALID, "subject: 1 to 64 characters of A-Z a-z 0-9 _ - (an opaque id, never personal data)")
	}
	e := c.entry("tokenize", "")
	e.Subject = req.Subject
	if _, err := v.decide(ctx, c, &policy.Request{Action: policy.Tokenize, Namespace: ns, Deterministic: req.Deterministic}, e); err != nil {
		return nil, 0, err
	}
	// Validate every value before anything is generated or stored.
	norm := make([]string, len(req.Values))
	for i, tv := range req.Values {
		at := "values[" + strconv.Itoa(i) + "]"
		switch tv.Format {
		case "", "random":
			if tv.Value == "" || len(tv.Value) > maxTokenValue || !utf8.ValidString(tv.Value) {
				return nil, 0, coffer.Errorf(coffer.EINVALID, "%s.value: 1 to %d bytes of UTF-8 text", at, maxTokenValue)
			}
			norm[i] = tv.Value
		case "card":
			pan, err := token.NormalizeCard(tv.Value)
			if err != nil {
				return nil, 0, coffer.Errorf(coffer.EINVALID, "%s.value: not a card number (12 to 19 digits passing the Luhn check)", at)
			}
			if len(pan)-req.CardKeepBIN-4 < token.MinRandomDigits {
				return nil, 0, coffer.Errorf(coffer.EINVALID, "%s.value: the card is too short to keep %d digits and randomize at least %d", at, req.CardKeepBIN+4, token.MinRandomDigits)
			}
			norm[i] = pan
		default:
			return nil, 0, coffer.Errorf(coffer.EINVALID, "%s.format: random or card", at)
		}
	}
	key, err := v.tokenKey(ctx, u, ns)
	if err != nil {
		return nil, 0, err
	}
	if err := v.ensureSubject(ctx, u, req.Subject); err != nil {
		return nil, 0, err
	}
	var detKey []byte
	if req.Deterministic {
		nk, err := v.namedKeyAt(ctx, coffer.NamedKeyToken, ns, 0)
		if err != nil {
			return nil, 0, err
		}
		if err := v.holdDerived(u, nk.DerivedVersion); err != nil {
			return nil, 0, err
		}
		if detKey, err = u.sealer.DeterministicTokenKey(ns, nk.Version, nk.DerivedVersion); err != nil {
			return nil, 0, err
		}
		defer clear(detKey)
		detVersion = nk.Version
	}
	for attempt := 0; ; attempt++ {
		now := v.now().UTC()
		var expires time.Time
		if req.TTL > 0 {
			expires = now.Add(req.TTL)
		}
		out := make([]string, len(norm))
		toks := make([]*coffer.Token, 0, len(norm))
		for i, val := range norm {
			var t string
			var err error
			switch {
			case req.Values[i].Format == "card" && req.Deterministic:
				t, err = token.DeterministicCardToken(val, req.CardKeepBIN, detKey, ns)
			case req.Values[i].Format == "card":
				t, err = token.CardToken(val, req.CardKeepBIN, nil)
			case req.Deterministic:
				t, err = token.DeterministicRandom(detKey, ns, val)
			default:
				// Time-sorted: the token index grows at its end instead of
				// at random pages (a 30 % larger token, ≥ 128 random bits).
				t = token.RandomSorted(now)
			}
			if err != nil {
				return nil, 0, err // validated above: cannot happen
			}
			out[i] = t
			toks = append(toks, &coffer.Token{Token: t, Namespace: ns, Fingerprint: u.sealer.TokenFingerprint(ns, []byte(val)),
				Value: key.Seal(nil, ns, t, "value", []byte(val)), Subject: req.Subject, CreatedAt: now, ExpiresAt: expires})
		}
		e.Outcome, e.Reason = coffer.OutcomeAllowed, strconv.Itoa(len(out))+" values into "+ns
		err := v.store.Commit(ctx, &coffer.Change{NewTokens: toks, Audit: []*coffer.AuditEntry{e}})
		if coffer.ErrorCode(err) == coffer.ECONFLICT && !req.Deterministic && attempt < 3 {
			e = c.entry("tokenize", "") // a random token collided: draw again
			e.Subject = req.Subject
			continue
		}
		if coffer.ErrorCode(err) == coffer.ECONFLICT {
			return nil, 0, coffer.Errorf(coffer.ECONFLICT, "a deterministic token of this batch collides with another value's: use random tokens in this namespace")
		}
		if err != nil {
			return nil, 0, err
		}
		return out, detVersion, nil
	}
}

// errNoToken is the one answer for a token the caller may not use:
// unknown, revoked, expired, past its value's retention, of a subject
// whose state denies the read, or in a namespace the caller may not
// detokenize (SPEC §3).
func errNoToken(i int) error { return coffer.Errorf(coffer.ENOTFOUND, "tokens[%d]: unknown token", i) }

// Detokenize returns the values of tokens, all or nothing. A caller with
// no detokenize grant anywhere is refused before any token is looked up;
// every other refusal answers the same 404 naming the token's index. Each
// token's detokenization is audited with the actor and purpose, durably,
// before any value is returned.
func (v *Tokens) Detokenize(ctx context.Context, c *Call, ids []string) ([]string, error) {
	u, done, err := v.open()
	if err != nil {
		return nil, err
	}
	defer done()
	if len(ids) == 0 || len(ids) > MaxTokens {
		return nil, coffer.Errorf(coffer.EINVALID, "tokens: between 1 and %d tokens per request", MaxTokens)
	}
	for i, id := range ids {
		if id == "" || len(id) > 64 {
			return nil, coffer.Errorf(coffer.EINVALID, "tokens[%d]: not a token", i)
		}
	}
	if _, err := v.decide(ctx, c, &policy.Request{Action: policy.Detokenize}, c.entry("detokenize", "")); err != nil {
		return nil, err
	}
	found, err := v.store.Tokens(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := v.now()
	out := make([]string, len(ids))
	entries := make([]*coffer.AuditEntry, 0, len(ids))
	for i, id := range ids {
		e := c.entry("detokenize", "")
		e.Record = tokenRef(u, id)
		t := found[id]
		reason, err := v.mayReveal(ctx, c, t, now, e)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			e.Outcome, e.Reason = coffer.OutcomeDenied, reason
			if err := v.store.AppendAudit(ctx, e); err != nil {
				return nil, err
			}
			return nil, errNoToken(i)
		}
		key, err := v.tokenKey(ctx, u, t.Namespace)
		if err != nil {
			return nil, err
		}
		plain, err := key.Open(nil, t.Namespace, t.Token, "value", t.Value)
		if err != nil {
			return nil, coffer.Errorf(coffer.EINTERNAL, "tokens[%d]: the value failed to decrypt", i)
		}
		out[i] = string(plain)
		e.Outcome = coffer.OutcomeAllowed
		entries = append(entries, e)
	}
	if err := v.store.AppendAudit(ctx, entries...); err != nil {
		return nil, err
	}
	return out, nil
}

// mayReveal decides the detokenization of t (nil: unknown) and returns
// why it is refused ("" when allowed). A record field's token reveals the
// field: the subject's consents, restriction and the field's retention
// apply as to a read. The token's age stands for the value's: a record's
// token is made when its value is written.
func (v *Tokens) mayReveal(ctx context.Context, c *Call, t *coffer.Token, now time.Time, e *coffer.AuditEntry) (string, error) {
	if t == nil || !t.RevokedAt.IsZero() || (!t.ExpiresAt.IsZero() && now.After(t.ExpiresAt)) {
		return "unknown, revoked or expired token", nil
	}
	dr := &policy.Request{Action: policy.Detokenize, Namespace: t.Namespace}
	if coll, field, ok := strings.Cut(t.Namespace, "."); ok {
		e.Collection, e.Fields, e.Views, e.Subject = coll, []string{field}, []coffer.View{coffer.ViewPlain}, t.Subject
		if sc := v.Schema().Collections[coll]; sc != nil {
			if cut := retentionCutoff(sc, field, now); !cut.IsZero() && t.CreatedAt.Before(cut) {
				return "past retention", nil
			}
		}
		sub, err := v.store.Subject(ctx, t.Subject)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return "subject not found", nil
		}
		if err != nil {
			return "", err
		}
		dr.Consent, dr.Restricted = func(p string) bool { return sub.Consents[p] }, sub.Restricted
	}
	dr.Schema, dr.Actor, dr.Now, dr.Purpose = v.Schema(), c.actor(), now, c.Purpose
	if d := policy.Decide(dr); !d.Allowed {
		return d.Reason, nil
	}
	return "", nil
}

// RevokeToken revokes a token: it never detokenizes again. A caller with
// no token grant anywhere is refused before the lookup; an unknown token
// and one in a namespace the caller may not touch answer the same 404.
// Every attempt is audited, probes included.
func (v *Tokens) Revoke(ctx context.Context, c *Call, id string) error {
	u, done, err := v.open()
	if err != nil {
		return err
	}
	defer done()
	e := c.entry("token.revoke", "")
	e.Record = tokenRef(u, id)
	if a := c.actor(); a != nil && a.Role != nil && !policy.MayTokenAny(a.Role) {
		e.Outcome, e.Reason = coffer.OutcomeDenied, "role "+a.Role.Name+" has no token grant"
		if err := v.store.AppendAudit(ctx, e); err != nil {
			return err
		}
		return coffer.Errorf(coffer.EFORBIDDEN, "role %s may not revoke tokens", a.Role.Name)
	}
	found, err := v.store.Tokens(ctx, []string{id})
	if err != nil {
		return err
	}
	t := found[id]
	reason := "unknown token"
	if t != nil {
		d := policy.Decide(&policy.Request{Schema: v.Schema(), Actor: c.actor(), Now: v.now(), Action: policy.RevokeToken, Namespace: t.Namespace})
		reason = d.Reason
		if d.Allowed {
			reason = ""
		} else if d.Code != coffer.EFORBIDDEN {
			return v.refuse(ctx, e, d) // no actor, locked, …: not about the token
		}
	}
	if reason != "" {
		e.Outcome, e.Reason = coffer.OutcomeDenied, reason
		if err := v.store.AppendAudit(ctx, e); err != nil {
			return err
		}
		return coffer.Errorf(coffer.ENOTFOUND, "token not found")
	}
	e.Outcome = coffer.OutcomeAllowed
	return v.store.Commit(ctx, &coffer.Change{RevokeTokens: []string{id}, At: v.now(), Audit: []*coffer.AuditEntry{e}})
}

// tokenizeField stores a record's tokenized (card) field: the token is
// sealed in the record beside the value, and kept in the token vault under
// the field's namespace (collection.field), owned by the subject so that
// erasure deletes it, and naming its record and field so that the change
// replacing or deleting the value deletes it (sqlstore.ApplyChange).
func (v *core) tokenizeField(ctx context.Context, ch *coffer.Change, u *unsealed, dek *seal.DEK, collection, recID, subject, field string, plain []byte, now time.Time) ([]byte, error) {
	var pan string
	if err := json.Unmarshal(plain, &pan); err != nil {
		return nil, coffer.Errorf(coffer.EINTERNAL, "tokenized field %s is not a string", field)
	}
	t, err := token.CardToken(pan, 0, nil)
	if err != nil {
		return nil, coffer.Errorf(coffer.EINVALID, "field %s: not a card number that can be tokenized", field)
	}
	ns := collection + "." + field
	key, err := v.tokenKey(ctx, u, ns)
	if err != nil {
		return nil, err
	}
	ch.NewTokens = append(ch.NewTokens, &coffer.Token{Token: t, Namespace: ns, Fingerprint: u.sealer.TokenFingerprint(ns, []byte(pan)),
		Value: key.Seal(nil, ns, t, "value", []byte(pan)), Subject: subject, Record: recID, Field: field, CreatedAt: now})
	return dek.Seal(nil, collection, recID, field+tokenSuffix, []byte(t)), nil
}
