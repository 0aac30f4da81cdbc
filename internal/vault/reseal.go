package vault

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer"
)

// Operators' TOTP secrets are sealed under a key derived from one
// derived-key root version (the operator row keeps it: TOTPVersion). After
// a rotation of the derived-key root the re-index job, once every record
// moved, re-seals each secret still under an older version. Logins open a
// secret under the version its row names, so they work before, during and
// after; the row's credential MAC covers neither the secret nor its
// version and stays as it is.

// openTOTP opens an operator's TOTP secret under the version its row
// names. Under a version this node does not hold yet (another node rotated
// the derived-key root and re-sealed it), it re-reads the key file once.
func (c *core) openTOTP(u *unsealed, op *coffer.Operator) ([]byte, error) {
	ver := max(op.TOTPVersion, 1)
	if ver > u.sealer.DerivedVersion() {
		c.reloadDerived(u, ver)
	}
	return u.sealer.OpenSecret("totp", op.Username, op.TOTPSecret, ver)
}

// staleTOTP reports whether an operator's TOTP secret is sealed under a
// derived version below cur.
func staleTOTP(ops []*coffer.Operator, cur uint32) bool {
	for _, op := range ops {
		if len(op.TOTPSecret) > 0 && max(op.TOTPVersion, 1) < cur {
			return true
		}
	}
	return false
}

// resealAttempts bounds the retries of one operator's re-seal that a
// concurrent update of its row (a login) made conflict.
const resealAttempts = 5

// resealTOTP re-seals every operator's TOTP secret sealed under a derived
// version below target, one audited update each (actor system, no
// secret, no username in the reason), and returns how many it moved.
func (c *core) resealTOTP(ctx context.Context, target uint32) (int, error) {
	ops, err := c.store.Operators(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, op := range ops {
		if len(op.TOTPSecret) == 0 || max(op.TOTPVersion, 1) >= target {
			continue
		}
		moved, err := c.resealOne(ctx, op.Username, target)
		if err != nil {
			return n, err
		}
		if moved {
			n++
		}
	}
	return n, nil
}

// resealOne re-seals one operator's secret, reading the row again after a
// conflict; false if the row no longer needs it (removed, re-enrolled).
func (c *core) resealOne(ctx context.Context, username string, target uint32) (bool, error) {
	for range resealAttempts {
		if c.closing() {
			return false, errClosing
		}
		moved, err := c.resealAttempt(ctx, username, target)
		if coffer.ErrorCode(err) == coffer.ECONFLICT {
			continue
		}
		return moved, err
	}
	return false, coffer.Errorf(coffer.EINTERNAL, "re-seal of a TOTP secret: the operator's row kept changing")
}

func (c *core) resealAttempt(ctx context.Context, username string, target uint32) (bool, error) {
	u, done, err := c.open()
	if err != nil {
		return false, err
	}
	defer done()
	op, err := c.store.Operator(ctx, username)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	from := max(op.TOTPVersion, 1)
	if len(op.TOTPSecret) == 0 || from >= target {
		return false, nil
	}
	secret, err := c.openTOTP(u, op)
	if err != nil {
		return false, err
	}
	sealed, ver, err := u.sealer.SealSecret("totp", op.Username, secret)
	clear(secret)
	if err != nil {
		return false, err
	}
	if ver < target {
		return false, coffer.Errorf(coffer.EINTERNAL, "re-seal: the current derived-key root version is below the job's")
	}
	op.TOTPSecret, op.TOTPVersion = sealed, ver
	e := &coffer.AuditEntry{Actor: "system:reseal", Action: "keys.reseal", Outcome: coffer.OutcomeAllowed,
		Reason: fmt.Sprintf("an operator's TOTP secret from derived-key root version %d to %d", from, ver)}
	if err := c.store.UpdateOperator(ctx, op, e); err != nil {
		return false, err
	}
	return true, nil
}
