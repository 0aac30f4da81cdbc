package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/schema"
	"github.com/cofferhq/coffer/internal/server"
	"github.com/cofferhq/coffer/internal/vault"
)

// initCmd creates a production data directory (SPEC §4 "coffer init").
type initCmd struct {
	Data      string `required:"" help:"The new data directory (created 0700; must not exist or be empty)." type:"path"`
	Provider  string `default:"file" enum:"file,passphrase,shamir,pkcs11" help:"Where the root key comes from: file, passphrase, shamir or pkcs11."`
	Shares    int    `default:"5" help:"shamir: how many shares to print."`
	Threshold int    `default:"3" help:"shamir: how many shares open the server."`
	Addr      string `default:"127.0.0.1:8750" help:"Listen address written to coffer.yaml; a non-loopback address gets a self-signed TLS pair."`
	Operator  string `default:"admin" help:"The first operator (role admin): init prints its single-use enrollment link (72 h)."`

	PKCS11Module  string `name:"pkcs11-module" help:"pkcs11: the vendor's PKCS#11 library."`
	PKCS11Token   string `name:"pkcs11-token" help:"pkcs11: the token label."`
	PKCS11PINFile string `name:"pkcs11-pin-file" help:"pkcs11: a file holding the user PIN (never on the command line)." type:"path"`
	PKCS11Key     string `name:"pkcs11-key" default:"coffer-root" help:"pkcs11: the label of the AES key to create."`
}

// starterSchema is the commented schema coffer init writes; it parses
// (TestStarterSchemaParses), and the owner edits it before real data.
const starterSchema = `# Coffer schema (SPEC §2): what you store, why, and who may see it.
# Edit it before storing real data; the server loads it into an empty
# store on first start, later changes go through PUT /v1/schema.

# Purposes: why personal data is processed, with the GDPR legal basis.
purposes:
  account: {legal_basis: contract, description: "Run the customer's account"}
  support: {legal_basis: legitimate_interests}

# Collections hold records; each field says its type, its classification,
# the purposes it serves, and optionally searchable (blind index), a mask
# and a retention.
collections:
  customers:
    retention: 1095d          # from the record's last update
    fields:
      email: {type: email, classification: personal, searchable: true, mask: email, purposes: [account, support], required: true}
      name:  {type: string, classification: personal, purposes: [account, support]}

# Roles: what an API key or operator of that role may do. admin
# administers (API keys, operators, schema, audit) and reads everything.
roles:
  admin: {purposes: "*", collections: {"*": {read: {"*": plain}, write: ["*"], search: ["*"], delete: true}}, admin: true}
  support:
    purposes: [support]
    collections:
      customers: {read: {name: plain, email: masked}, search: [email]}
`

