package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/api"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/datadir"
	"github.com/cofferhq/coffer/internal/inventory"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/postgres"
	"github.com/cofferhq/coffer/internal/server"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/vault"
	"github.com/cofferhq/coffer/openapi"
)

type serveCmd struct {
	Dev    bool   `help:"Development mode: SQLite and a generated key file in --data, the example schema, an admin API key. Loopback only."`
	Config string `help:"Configuration file (production)." type:"path"`
	Addr   string `help:"Listen address (overrides the config file)."`
	Data   string `help:"Data directory (--dev)." default:"./coffer-dev"`
}

func (c *serveCmd) Run(env *Env) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))

	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return err
	}
	var tlsConf *tls.Config
	switch {
	case cfg.TLS.Cert != "":
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		tlsConf = server.TLSConfig(cert)
	case cfg.TLS.SelfSigned:
		host, _, _ := net.SplitHostPort(cfg.Addr)
		cert, created, err := server.SelfSigned(filepath.Join(cfg.Data, "tls.crt"), filepath.Join(cfg.Data, "tls.key"), host)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		verb := "using"
		if created {
			verb = "generated"
		}
		fp := server.Fingerprint(cert)
		fmt.Fprintf(env.Stderr, "tls: %s a self-signed certificate, SHA-256 fingerprint %s\n", verb, fp)
		fmt.Fprintf(env.Stderr, "tls: clients pin it with --tls-fingerprint or export COFFER_TLS_FINGERPRINT=%s\n", fp)
		tlsConf = server.TLSConfig(cert)
	case !server.IsLoopback(cfg.Addr):
		return fmt.Errorf("refusing to listen on %s without TLS: set tls.cert and tls.key (or tls.self_signed), or listen on a loopback address", cfg.Addr)
	}
	if c.Dev {
		if _, err := os.Stat(cfg.Keys.File); errors.Is(err, fs.ErrNotExist) {
			if err := keyring.CreateFile(cfg.Keys.File); err != nil {
				return err
			}
			log.Info("created a development key file", "path", cfg.Keys.File)
		}
	}
	// Everything that can refuse the configuration comes before listening.
	var notice []byte
	if cfg.Inventory != "" {
		inv, err := inventory.Load(cfg.Inventory)
		if err != nil {
			return fmt.Errorf("inventory: %w", err)
		}
		var b bytes.Buffer
		if err := inv.WriteNotice(&b); err != nil {
			return err
		}
		notice = b.Bytes()
	}
	// Listen before opening the vault: in development the WebAuthn origin
	// names the port actually bound.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if cfg.Database == "" { // one process serves a SQLite data directory (datalock.go)
		lock, err := datadir.Acquire(cfg.Data, ln.Addr().String())
		if err != nil {
			return err
		}
		defer lock.Release()
	}
	if c.Dev && tlsConf == nil {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		cfg.WebAuthn = config.WebAuthn{RPID: "localhost", Origins: []string{"http://localhost:" + port}}
	}
	ctx := env.Ctx
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	served := scheme + "://" + ln.Addr().String() // the address bound, not the one asked for (:0)
	srv, err := startServing(ctx, cfg, log, reg, api.Config{PrivacyNotice: notice, Version: version(), MaxBodyBytes: cfg.MaxBodyBytes, Logger: log,
		OpenAPI: openapi.Document, Metrics: reg, TrustedProxies: cfg.Proxies()})
	if err != nil {
		return err
	}
	defer srv.close() // the sweeper, then the vault's background writes, end before the store closes
	if c.Dev {
		if err := devAdminToken(ctx, env, srv.vault(), cfg.Data, served); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Stderr, "coffer %s listening on %s (data %s)\n", version(), served, cfg.Data)
	if srv.vault() == nil {
		fmt.Fprintf(env.Stderr, "sealed (keys.provider %s): open it with coffer unseal (COFFER_ADDR=%s), or POST /v1/sys/unseal\n", cfg.Keys.Provider, served)
	}
	return server.Serve(ctx, ln, srv, server.Config{TLS: tlsConf, Logger: log})
}

