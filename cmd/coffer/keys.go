package main

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/keyring"
)

type keysCmd struct {
	Init   keysInitCmd   `cmd:"" help:"Create a key file (0600) for a production server."`
	Status keysStatusCmd `cmd:"" help:"Show KEK versions and how many subject keys each wraps."`
	Rotate keysRotateCmd `cmd:"" help:"Add a KEK version and re-wrap every subject key under it."`
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

type keysStatusCmd struct{ storeFlags }

func (c *keysStatusCmd) Run(env *Env) error {
	cfg, err := c.load()
	if err != nil {
		return err
	}
	o, err := openVault(env.Ctx, cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer o.store.Close()
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
	storeFlags
	RewrapOnly bool `help:"Do not add a version: re-wrap keys left under older versions (run after servers restarted)."`
}

func (c *keysRotateCmd) Run(env *Env) error {
	cfg, err := c.load()
	if err != nil {
		return err
	}
	lock, err := lockData(cfg, "keys rotate", "stop it first (a running server keeps the KEK versions it loaded), rotate, then start it again")
	if err != nil {
		return err
	}
	defer lock.Release()
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
	n, err := o.vault.RewrapAll(env.Ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "re-wrapped %d subject keys\n", n)
	if !c.RewrapOnly {
		fmt.Fprintln(env.Stdout, strings.TrimSpace(`
restart the servers so that new subject keys use the new version, then run
"coffer keys rotate --rewrap-only" to re-wrap any created in between`))
	}
	return nil
}
