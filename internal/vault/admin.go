package vault

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/schema"
)

// SchemaDocument returns the schema as a JSON document (admin).
func (v *Vault) SchemaDocument(ctx context.Context, c *Call) ([]byte, error) {
	e := c.entry("schema.read", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	return schema.Marshal(v.Schema())
}

// PutSchema replaces the schema (admin). The document is validated whole
// before anything changes; the change is audited and survives restarts.
func (v *Vault) PutSchema(ctx context.Context, c *Call, doc []byte) (*coffer.Schema, error) {
	e := c.entry("schema.update", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	sc, err := schema.Parse("request body", doc)
	if err != nil {
		return nil, err
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.SaveSchema(ctx, doc, v.now(), e); err != nil {
		return nil, err
	}
	v.schema.Store(&loadedSchema{s: sc, doc: doc})
	return sc, nil
}

// MaxAuditLimit bounds one page of the audit log.
const MaxAuditLimit = 1000

// Audit returns audit entries (admin). Reading the log is itself audited.
func (v *Vault) Audit(ctx context.Context, c *Call, f coffer.AuditFilter) ([]*coffer.AuditEntry, error) {
	e := c.entry("audit.read", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > MaxAuditLimit {
		return nil, coffer.Errorf(coffer.EINVALID, "limit: at most %d", MaxAuditLimit)
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	return v.store.Audit(ctx, f)
}

// VerifyAudit checks the whole audit chain and its signed head (admin). It
// returns the number of entries checked; a broken log is an *audit.Failure
// naming the first bad sequence number.
func (v *Vault) VerifyAudit(ctx context.Context, c *Call, pub ed25519.PublicKey) (int64, error) {
	e := c.entry("audit.verify", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return 0, err
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return 0, err
	}
	head, err := v.store.AuditHead(ctx)
	if err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
		return 0, err
	}
	return audit.Verify(v.store.AuditLog(ctx), head, pub)
}

// RewrapAll re-wraps every subject DEK that is not under the current KEK
// version (key rotation: field values are not re-encrypted) and returns
// how many it re-wrapped. Each batch of 1,000 is one audited transaction.
func (v *Vault) RewrapAll(ctx context.Context) (int, error) {
	sealer, err := v.unsealed()
	if err != nil {
		return 0, err
	}
	cur := sealer.CurrentVersion()
	total, after := 0, ""
	for {
		subs, err := v.store.SubjectsBelow(ctx, cur, after, 1000)
		if err != nil || len(subs) == 0 {
			return total, err
		}
		rw := make([]coffer.Rewrap, 0, len(subs))
		for _, s := range subs {
			w, ver, err := sealer.Rewrap(s.ID, s.WrappedDEK, s.KEKVersion)
			if err != nil {
				return total, fmt.Errorf("subject %s: %w", s.ID, err)
			}
			rw = append(rw, coffer.Rewrap{Subject: s.ID, OldVersion: s.KEKVersion, WrappedDEK: w, KEKVersion: ver})
		}
		e := &coffer.AuditEntry{Actor: "system", Action: "keys.rewrap", Outcome: coffer.OutcomeAllowed,
			Reason: fmt.Sprintf("%d subject keys to KEK version %d", len(rw), cur)}
		n, err := v.store.Rewrap(ctx, rw, e)
		if err != nil {
			return total, err
		}
		total += n
		after = subs[len(subs)-1].ID
	}
}

// KEKVersions counts subjects per KEK version.
func (v *Vault) KEKVersions(ctx context.Context) (map[uint32]int64, error) {
	return v.store.KEKVersions(ctx)
}
