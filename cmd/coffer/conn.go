package main

import (
	"errors"
	"time"

	"github.com/alecthomas/kong"

	"github.com/cofferhq/coffer/client"
)

// connFlags say which server a client verb talks to (SPEC §6). Each falls
// back to its environment variable; prefer COFFER_TOKEN to --token, which
// lands in shell history and the process list.
type connFlags struct {
	Addr           string `help:"Server address: host:port or a URL (default $COFFER_ADDR, else http://127.0.0.1:8750; host:port is https when a fingerprint is pinned)."`
	Token          string `help:"API key or session token (default $COFFER_TOKEN, which keeps it out of shell history)."`
	TLSFingerprint string `name:"tls-fingerprint" help:"Pin a self-signed server: the SHA-256 fingerprint its coffer serve banner prints (default $COFFER_TLS_FINGERPRINT)."`
}

// config resolves the flags and the environment into a client
// configuration; a missing token is an error naming where to find one.
func (f *connFlags) config(env *Env) (client.Config, error) {
	cfg := f.resolve(env)
	if cfg.Token == "" {
		return cfg, errors.New("set COFFER_TOKEN to an API key (in --dev: export COFFER_TOKEN=$(cat coffer-dev/dev-admin-token))")
	}
	return cfg, nil
}

// resolve is config without the token check (coffer unseal needs none).
func (f *connFlags) resolve(env *Env) client.Config {
	or := func(flag, name string) string {
		if flag != "" {
			return flag
		}
		return env.Getenv(name)
	}
	cfg := client.Config{Addr: or(f.Addr, "COFFER_ADDR"), Token: or(f.Token, "COFFER_TOKEN"),
		TLSFingerprint: or(f.TLSFingerprint, "COFFER_TLS_FINGERPRINT"), Timeout: 30 * time.Second}
	return cfg
}

// clientConn is embedded by the client verb groups: once the command line
// is parsed it builds the client, which the verbs' Run methods receive as
// a *client.Client argument. This is the one place a client is made.
type clientConn struct{ connFlags }

// AfterApply is a kong hook.
func (c *clientConn) AfterApply(kctx *kong.Context, env *Env) error {
	cfg, err := c.config(env)
	if err != nil {
		return err
	}
	cl, err := client.New(cfg)
	if err != nil {
		return err
	}
	kctx.Bind(cl)
	return nil
}