func (c *initCmd) Run(env *Env) error {
	// Everything that can refuse comes before the first write.
	if entries, err := os.ReadDir(c.Data); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty: coffer init writes a new data directory only (nothing written)", c.Data)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := schema.Parse("starter schema", []byte(starterSchema)); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr %q: want host:port", c.Addr)
	}
	root := keyring.NewRoot()
	defer root.Destroy()
	material, err := c.wrap(env, root)
	if err != nil {
		return err
	}

	_, statErr := os.Stat(c.Data)
	created := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return err
	}
	var written []string
	ok := false
	defer func() { // a failure leaves nothing behind
		if ok {
			return
		}
		if created {
			os.RemoveAll(c.Data)
			return
		}
		for _, p := range written {
			os.Remove(p)
		}
	}()
	if err := os.Chmod(c.Data, 0o700); err != nil {
		return err
	}
	write := func(name string, b []byte, mode os.FileMode) error {
		p := filepath.Join(c.Data, name)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		written = append(written, p)
		_, err = f.Write(b)
		return errors.Join(err, f.Sync(), f.Close())
	}
	if err := material.write(c.Data, &written); err != nil {
		return err
	}
	keys, err := material.keys(root)
	if err != nil {
		return err
	}
	if err := write("schema.yaml", []byte(starterSchema), 0o600); err != nil {
		return err
	}
	var fingerprint string
	if !server.IsLoopback(c.Addr) {
		host, _, _ := net.SplitHostPort(c.Addr)
		cert, _, err := server.SelfSigned(filepath.Join(c.Data, "tls.crt"), filepath.Join(c.Data, "tls.key"), host)
		written = append(written, filepath.Join(c.Data, "tls.crt"), filepath.Join(c.Data, "tls.key"))
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		fingerprint = server.Fingerprint(cert)
	}
	if err := write("coffer.yaml", []byte(c.configFile()), 0o600); err != nil {
		return err
	}
	cfgPath := filepath.Join(c.Data, "coffer.yaml")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}

	// The store: the starter schema and the first admin API key.
	o, err := openVaultKeys(env.Ctx, cfg, keys.Root, rotation{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	written = append(written, filepath.Join(c.Data, "coffer.db"), filepath.Join(c.Data, "coffer.db-wal"), filepath.Join(c.Data, "coffer.db-shm"))
	_, token, err := o.vault.Identity.CreateAPIKey(env.Ctx, vault.SystemCall(), vault.NewAPIKey{Name: "init-admin", Role: "admin"})
	var enrollment *vault.Enrollment
	if err == nil {
		enrollment, err = o.vault.Identity.CreateOperator(env.Ctx, vault.SystemCall(), c.Operator, "admin")
	}
	o.vault.Close()
	o.store.Close()
	if err != nil {
		return err
	}
	ok = true

	out := env.Stdout
	fmt.Fprintf(out, "created %s (0700): coffer.yaml, schema.yaml (a starter: edit it), %s, audit-keys.txt\n", c.Data, material.name)
	material.print(out)
	fmt.Fprintf(out, "admin API key: %s\n", token)
	fmt.Fprintln(out, "  (shown once: store it in your password manager)")
	scheme := "http"
	if fingerprint != "" {
		scheme = "https"
	}
	fmt.Fprintf(out, "operator enrollment link (%s, admin): %s\n", c.Operator, vault.EnrollmentLink(scheme+"://"+c.Addr, enrollment.Token))
	fmt.Fprintf(out, "  (single use, valid until %s: the operator sets a password and scans a TOTP seed through it; nobody else sees either)\n", enrollment.ExpiresAt.Format(time.RFC3339))
	if fingerprint != "" {
		fmt.Fprintf(out, "tls: a self-signed certificate, SHA-256 fingerprint %s (clients pin it with --tls-fingerprint)\n", fingerprint)
	}
	fmt.Fprintf(out, "start it: coffer serve --config %s\n", shellQuote(cfgPath))
	if c.Provider == keyring.ProviderPassphrase || c.Provider == keyring.ProviderShamir {
		fmt.Fprintln(out, "it starts sealed: open it with coffer unseal (the secret on standard input)")
	}
	return nil
}

// configFile is the production coffer.yaml; its paths are relative to it.
func (c *initCmd) configFile() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by coffer init. Paths are relative to this file.\naddr: %q\ndata: .\nschema: schema.yaml\nkeys:\n  provider: %s\n", c.Addr, c.Provider)
	switch c.Provider {
	case keyring.ProviderFile:
		b.WriteString("  file: keys.json      # the root key itself: back it up apart from the database\n")
	case keyring.ProviderPKCS11:
		fmt.Fprintf(&b, "  envelope: root.json\n  pkcs11:\n    module: %q\n    token_label: %q\n    pin_file: %q\n    key_label: %q\n",
			c.PKCS11Module, c.PKCS11Token, c.PKCS11PINFile, c.PKCS11Key)
	default:
		b.WriteString("  envelope: root.json  # the wrapped root: useless without the unseal input\n")
	}
	if !server.IsLoopback(c.Addr) {
		b.WriteString("tls:\n  self_signed: true     # tls.crt and tls.key in this directory; or set cert and key\n")
	}
	return b.String()
}

