package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cofferhq/coffer/client"
	"github.com/cofferhq/coffer/internal/vault"
)

// apiKeyCmd administers API keys directly on the store, for bootstrapping a
// production server (whose first admin key cannot come from the API).
type apiKeyCmd struct {
	Create apiKeyCreateCmd `cmd:"" help:"Create an API key and print it once (offline administration)."`
	List   apiKeyListCmd   `cmd:"" help:"List API keys (uses COFFER_ADDR and COFFER_TOKEN)."`
	Revoke apiKeyRevokeCmd `cmd:"" help:"Revoke an API key (uses COFFER_ADDR and COFFER_TOKEN)."`
}

type apiKeyListCmd struct{ clientConn }

func (c *apiKeyListCmd) Run(env *Env, cl *client.Client) error {
	keys, err := cl.APIKeys().List(env.Ctx)
	if err != nil {
		return err
	}
	return printJSON(env, map[string]any{"keys": keys})
}

type apiKeyRevokeCmd struct {
	clientConn
	ID string `arg:"" help:"Key id (key_…)."`
}

func (c *apiKeyRevokeCmd) Run(env *Env, cl *client.Client) error {
	if err := cl.APIKeys().Revoke(env.Ctx, c.ID); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "revoked %s\n", c.ID)
	return nil
}

type apiKeyCreateCmd struct {
	storeFlags
	Name      string        `help:"What the key is for." required:""`
	Role      string        `help:"Role from the schema." required:""`
	CIDR      []string      `name:"cidr" help:"Allowed client networks (repeatable)."`
	ExpiresIn time.Duration `help:"Lifetime (0: no expiry)." default:"0"`
}

func (c *apiKeyCreateCmd) Run(env *Env) error {
	cfg, err := c.load()
	if err != nil {
		return err
	}
	lock, err := lockData(cfg, "api-key create", "while it runs, create keys through its API: POST /v1/api-keys with an admin token (client.APIKeys().Create), or stop it first")
	if err != nil {
		return err
	}
	defer lock.Release()
	o, err := openVault(env.Ctx, cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer o.store.Close()
	if c.ExpiresIn < 0 {
		return errors.New("--expires-in must not be negative")
	}
	id, token, err := o.vault.Identity.CreateAPIKey(env.Ctx, vault.SystemCall(), vault.NewAPIKey{Name: c.Name, Role: c.Role, AllowedCIDRs: c.CIDR, ExpiresIn: c.ExpiresIn})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "created API key %s (role %s); it is shown once:\n", id, c.Role)
	fmt.Fprintln(env.Stdout, token)
	return nil
}
