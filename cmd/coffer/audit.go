package main

import (
	"crypto/ed25519"
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
	Verify auditVerifyCmd `cmd:"" help:"Verify the audit log's hash chain, signed head, checkpoints and (--witness) witness. Exit 0 intact, 1 broken."`
}

type auditVerifyCmd struct {
	Data      string `help:"Data directory holding coffer.db." default:"./coffer-dev"`
	Keys      string `help:"Key file (default <data>/keys.json); the audit public key is derived from it when it is there."`
	PublicKey string `name:"public-key" help:"Audit public key file written beside the config (default <data>/audit-keys.txt); used when there is no key file, so verification needs no unseal."`
	Witness   string `help:"Witness file (audit.witness; --dev writes <data>.witness): also catches truncation and a replayed old head."`
}

func (c *auditVerifyCmd) Run(env *Env) error {
	path := filepath.Join(c.Data, "coffer.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no database at %s (use --data)", path)
	}
	pubs, err := c.publicKeys()
	if err != nil {
		return err
	}
	var wcps []audit.Checkpoint
	var wpubs map[uint32]ed25519.PublicKey
	if c.Witness != "" {
		f, err := os.Open(c.Witness)
		if err != nil {
			return fmt.Errorf("witness: %w", err)
		}
		wcps, wpubs, err = audit.ReadWitness(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(env.Stdout, "FAIL: %v\n", err)
			return exitStatus(exitFindings)
		}
		if wcps == nil {
			wcps = []audit.Checkpoint{} // an empty witness still counts as given
		}
	}
	st, err := sqlite.Open(env.Ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := audit.VerifyStore(env.Ctx, st, pubs, wcps, wpubs)
	var f *audit.Failure
	if errors.As(err, &f) {
		fmt.Fprintf(env.Stdout, "FAIL: audit log broken at seq %d: %s (%d entries verified before it)\n", f.Seq, f.Reason, n)
		return exitStatus(exitFindings)
	}
	if err != nil {
		return err
	}
	head, err := st.AuditHead(env.Ctx)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		fmt.Fprintf(env.Stdout, "ok: empty log\n")
		return nil
	}
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("ok: %d entries, chain intact, signed head at seq %d verified", n, head.Seq)
	if c.Witness != "" {
		msg += fmt.Sprintf(", %d witness checkpoints agree", len(wcps))
	}
	fmt.Fprintln(env.Stdout, msg)
	return nil
}

// publicKeys are the audit public keys by version: derived from the key
// file when there is one, else read from the public key file (every
// version a rotation of the derived-key root added).
func (c *auditVerifyCmd) publicKeys() (map[uint32]ed25519.PublicKey, error) {
	keysPath := c.Keys
	if keysPath == "" {
		keysPath = filepath.Join(c.Data, "keys.json")
	}
	if _, err := os.Stat(keysPath); err == nil || c.Keys != "" {
		keys, err := (&keyring.File{Path: keysPath}).Keys()
		if err != nil {
			return nil, err
		}
		signer, err := audit.NewSignerKeys(keys)
		if err != nil {
			return nil, err
		}
		return signer.PublicKeys(), nil
	}
	pubPath := c.PublicKey
	if pubPath == "" {
		pubPath = filepath.Join(c.Data, "audit-keys.txt")
	}
	keys, err := audit.ReadKeyFile(pubPath)
	if err != nil {
		return nil, fmt.Errorf("no key file and no audit public key (--public-key): %w", err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: holds no audit key", pubPath)
	}
	return keys, nil
}
