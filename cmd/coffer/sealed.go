package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/api"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/vault"
)

// serving is the running server's handler and what it opened. A server
// whose provider needs unseal input (passphrase, shamir) starts with no
// store and no vault: it serves api.Sealed's gate until POST
// /v1/sys/unseal has the root, then derives the keys, opens the store and
// the vault as an unsealed start does, and swaps in the full handler.
// After POST /v1/sys/seal the full handler stays (the vault answers
// sealed) and an unseal re-installs the keys in the same vault.
//
// The envelope providers rotate keys through env, which holds the root
// (pkcs11: the right to unwrap it from the HSM) under a lease the vault
// destroys with the keys it drops when sealing.
type serving struct {
	ctx    context.Context
	cfg    config.Config
	log    *slog.Logger
	reg    *prometheus.Registry
	conf   api.Config
	source keyring.Source
	unseal *keyring.Unseal         // nil: the provider needs no input (file, pkcs11)
	env    *keyring.EnvelopeSource // nil: the file provider
	limit  *sourceLimiter

	h atomic.Pointer[api.Handler]

	mu        sync.Mutex // serialises opening and closing
	closed    bool
	o         *opened
	stopSweep context.CancelFunc
	sweeping  sync.WaitGroup
}

var _ api.SysService = (*serving)(nil)

func keySource(cfg config.Config) keyring.Source {
	return keyring.Source{Provider: cfg.Keys.Provider, File: cfg.Keys.File, Envelope: cfg.Keys.Envelope,
		PKCS11: keyring.PKCS11Config{Module: cfg.Keys.PKCS11.Module, TokenLabel: cfg.Keys.PKCS11.TokenLabel,
			PIN: cfg.Keys.PKCS11.PIN, KeyLabel: cfg.Keys.PKCS11.KeyLabel}}
}

// startServing opens the configured key source: the vault at once when it
// needs no input, else the sealed gate. Core dumps are disabled first, so
// a crash never writes the keys to disk.
func startServing(ctx context.Context, cfg config.Config, log *slog.Logger, reg *prometheus.Registry, conf api.Config) (*serving, error) {
	if err := keyring.DisableCoreDumps(); err != nil {
		log.Warn("could not disable core dumps", "err", err)
	}
	s := &serving{ctx: ctx, cfg: cfg, log: log, reg: reg, conf: conf, source: keySource(cfg), limit: newSourceLimiter()}
	s.conf.Sys = s
	switch s.source.Provider {
	case keyring.ProviderPassphrase, keyring.ProviderShamir, keyring.ProviderPKCS11:
		env, err := keyring.NewEnvelopeSource(s.source)
		if err != nil {
			return nil, err
		}
		s.env = env
	}
	keys, lease, u, err := s.readSource()
	if err != nil {
		return nil, err
	}
	if u == nil {
		if err := s.open(keys, lease); err != nil {
			return nil, err
		}
		return s, nil
	}
	s.unseal = u
	gate := s.conf
	gate.Metrics = nil // registered once, by the full handler
	s.h.Store(api.Sealed(gate))
	return s, nil
}

func (s *serving) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.Load().ServeHTTP(w, r) }

// vault is the open vault, nil while the server has never been unsealed.
func (s *serving) vault() *vault.Vault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.o == nil {
		return nil
	}
	return s.o.vault
}

// readSource reads the key source of a provider that needs no input
// (file; pkcs11, unwrapped by the HSM): the keys, and for pkcs11 the lease
// the vault holds with them. For passphrase and shamir it returns the
// Unseal to feed instead.
func (s *serving) readSource() (*keyring.Keys, *keyring.Lease, *keyring.Unseal, error) {
	if s.source.Provider == keyring.ProviderPKCS11 {
		keys, lease, err := s.env.OpenHSM()
		return keys, lease, nil, err
	}
	keys, u, err := keyring.Start(s.source)
	return keys, nil, u, err
}

// open opens the store and the vault with keys and swaps in the full
// handler; once open, it only re-installs the keys (after a seal). It
// owns lease (nil for the file provider): the vault destroys it with the
// keys, and open at once when it fails.
func (s *serving) open(keys *keyring.Keys, lease *keyring.Lease) error {
	rot := rotation{src: fileSource(s.cfg)}
	if lease != nil {
		rot = rotation{src: s.env, hold: lease}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		lease.Destroy()
		return coffer.Errorf(coffer.ESEALED, "the server is shutting down")
	}
	if s.o != nil {
		return s.o.vault.UnsealHolding(keys.Root, rot.hold)
	}
	o, err := openVaultKeys(s.ctx, s.cfg, keys.Root, rot, s.log, s.reg)
	if err != nil {
		return err
	}
	backups, sched, err := backupService(o.vault, o.store, s.cfg, o.signer, s.log)
	if err != nil {
		o.vault.Close()
		o.store.Close()
		return err
	}
	s.o = o
	conf := s.conf
	conf.Backups = backups
	s.h.Store(api.New(o.vault, conf))
	var sweepCtx context.Context
	sweepCtx, s.stopSweep = context.WithCancel(s.ctx)
	if every := s.cfg.Privacy.Sweep(); every > 0 {
		s.sweeping.Go(func() { o.vault.Privacy.RunRetention(sweepCtx, every) })
	}
	if sched != nil {
		s.sweeping.Go(func() { sched.run(sweepCtx) })
	}
	return nil
}

