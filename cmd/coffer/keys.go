package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/cofferhq/coffer/client"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/datadir"
	"github.com/cofferhq/coffer/internal/keyring"
)

// The keys verbs talk to the running server (COFFER_ADDR, COFFER_TOKEN)
// unless --offline: then they open a stopped data directory themselves,
// and refuse one a server holds.
type keysCmd struct {
	Init   keysInitCmd   `cmd:"" help:"Create a key file (0600) for a production server."`
	Status keysStatusCmd `cmd:"" help:"Show KEK versions and how many keys of each kind each wraps."`
	Rotate keysRotateCmd `cmd:"" help:"Add a KEK version; the server re-wraps every key under it in the background."`
	Export keysExportCmd `cmd:"" help:"Write a KEK version encrypted to an age recipient (before retiring it)."`
	Retire keysRetireCmd `cmd:"" help:"Remove a KEK version nothing is wrapped under any more."`
}

type keysInitCmd struct {
	File string `arg:"" help:"Path of the new key file (never overwritten)." type:"path"`
}

func (c *keysInitCmd) Run(env *Env) error {
	if err := keyring.CreateFile(c.File); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "created %s (mode 0600): KEK version 1 and an index key; back it up, it is the only way to read the data\n", c.File)
	return nil
}

// storeFlags select the server's data like the other offline verbs.
type storeFlags struct {
	Config string `help:"Configuration file of the server." type:"path"`
	Data   string `help:"Data directory of a --dev server (when no --config)." default:"./coffer-dev"`
}

func (f storeFlags) load() (config.Config, error) {
	if f.Config != "" {
		return loadConfig(f.Config)
	}
	return (&serveCmd{Dev: true, Data: f.Data}).config()
}

// keysTarget is the server (default) or, with --offline, a stopped data
// directory.
type keysTarget struct {
	connFlags
	Offline bool `help:"Act on a stopped server's data directory (--config or --data) instead of the running server."`
	storeFlags
}

func (k *keysTarget) client(env *Env) (*client.Client, error) {
	cfg, err := k.config(env)
	if err != nil {
		return nil, err
	}
	return client.New(cfg)
}

// offline loads the configuration and takes the data directory's lock,
// refusing when a server holds it: rotating underneath a live server would
// leave it unable to read what the rotation wrapped. It works with the
// file provider only: an envelope provider's root opens with unseal input
// (or the HSM) on the running server, which rotates it.
func (k *keysTarget) offline() (config.Config, func(), error) {
	cfg, err := k.load()
	if err != nil {
		return cfg, nil, err
	}
	if p := cfg.Keys.Provider; p != "" && p != keyring.ProviderFile {
		return cfg, nil, fmt.Errorf("keys.provider %s: --offline works with the file provider only: start the server, unseal it and drop --offline (COFFER_ADDR, COFFER_TOKEN)", p)
	}
	lock, err := datadir.Acquire(cfg.Data, "")
	if err != nil {
		var he *datadir.HeldError
		if errors.As(err, &he) {
			return cfg, nil, fmt.Errorf("%w: drop --offline to rotate through the running server (COFFER_ADDR, COFFER_TOKEN)", err)
		}
		return cfg, nil, err
	}
	return cfg, func() { lock.Release() }, nil
}

type keysStatusCmd struct {
	keysTarget
	Wait bool `help:"Wait until the server's background re-wrap has ended."`
}

func (c *keysStatusCmd) Run(env *Env) error {
	if c.Offline {
		return c.offlineStatus(env)
	}
	cl, err := c.client(env)
	if err != nil {
		return err
	}
	st, err := cl.Keys().Status(env.Ctx, c.Wait)
	if err != nil {
		return err
	}
	for _, v := range st.Versions {
		var marks []string
		if v.Current {
			marks = append(marks, "current")
		}
		if v.Exported {
			marks = append(marks, "exported")
		}
		if !v.Held {
			marks = append(marks, "NOT HELD BY THE SERVER (unreadable)")
		}
		mark := ""
		if len(marks) > 0 {
			mark = " (" + strings.Join(marks, ", ") + ")"
		}
		fmt.Fprintf(env.Stdout, "version %d%s: %d subject keys, %d token keys\n", v.Version, mark, v.Wrapped["subject_deks"], v.Wrapped["token_keys"])
	}
	fmt.Fprintf(env.Stdout, "re-wrap: %s (%d keys re-wrapped)\n", st.Rewrap, st.Rewrapped)
	if st.RewrapElsewhere {
		fmt.Fprintln(env.Stdout, "another node is re-wrapping now (it holds the re-wrap's job lock)")
	}
	if d := st.Derived; d != nil {
		for _, v := range d.Versions {
			mark := ""
			if v.Current {
				mark = " (current)"
			}
			fmt.Fprintf(env.Stdout, "derived version %d%s: %d records indexed\n", v.Version, mark, v.Records)
		}
		fmt.Fprintf(env.Stdout, "re-index: %s (%d records re-indexed; searches ask versions %d and up)\n", d.Reindex, d.Reindexed, d.SearchFrom)
		if d.ReindexElsewhere {
			fmt.Fprintln(env.Stdout, "another node is re-indexing now (it holds the re-index's job lock)")
		}
	}
	for _, nk := range st.NamedKeys {
		fmt.Fprintf(env.Stdout, "%s %s: version %d current (derived from root version %d)\n", nk.Kind, nk.Name, nk.Current, nk.DerivedVersion)
	}
	return nil
}

