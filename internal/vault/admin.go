package vault

import (
	"context"
	"crypto/ed25519"
	"sync"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/schema"
)

// Admin reads and replaces the schema and reads and verifies the audit
// log.
type Admin struct {
	*core
	schemaMu sync.Mutex // one schema change at a time: purges are planned against the loaded schema
}

// SchemaDocument returns the schema as a JSON document (admin).
func (v *Admin) SchemaDocument(ctx context.Context, c *Call) ([]byte, error) {
	e := c.entry("schema.read", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	return schema.Marshal(v.Schema())
}

// PutSchema replaces the schema (admin). The document is validated whole
// before anything changes; the change is audited and survives restarts.
// Dropping a field or collection that holds values is refused (ECONFLICT
// naming it and the count) unless purge: then the change commits with a
// purge of each dropped name, its values are invisible from then on, and
// a background job deletes them a page at a time (WaitPurges). A name
// still being purged cannot be declared again.
func (v *Admin) PutSchema(ctx context.Context, c *Call, doc []byte, purge bool) (*coffer.Schema, error) {
	e := c.entry("schema.update", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	sc, err := schema.Parse("request body", doc)
	if err != nil {
		return nil, err
	}
	u, done, err := v.open()
	if err != nil {
		return nil, err
	}
	defer done()
	v.schemaMu.Lock()
	defer v.schemaMu.Unlock()
	now := v.now().UTC()
	purges, held, err := v.planPurges(ctx, sc, purge, now)
	if err != nil {
		if coffer.ErrorCode(err) == coffer.ECONFLICT {
			e.Outcome, e.Reason = coffer.OutcomeError, coffer.ECONFLICT
			if aerr := v.store.AppendAudit(ctx, e); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	e.Outcome = coffer.OutcomeAllowed
	if held != "" {
		e.Reason = "purge " + held
	}
	if err := v.store.Commit(ctx, &coffer.Change{SchemaDoc: doc, SchemaMAC: schemaMAC(u.sealer, doc), NewPurges: purges, At: now, Audit: []*coffer.AuditEntry{e}}); err != nil {
		return nil, err
	}
	v.schema.Store(&loadedSchema{s: sc, doc: doc})
	if len(purges) > 0 {
		v.startPurges()
	}
	return sc, nil
}

// MaxAuditLimit bounds one page of the audit log.
const MaxAuditLimit = 1000

// Audit returns audit entries (admin). Reading the log is itself audited.
func (v *Admin) Audit(ctx context.Context, c *Call, f coffer.AuditFilter) ([]*coffer.AuditEntry, error) {
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

// VerifyAudit checks the whole audit chain, its signed head and the stored
// checkpoints (admin), each checkpoint under its key version's public key
// in pubs (nil: the vault's audit signer's). It returns the number of
// entries checked; a broken log is an *audit.Failure naming the first bad
// sequence number.
func (v *Admin) VerifyAudit(ctx context.Context, c *Call, pubs map[uint32]ed25519.PublicKey) (int64, error) {
	e := c.entry("audit.verify", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return 0, err
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return 0, err
	}
	if pubs == nil && v.signer != nil {
		pubs = v.signer.PublicKeys()
	}
	return audit.VerifyStore(ctx, v.store, pubs, nil, nil)
}