func (c *serveCmd) config() (config.Config, error) {
	switch {
	case c.Dev && c.Config != "":
		return config.Config{}, errors.New("use either --dev or --config, not both")
	case c.Dev:
		addr := c.Addr
		if addr == "" {
			addr = "127.0.0.1:8750"
		}
		if !server.IsLoopback(addr) {
			return config.Config{}, fmt.Errorf("--dev listens on loopback addresses only, not %s", addr)
		}
		data, err := filepath.Abs(c.Data)
		if err != nil {
			return config.Config{}, err
		}
		return config.Config{Addr: addr, Data: data, Keys: config.Keys{Provider: "file", File: filepath.Join(data, "keys.json")},
			MaxBodyBytes: 1 << 20, LogLevel: "info"}, nil
	case c.Config != "":
		cfg, err := loadConfig(c.Config)
		if err == nil && c.Addr != "" {
			cfg.Addr = c.Addr
		}
		return cfg, err
	}
	return config.Config{}, errors.New("say --dev (a local development server) or --config FILE")
}

// loadConfig loads a production configuration. One without schema: is
// refused: the demo schema is for --dev only (SPEC §6).
func loadConfig(path string) (config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, err
	}
	if cfg.Schema == "" {
		return config.Config{}, fmt.Errorf("%s: no schema: set schema: to your schema file (examples/shop.yaml is a start); the demo schema is only for --dev", path)
	}
	return cfg, nil
}

// devAdminToken creates the development admin key once, writes it to
// <data>/dev-admin-token (0600) and prints it; later runs reuse the file.
// Both print how to point the client verbs at served, the address bound.
func devAdminToken(ctx context.Context, env *Env, v *vault.Vault, data, served string) error {
	path := filepath.Join(data, "dev-admin-token")
	try := fmt.Sprintf("try:\n  export COFFER_ADDR=%s COFFER_TOKEN=$(cat %s)\n", served, shellQuote(path))
	if _, err := os.Stat(path); err == nil {
		fmt.Fprintf(env.Stderr, "admin API key: in %s\n%s", path, try)
		return nil
	}
	_, token, err := v.Identity.CreateAPIKey(ctx, vault.SystemCall(), vault.NewAPIKey{Name: "dev-admin", Role: "admin"})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "admin API key (shown once, also in %s):\n  %s\n", path, token)
	fmt.Fprint(env.Stderr, try)
	return nil
}