// close stops the sweeper, then the vault's background writes, then the
// store.
func (s *serving) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.o == nil {
		return
	}
	s.stopSweep()
	s.sweeping.Wait()
	s.o.vault.Close()
	s.o.store.Close()
	s.o = nil
}

func (s *serving) sealed() bool {
	v := s.vault()
	return v == nil || v.Sealed()
}

// Unseal implements POST /v1/sys/unseal.
func (s *serving) Unseal(ctx context.Context, client netip.Addr, in api.UnsealInput) (api.UnsealStatus, error) {
	if !s.sealed() {
		return api.UnsealStatus{Sealed: false, Progress: ""}, nil
	}
	if !s.limit.allow(client) {
		return api.UnsealStatus{}, coffer.Errorf(coffer.ERATELIMITED, "too many unseal attempts from this address; retry in a few seconds")
	}
	if s.unseal == nil { // file or pkcs11, sealed by POST /v1/sys/seal: read the source again
		if len(in.Passphrase) != 0 || len(in.Share) != 0 {
			return api.UnsealStatus{}, coffer.Errorf(coffer.EINVALID, "keys.provider %s takes no unseal input: send {}", s.source.Provider)
		}
		keys, lease, _, err := s.readSource()
		if err != nil {
			s.log.Error("unseal: the key source did not open", "err", err)
			return api.UnsealStatus{}, coffer.Errorf(coffer.EINTERNAL, "the key source did not open")
		}
		if err := s.open(keys, lease); err != nil {
			return api.UnsealStatus{}, err
		}
		return api.UnsealStatus{Sealed: s.sealed(), Progress: "1/1"}, nil
	}
	input := in.Passphrase
	want := keyring.ProviderPassphrase
	if s.source.Provider == keyring.ProviderShamir {
		input, want = in.Share, "share"
	}
	if len(input) == 0 {
		return api.UnsealStatus{}, coffer.Errorf(coffer.EINVALID, "keys.provider %s: send {\"%s\": …}", s.source.Provider, want)
	}
	root, p, err := s.unseal.Add(input)
	if err != nil {
		if coffer.ErrorCode(err) != coffer.ERATELIMITED {
			s.log.Warn("unseal: an input was refused", "client", client.String(), "code", coffer.ErrorCode(err))
		}
		return api.UnsealStatus{}, err
	}
	s.limit.refund(client) // only refused inputs count against the source
	if root == nil {
		return api.UnsealStatus{Sealed: true, Progress: p.String()}, nil
	}
	// The envelope on disk names the versions (a rotation since the start
	// rewrote them); the source holds the root until the vault drops it.
	keys, lease, err := s.env.Open(root)
	if err != nil {
		s.log.Error("unseal: the root envelope did not read", "err", err)
		return api.UnsealStatus{}, coffer.Errorf(coffer.EINTERNAL, "the root opened but its envelope did not read: see the server log")
	}
	if err := s.open(keys, lease); err != nil {
		s.log.Error("unseal: opening the store failed", "err", err)
		return api.UnsealStatus{}, coffer.Errorf(coffer.EINTERNAL, "the root opened but the store did not: see the server log")
	}
	if err := s.vault().AuditUnseal(ctx); err != nil {
		s.log.Error("unseal: the audit entry was not written", "err", err)
	}
	s.log.Info("unsealed")
	return api.UnsealStatus{Sealed: s.sealed(), Progress: p.String()}, nil
}

// Seal implements POST /v1/sys/seal.
func (s *serving) Seal(ctx context.Context, c *vault.Call) error {
	v := s.vault()
	if v == nil {
		return coffer.Errorf(coffer.ESEALED, "the vault is sealed")
	}
	if err := v.SealAs(ctx, c); err != nil {
		return err
	}
	s.log.Info("sealed")
	return nil
}

// Ready implements GET /v1/ready: the store answers.
func (s *serving) Ready(ctx context.Context) error {
	s.mu.Lock()
	o := s.o
	s.mu.Unlock()
	if o == nil {
		return coffer.Errorf(coffer.ESEALED, "the vault is sealed")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := o.store.Schema(ctx)
	return err
}

// sourceLimiter is a token bucket per client address for unseal attempts:
// burst attempts at once, then one per every; an accepted input is
// refunded, so share holders at one address are not limited, guessers are. It forgets every address
// once it tracks too many (an attacker with many addresses still meets
// the one-check-at-a-time bound of keyring.Unseal).
type sourceLimiter struct {
	burst float64
	every time.Duration
	mu    sync.Mutex
	seen  map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newSourceLimiter() *sourceLimiter {
	return &sourceLimiter{burst: 10, every: time.Second, seen: map[netip.Addr]*bucket{}}
}

func (l *sourceLimiter) allow(a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	b, ok := l.seen[a]
	if !ok {
		if len(l.seen) >= 4096 {
			clear(l.seen)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.seen[a] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()/l.every.Seconds())
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refund gives back the attempt of an accepted input.
func (l *sourceLimiter) refund(a netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.seen[a]; ok {
		b.tokens = min(l.burst, b.tokens+1)
	}
}
