package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// Actions an actor may take on a collection.
const (
	Read   = "read"
	Write  = "write"
	Search = "search"
	Delete = "delete"
	Admin  = "admin" // administration calls: schema, keys, audit log
	// Metrics is reading the server's Prometheus metrics: a role's
	// metrics grant, which admin does not imply.
	Metrics = "metrics"

	// Token actions name Request.Namespace instead of a collection.
	// Tokenize with Request.Deterministic (deterministic tokens, FPE
	// encryption) also needs the detokenize right: a caller that may
	// confirm a guess may as well read the value.
	Tokenize    = "tokenize"
	Detokenize  = "detokenize"
	RevokeToken = "revoke_token"
)

// Request is everything the decision needs to know.
type Request struct {
	Schema     *coffer.Schema
	Actor      *coffer.Actor
	Action     string // Read, Write, Search, Delete
	Purpose    string // from the Coffer-Purpose header; "" when missing
	Collection string
	Fields     []string // the fields read, written or searched on
	// Namespace is the token namespace (or FPE key name) of a token
	// action; collection.field for the tokens of a record's field.
	Namespace string
	Now       time.Time

	// Consent reports whether the subject has a current consent for a
	// purpose. Nil means no consent is known: purposes whose legal basis is
	// consent are refused (fail closed).
	Consent func(purpose string) bool
	// Restricted is true when the subject is under an Art. 18 restriction.
	Restricted bool
	// Deterministic marks a Tokenize whose output repeats for a repeated
	// value (deterministic tokens, FPE encryption).
	Deterministic bool
}

// Decision is the answer. For reads, Views holds the view of each field of
// Request.Fields ("" when withheld); Withheld names the fields left out.
// For writes, searches and deletes, Allowed is all or nothing.
type Decision struct {
	Allowed  bool
	Code     string // when not allowed: coffer.EUNAUTHENTICATED (no actor), EFORBIDDEN, EPURPOSE, EINVALID, ESCHEMA or ENOTFOUND (unknown collection)
	Reason   string // why, for the audit log and the error message (no values)
	Views    []coffer.View
	Withheld []string
	// State is true when the refusal comes from the subject's state (its
	// consents or restriction), not from the actor's grants. Reads answer
	// such a refusal exactly like an unknown record (SPEC §3).
	State bool
}