func shellQuote(s string) string {
	if strings.ContainsAny(s, " '\"$`\\") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

// opened is a vault over its store, as serve and the administration verbs
// open it from a configuration.
type opened struct {
	vault  *vault.Vault
	store  coffer.Store
	signer *audit.Signer
}

// openVault loads the root keys, opens the store the configuration names
// (PostgreSQL when database is set, else SQLite in the data directory) and
// the vault over it. reg, when not nil, receives the store's metrics.
func openVault(ctx context.Context, cfg config.Config, log *slog.Logger, reg *prometheus.Registry) (*opened, error) {
	keys, u, err := keyring.Start(keySource(cfg))
	if err != nil {
		return nil, err
	}
	if u != nil {
		return nil, fmt.Errorf("keys.provider %s: the root opens only with unseal input: start the server (coffer serve) and use the API", cfg.Keys.Provider)
	}
	return openVaultKeys(ctx, cfg, keys.Root, rotation{src: fileSource(cfg)}, log, reg)
}

// rotation is the key source a vault rotates with (nil: it cannot) and
// what that source holds for as long as the vault's keys (an envelope
// provider's root).
type rotation struct {
	src  vault.KeySource
	hold vault.Holder
}

// fileSource is the file provider's key file, nil for another provider
// (an envelope provider rotates through keyring.EnvelopeSource, which
// needs the root of an unseal).
func fileSource(cfg config.Config) vault.KeySource {
	if cfg.Keys.Provider == "" || cfg.Keys.Provider == keyring.ProviderFile {
		return &keyring.File{Path: cfg.Keys.File}
	}
	return nil
}

// openVaultKeys is openVault with the root keys already open. It owns
// rot.hold: on error it is destroyed.
func openVaultKeys(ctx context.Context, cfg config.Config, keys *coffer.RootKeys, rot rotation, log *slog.Logger, reg *prometheus.Registry) (o *opened, err error) {
	if rot.hold != nil {
		defer func() {
			if err != nil {
				rot.hold.Destroy()
			}
		}()
	}
	signer, err := audit.NewSignerKeys(keys)
	if err != nil {
		return nil, err
	}
	// The audit public keys beside the config (verification needs no
	// unseal), every version, kept current: a rotation of the derived-key
	// root adds its key's line before the key signs anything. The witness
	// lies outside the data directory (SPEC §8).
	// A node of a shared store learns another node's rotation of the audit
	// key from the key file (the head it meets is signed by the new key).
	if rot.src != nil {
		signer.SetReload(rot.src.Keys)
	}
	keysPath := cfg.AuditKeysPath()
	if err := signer.Publish(func(v uint32, pub ed25519.PublicKey) error { return audit.WriteKeyFile(keysPath, v, pub) }); err != nil {
		return nil, fmt.Errorf("audit public key: %w", err)
	}
	witness := &audit.WitnessFile{Path: cfg.WitnessPath()}
	var store coffer.Store
	if cfg.Database != "" {
		if store, err = postgres.OpenWith(ctx, cfg.Database, postgres.Options{Signer: signer, Witness: witness,
			CheckpointEvery: cfg.Audit.CheckpointEvery, Logger: log}); err != nil {
			return nil, err
		}
	} else {
		lite, err := sqlite.Open(ctx, filepath.Join(cfg.Data, "coffer.db"), sqlite.Options{Signer: signer, Witness: witness,
			CheckpointEvery: cfg.Audit.CheckpointEvery, Logger: log})
		if err != nil {
			return nil, err
		}
		if reg != nil {
			reg.MustRegister(
				prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "coffer_store_commits_total", Help: "Write transactions committed (group commits)."},
					func() float64 { return float64(lite.Stats().Commits) }),
				prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "coffer_store_changes_total", Help: "Changes and audit appends committed."},
					func() float64 { return float64(lite.Stats().Changes) }))
		}
		store = lite
	}
	schemaDoc, schemaName := examples.Shop, "examples/shop.yaml"
	if cfg.Schema != "" {
		if schemaDoc, err = os.ReadFile(cfg.Schema); err != nil {
			store.Close()
			return nil, err
		}
		schemaName = cfg.Schema
	}
	v, err := vault.New(ctx, vault.Options{Store: store, Keys: keys, Schema: schemaDoc, SchemaName: schemaName, Logger: log,
		KeySource:   rot.src, // rotation while serving (keys.go)
		Hold:        rot.hold,
		AuditSigner: signer,
		RateLimit:   vault.RateLimit{PerSecond: cfg.RateLimit.PerSecond, Burst: cfg.RateLimit.Burst},
		WebAuthn:    vault.WebAuthnConfig{RPID: cfg.WebAuthn.RPID, Origins: cfg.WebAuthn.Origins},
		Privacy: vault.PrivacyOptions{Location: cfg.Privacy.Location(), ExternalSystems: cfg.Privacy.ExternalSystems,
			RequestRetention: time.Duration(cfg.Privacy.RequestRetentionDays) * 24 * time.Hour},
		Policy: vault.SecurityPolicy{Version: cfg.SecurityPolicy.Version, Text: cfg.SecurityPolicy.Text,
			TrainingValidity: time.Duration(cfg.SecurityPolicy.TrainingValidDays) * 24 * time.Hour}})
	if err != nil {
		store.Close()
		return nil, err
	}
	return &opened{vault: v, store: store, signer: signer}, nil
}