func (c *keysStatusCmd) offlineStatus(env *Env) error {
	cfg, release, err := c.offline()
	if err != nil {
		return err
	}
	defer release()
	o, err := openVault(env.Ctx, cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer o.store.Close()
	defer o.vault.Close()
	keys, err := (&keyring.File{Path: cfg.Keys.File}).Keys()
	if err != nil {
		return err
	}
	counts, err := o.vault.KEKVersions(env.Ctx)
	if err != nil {
		return err
	}
	var versions []uint32
	for v := range keys.KEKs {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	fmt.Fprintf(env.Stdout, "key file %s: current KEK version %d\n", cfg.Keys.File, keys.Current)
	for _, v := range versions {
		mark := ""
		if v == keys.Current {
			mark = " (current)"
		}
		fmt.Fprintf(env.Stdout, "  version %d%s: %d subject keys\n", v, mark, counts[v])
	}
	for v, n := range counts {
		if _, ok := keys.KEKs[v]; !ok {
			fmt.Fprintf(env.Stdout, "  version %d: %d subject keys, NOT IN THE KEY FILE (unreadable)\n", v, n)
		}
	}
	return nil
}

type keysRotateCmd struct {
	keysTarget
	RewrapOnly  bool   `help:"Do not add a version: re-wrap keys left under older versions (after a re-wrap was interrupted)."`
	Derived     bool   `help:"Rotate the derived-key root instead: the server re-computes every blind index in the background."`
	ReindexOnly bool   `help:"Do not add a derived version: re-index records left under older ones (after a re-index was interrupted)."`
	FPEKey      string `name:"fpe-key" help:"Rotate this named FPE key instead: new encryptions use the new version; decrypt takes the version encrypt answered."`
	TokenNS     string `name:"token-namespace" help:"Rotate this namespace's deterministic-token key instead: the same value gets a new token from now on; old tokens still detokenize."`
}

func (c *keysRotateCmd) Run(env *Env) error {
	if (c.Derived || c.ReindexOnly) && (c.Offline || c.RewrapOnly) {
		return errors.New("--derived and --reindex-only go through the server, without --offline or --rewrap-only")
	}
	if c.FPEKey != "" || c.TokenNS != "" {
		if c.Offline || c.RewrapOnly || c.Derived || c.ReindexOnly || (c.FPEKey != "" && c.TokenNS != "") {
			return errors.New("--fpe-key or --token-namespace alone: one named key per rotation, through the server")
		}
		cl, err := c.client(env)
		if err != nil {
			return err
		}
		kind, name := "fpe_key", c.FPEKey
		if c.TokenNS != "" {
			kind, name = "token_namespace", c.TokenNS
		}
		v, err := cl.Keys().RotateNamedKey(env.Ctx, kind, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s %s: version %d is current\n", kind, name, v)
		return nil
	}
	if c.Offline {
		return c.offlineRotate(env)
	}
	cl, err := c.client(env)
	if err != nil {
		return err
	}
	if c.Derived || c.ReindexOnly {
		v, err := cl.Keys().RotateDerived(env.Ctx, c.ReindexOnly)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "derived-key root version %d is current; the server re-indexes every record in the background, searching both versions until done (see coffer keys status)\n", v)
		return nil
	}
	v, err := cl.Keys().Rotate(env.Ctx, c.RewrapOnly)
	if err != nil {
		return err
	}
	if c.RewrapOnly {
		fmt.Fprintf(env.Stdout, "the server re-wraps every key left under a version older than %d in the background (see coffer keys status)\n", v)
		return nil
	}
	fmt.Fprintf(env.Stdout, "KEK version %d is current; the server re-wraps every key in the background (see coffer keys status)\n", v)
	return nil
}

func (c *keysRotateCmd) offlineRotate(env *Env) error {
	cfg, release, err := c.offline()
	if err != nil {
		return err
	}
	defer release()
	if !c.RewrapOnly {
		v, err := keyring.AddVersion(cfg.Keys.File)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "added KEK version %d to %s\n", v, cfg.Keys.File)
	}
	o, err := openVault(env.Ctx, cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer o.store.Close()
	defer o.vault.Close()
	n, err := o.vault.RewrapAll(env.Ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "re-wrapped %d subject and token-namespace keys\n", n)
	return nil
}

type keysExportCmd struct {
	connFlags
	// A positional argument: the global --version flag prints the build.
	Version   uint32 `arg:"" help:"KEK version to export."`
	Recipient string `required:"" help:"age X25519 recipient (age1…) to encrypt it to."`
	Out       string `help:"Write the age file here (mode 0600, never overwritten) instead of standard output." type:"path"`
}

func (c *keysExportCmd) Run(env *Env) error {
	cfg, err := c.config(env)
	if err != nil {
		return err
	}
	cl, err := client.New(cfg)
	if err != nil {
		return err
	}
	out, err := cl.Keys().Export(env.Ctx, c.Version, c.Recipient)
	if err != nil {
		return err
	}
	if c.Out == "" {
		_, err = env.Stdout.Write(out)
		return err
	}
	f, err := os.OpenFile(c.Out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(out); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "wrote KEK version %d, encrypted to %s, to %s\n", c.Version, c.Recipient, c.Out)
	return nil
}

type keysRetireCmd struct {
	connFlags
	Version uint32 `arg:"" help:"KEK version to retire."`
	Force   bool   `help:"Retire a version that was never exported (backups wrapped under it become unreadable)."`
}

func (c *keysRetireCmd) Run(env *Env) error {
	cfg, err := c.config(env)
	if err != nil {
		return err
	}
	cl, err := client.New(cfg)
	if err != nil {
		return err
	}
	if err := cl.Keys().Retire(env.Ctx, c.Version, c.Force); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "retired KEK version %d\n", c.Version)
	return nil
}