func deny(code, format string, args ...any) Decision {
	return Decision{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// denyState refuses for the subject's state.
func denyState(format string, args ...any) Decision {
	d := deny(coffer.EFORBIDDEN, format, args...)
	d.State = true
	return d
}

// AnyState is a Request.Consent for deciding the actor's grants alone,
// before any subject is looked up: the subject's state is applied later.
func AnyState(string) bool { return true }

// Decide applies SPEC §3:
//  1. the role grants the action on each field (reads: in a view);
//  2. the request names a purpose;
//  3. the purpose is declared, among the role's purposes and the field's;
//  4. a consent-based purpose needs the subject's current consent;
//  5. a restricted subject is read only for legal obligations;
//  6. an operator has MFA enrolled and the security policy acknowledged;
//  7. the actor is not locked, not expired and inside its allowed networks.
//
// Reads withhold the fields that fail 1 or 3 and are refused only when no
// field is left; every other rule refuses the whole request.
func Decide(r *Request) Decision {
	a := r.Actor
	switch {
	case a == nil:
		return deny(coffer.EUNAUTHENTICATED, "no actor")
	case a.Locked:
		return deny(coffer.EFORBIDDEN, "actor is locked")
	case !a.ExpiresAt.IsZero() && !r.Now.Before(a.ExpiresAt):
		return deny(coffer.EFORBIDDEN, "key expired")
	case !ipAllowed(a):
		return deny(coffer.EFORBIDDEN, "client address outside the key's allowed networks")
	case a.Kind == coffer.ActorOperator && !a.MFAEnrolled:
		return deny(coffer.EFORBIDDEN, "operator has no second factor enrolled")
	case a.Kind == coffer.ActorOperator && !a.PolicyAcked:
		return deny(coffer.EFORBIDDEN, "operator has not acknowledged the current security policy or training is not current")
	case a.Role == nil:
		return deny(coffer.EFORBIDDEN, "role %q is not defined in the schema", a.RoleName)
	}
	switch r.Action {
	case Admin:
		if !a.Role.Admin {
			return deny(coffer.EFORBIDDEN, "this call needs the admin role")
		}
		return Decision{Allowed: true}
	case Metrics:
		if !a.Role.Metrics {
			return deny(coffer.EFORBIDDEN, "this call needs a role with the metrics grant")
		}
		return Decision{Allowed: true}
	case Tokenize:
		if r.Deterministic && mayToken(a.Role, r.Namespace, false) && !mayToken(a.Role, r.Namespace, true) {
			return deny(coffer.EFORBIDDEN, "role %s may not make deterministic tokens or FPE ciphertexts in namespace %s without the detokenize right there", a.Role.Name, r.Namespace)
		}
		fallthrough
	case RevokeToken:
		if mayToken(a.Role, r.Namespace, false) || r.Action == RevokeToken && mayToken(a.Role, r.Namespace, true) {
			return Decision{Allowed: true}
		}
		return deny(coffer.EFORBIDDEN, "role %s may not %s in namespace %s", a.Role.Name, r.Action, r.Namespace)
	case Detokenize:
		if r.Namespace == "" {
			return decideDetokenizeAny(r, a)
		}
		return decideDetokenize(r, a)
	}
	if r.Purpose == "" {
		return deny(coffer.EPURPOSE, "the Coffer-Purpose header is required")
	}
	purpose, ok := r.Schema.Purposes[r.Purpose]
	if !ok {
		return deny(coffer.EINVALID, "unknown purpose %s", coffer.Name(r.Purpose))
	}
	coll, ok := r.Schema.Collections[r.Collection]
	if !ok {
		return deny(coffer.ENOTFOUND, "unknown collection %s", coffer.Name(r.Collection))
	}
	if !a.Role.HasPurpose(r.Purpose) {
		return deny(coffer.EFORBIDDEN, "role %s may not act for purpose %s", a.Role.Name, r.Purpose)
	}
	if purpose.LegalBasis == coffer.BasisConsent && (r.Consent == nil || !r.Consent(r.Purpose)) {
		return denyState("purpose %s needs the subject's consent, which is not on record", r.Purpose)
	}
	if r.Restricted && purpose.LegalBasis != coffer.BasisLegalObligation && r.Action != Delete {
		return denyState("processing of this subject is restricted (GDPR Art. 18)")
	}
	g := a.Role.Grant(r.Collection)
	if g == nil {
		return deny(coffer.EFORBIDDEN, "role %s has no access to collection %s", a.Role.Name, r.Collection)
	}

	switch r.Action {
	case Read:
		d := Decision{Views: make([]coffer.View, len(r.Fields))}
		for i, name := range r.Fields {
			f := coll.Fields[name]
			v := g.ReadView(name)
			if f == nil || v == "" || v == coffer.ViewNone || !f.HasPurpose(r.Purpose) {
				d.Withheld = append(d.Withheld, name)
				continue
			}
			if f.Tokenize != "" && v == coffer.ViewPlain && !g.CanDetokenize(name) {
				v = coffer.ViewToken // a tokenized value is plain only with detokenize
			}
			d.Views[i] = v
			d.Allowed = true
		}
		if !d.Allowed && len(r.Fields) > 0 {
			d.Code = coffer.EFORBIDDEN
			d.Reason = fmt.Sprintf("role %s may read none of the record's fields for purpose %s", a.Role.Name, r.Purpose)
		}
		if len(r.Fields) == 0 { // an empty record: only the grant matters
			d.Allowed, d.Code, d.Reason = true, "", ""
		}
		return d
	case Write, Search:
		for _, name := range r.Fields {
			f := coll.Fields[name]
			if f == nil {
				return deny(coffer.ESCHEMA, "field %s is not declared in collection %s", coffer.Name(name), r.Collection)
			}
			if r.Action == Write && !g.CanWrite(name) || r.Action == Search && !g.CanSearch(name) {
				return deny(coffer.EFORBIDDEN, "role %s may not %s field %s", a.Role.Name, r.Action, name)
			}
			if !f.HasPurpose(r.Purpose) {
				return deny(coffer.EFORBIDDEN, "field %s is not collected for purpose %s", name, r.Purpose)
			}
			if r.Action == Search && !f.Searchable {
				return deny(coffer.EINVALID, "field %s is not searchable", name)
			}
		}
		return Decision{Allowed: true}
	case Delete:
		if !g.Delete {
			return deny(coffer.EFORBIDDEN, "role %s may not delete records of %s", a.Role.Name, r.Collection)
		}
		return Decision{Allowed: true}
	}
	return deny(coffer.EINVALID, "unknown action %q", r.Action)
}

// MayDetokenizeAny reports whether role may detokenize in any namespace
// (its tokens lists or a collection grant's detokenize): a caller that may
// not is refused before any token is looked up.
func MayDetokenizeAny(role *coffer.Role) bool {
	if role == nil {
		return false
	}
	if len(role.Detokenize) > 0 {
		return true
	}
	for _, g := range role.Collections {
		if g != nil && len(g.Detokenize) > 0 {
			return true
		}
	}
	return false
}

// MayTokenAny reports whether role may tokenize or detokenize anywhere
// (revoking a token needs one of them in its namespace).
func MayTokenAny(role *coffer.Role) bool {
	return role != nil && len(role.Tokenize) > 0 || MayDetokenizeAny(role)
}

// ExportView is the view of a field in a subject's access export (SPEC §3):
// plain, except a tokenized field, which is masked (BIN and last 4) unless
// role may detokenize it.
func ExportView(role *coffer.Role, collection string, f *coffer.Field) coffer.View {
	if f != nil && f.Tokenize != "" && (role == nil || !role.Grant(collection).CanDetokenize(f.Name)) {
		return coffer.ViewMasked
	}
	return coffer.ViewPlain
}

// mayToken reports whether role may tokenize (detok false) or detokenize
// in namespace ns. The tokens of a record's field (collection.field) are
// made by writing the record and revealed by the collection grant's
// detokenize; other namespaces follow the role's tokens lists ("*": all).
func mayToken(role *coffer.Role, ns string, detok bool) bool {
	if coll, field, ok := strings.Cut(ns, "."); ok {
		return detok && role.Grant(coll).CanDetokenize(field)
	}
	list := role.Tokenize
	if detok {
		list = role.Detokenize
	}
	return slices.Contains(list, ns) || slices.Contains(list, "*")
}

// decideDetokenize: a purpose of the role is required; a record field's
// token reveals that field, so the field's purposes, the subject's consent
// and its restriction apply as to a plain read.
func decideDetokenize(r *Request, a *coffer.Actor) Decision {
	if r.Purpose == "" {
		return deny(coffer.EPURPOSE, "the Coffer-Purpose header is required")
	}
	purpose, ok := r.Schema.Purposes[r.Purpose]
	if !ok {
		return deny(coffer.EINVALID, "unknown purpose %s", coffer.Name(r.Purpose))
	}
	if !a.Role.HasPurpose(r.Purpose) {
		return deny(coffer.EFORBIDDEN, "role %s may not act for purpose %s", a.Role.Name, r.Purpose)
	}
	if !mayToken(a.Role, r.Namespace, true) {
		return deny(coffer.EFORBIDDEN, "role %s may not detokenize in namespace %s", a.Role.Name, r.Namespace)
	}
	coll, field, ok := strings.Cut(r.Namespace, ".")
	if !ok {
		return Decision{Allowed: true} // a vaultless token belongs to no subject
	}
	if c := r.Schema.Collections[coll]; c == nil || c.Fields[field] == nil || !c.Fields[field].HasPurpose(r.Purpose) {
		return deny(coffer.EFORBIDDEN, "field %s is not collected for purpose %s", r.Namespace, r.Purpose)
	}
	if purpose.LegalBasis == coffer.BasisConsent && (r.Consent == nil || !r.Consent(r.Purpose)) {
		return denyState("purpose %s needs the subject's consent, which is not on record", r.Purpose)
	}
	if r.Restricted && purpose.LegalBasis != coffer.BasisLegalObligation {
		return denyState("processing of this subject is restricted (GDPR Art. 18)")
	}
	return Decision{Allowed: true}
}

// decideDetokenizeAny is a detokenize call's decision before any token is
// looked up (Request.Namespace ""): a purpose of the role, and a
// detokenize grant in some namespace. Every refusal after the lookup is
// answered like an unknown token (SPEC §3).
func decideDetokenizeAny(r *Request, a *coffer.Actor) Decision {
	if r.Purpose == "" {
		return deny(coffer.EPURPOSE, "the Coffer-Purpose header is required")
	}
	if _, ok := r.Schema.Purposes[r.Purpose]; !ok {
		return deny(coffer.EINVALID, "unknown purpose %s", coffer.Name(r.Purpose))
	}
	if !a.Role.HasPurpose(r.Purpose) {
		return deny(coffer.EFORBIDDEN, "role %s may not act for purpose %s", a.Role.Name, r.Purpose)
	}
	if !MayDetokenizeAny(a.Role) {
		return deny(coffer.EFORBIDDEN, "role %s may not detokenize", a.Role.Name)
	}
	return Decision{Allowed: true}
}

func ipAllowed(a *coffer.Actor) bool {
	if len(a.AllowedCIDRs) == 0 {
		return true
	}
	for _, p := range a.AllowedCIDRs {
		if p.Contains(a.ClientIP) {
			return true
		}
	}
	return false
}
