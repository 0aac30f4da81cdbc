package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/sqlite"
)

type auditCmd struct {
	Verify auditVerifyCmd `cmd:"" help:"Verify the audit log's hash chain and signed head. Exit 0 intact, 1 broken."`
}

type auditVerifyCmd struct {
	Data string `help:"Data directory holding coffer.db." default:"./coffer-dev"`
	Keys string `help:"Key file (default <data>/keys.json); needed to check the signed head."`
}

func (c *auditVerifyCmd) Run(env *Env) error {
	path := filepath.Join(c.Data, "coffer.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no database at %s (use --data)", path)
	}
	keysPath := c.Keys
	if keysPath == "" {
		keysPath = filepath.Join(c.Data, "keys.json")
	}
	keys, err := (&keyring.File{Path: keysPath}).Keys()
	if err != nil {
		return err
	}
	signer, err := audit.NewSigner(keys.IndexKey)
	if err != nil {
		return err
	}
	st, err := sqlite.Open(env.Ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	head, err := st.AuditHead(env.Ctx)
	if err != nil && coffer.ErrorCode(err) != coffer.ENOTFOUND {
		return err
	}
	n, err := audit.Verify(st.AuditLog(env.Ctx), head, signer.PublicKey())
	var f *audit.Failure
	if errors.As(err, &f) {
		fmt.Fprintf(env.Stdout, "FAIL: audit log broken at seq %d: %s (%d entries verified before it)\n", f.Seq, f.Reason, n)
		return exitStatus(exitFindings)
	}
	if err != nil {
		return err
	}
	if head == nil {
		fmt.Fprintf(env.Stdout, "ok: empty log\n")
		return nil
	}
	fmt.Fprintf(env.Stdout, "ok: %d entries, chain intact, signed head at seq %d verified\n", n, head.Seq)
	return nil
}
