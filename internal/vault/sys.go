package vault

import (
	"context"

	"github.com/cofferhq/coffer"
)

// SealAs seals the vault for an administrator (POST /v1/sys/seal): the
// call is checked and audited while the keys are still held, then Seal
// waits for the calls in flight and drops every key. Sealing a sealed
// vault is allowed (containment is idempotent).
func (v *Vault) SealAs(ctx context.Context, c *Call) error {
	e := c.entry("sys.seal", "")
	if err := v.core.requireAdmin(ctx, c, e); err != nil {
		return err
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := v.core.store.AppendAudit(ctx, e); err != nil {
		return err
	}
	v.Seal()
	return nil
}

// AuditUnseal records that the vault was opened through POST
// /v1/sys/unseal (the inputs and who gave them are not recorded: the
// call needs no credentials).
func (v *Vault) AuditUnseal(ctx context.Context) error {
	return v.core.store.AppendAudit(ctx, &coffer.AuditEntry{Actor: "system", Action: "sys.unseal", Outcome: coffer.OutcomeAllowed})
}