// rootMaterial is the provider's key material, made in memory before
// anything is written.
type rootMaterial struct {
	name   string
	write  func(dir string, written *[]string) error
	shares []*keyring.Share
	file   string // the file provider's key file, which holds its own root
}

// keys derives every key from the root the material holds.
func (m *rootMaterial) keys(root *keyring.Root) (*keyring.Keys, error) {
	if m.file != "" {
		return (&keyring.File{Path: m.file}).Material()
	}
	return keyring.Derive(root, 1)
}

func (m *rootMaterial) print(w io.Writer) {
	if len(m.shares) == 0 {
		return
	}
	fmt.Fprintln(w, "shares (shown once: give each to one holder, keep none together):")
	for i, s := range m.shares {
		fmt.Fprintf(w, "share %d: %s\n", i+1, s.Text())
		s.Destroy()
	}
}

func (c *initCmd) wrap(env *Env, root *keyring.Root) (*rootMaterial, error) {
	envelope := func(e *keyring.Envelope) func(string, *[]string) error {
		return func(dir string, written *[]string) error {
			p := filepath.Join(dir, "root.json")
			*written = append(*written, p)
			return keyring.WriteEnvelope(p, e, true)
		}
	}
	switch c.Provider {
	case keyring.ProviderFile:
		p := filepath.Join(c.Data, "keys.json")
		return &rootMaterial{name: "keys.json (the root key: back it up)", file: p, write: func(_ string, written *[]string) error {
			*written = append(*written, p)
			return keyring.CreateRootFile(p)
		}}, nil
	case keyring.ProviderPassphrase:
		pass, err := readSecret(env, "passphrase: ", true)
		if err != nil {
			return nil, err
		}
		if len(pass) < 12 {
			return nil, errors.New("the passphrase is shorter than 12 characters")
		}
		e, err := (&keyring.Passphrase{Pass: []byte(pass)}).Wrap(root)
		if err != nil {
			return nil, err
		}
		return &rootMaterial{name: "root.json (the root wrapped under the passphrase)", write: envelope(e)}, nil
	case keyring.ProviderShamir:
		if c.Threshold < 2 || c.Threshold > c.Shares || c.Shares > 255 {
			return nil, fmt.Errorf("--threshold %d of --shares %d: want 2 ≤ threshold ≤ shares ≤ 255", c.Threshold, c.Shares)
		}
		e, shares, err := keyring.Split(root, c.Threshold, c.Shares)
		if err != nil {
			return nil, err
		}
		return &rootMaterial{name: fmt.Sprintf("root.json (the root wrapped under a key split %d-of-%d)", c.Threshold, c.Shares), write: envelope(e), shares: shares}, nil
	case keyring.ProviderPKCS11:
		if c.PKCS11Module == "" || c.PKCS11Token == "" || c.PKCS11PINFile == "" {
			return nil, errors.New("--provider pkcs11 needs --pkcs11-module, --pkcs11-token and --pkcs11-pin-file")
		}
		pin, err := os.ReadFile(c.PKCS11PINFile)
		if err != nil {
			return nil, err
		}
		p, err := keyring.OpenPKCS11(keyring.PKCS11Config{Module: c.PKCS11Module, TokenLabel: c.PKCS11Token, PIN: strings.TrimSpace(string(pin)), KeyLabel: c.PKCS11Key})
		if err != nil {
			return nil, err
		}
		defer p.Close()
		if err := p.CreateKey(); err != nil {
			return nil, err
		}
		e, err := p.Wrap(root)
		if err != nil {
			return nil, err
		}
		return &rootMaterial{name: "root.json (the root wrapped by the HSM key " + c.PKCS11Key + ")", write: envelope(e)}, nil
	}
	return nil, fmt.Errorf("--provider %q: want file, passphrase, shamir or pkcs11", c.Provider)
}
