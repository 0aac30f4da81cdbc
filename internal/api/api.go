package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// Config is what the API needs besides the vault.
type Config struct {
	Version      string
	MaxBodyBytes int64 // default 1 MiB
	Logger       *slog.Logger
	OpenAPI      []byte // served at /openapi.json
	// Metrics, when set, receives the API's metrics and is served at
	// /metrics (Prometheus text format); nil: 404.
	Metrics *prometheus.Registry
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// PrivacyNotice is the public privacy notice (HTML) served at /privacy,
	// rendered from the data inventory; nil: 404.
	PrivacyNotice []byte
	// Sys opens and seals the vault (POST /v1/sys/unseal, /v1/sys/seal)
	// and says whether the server is ready; nil: those calls answer 503.
	Sys SysService
	// Backups serves POST /v1/backups and GET /v1/ledger; nil: 404.
	Backups BackupService
}

// Handler serves the /v1 API.
type Handler struct {
	records  recordService
	tokens   tokenService
	privacy  privacyService
	identity identityService
	admin    adminService
	sys      SysService
	sealed   func() bool
	readyFn  func(context.Context) error
	log      *slog.Logger
	maxBody  int64
	version  string
	openapi  []byte
	notice   []byte
	mux      *http.ServeMux
	metrics  *metrics
	metricsH http.Handler // nil: metrics are off
	proxies  []netip.Prefix
	backups  BackupService
}

// New returns the API handler, every route of the table registered.
func New(v *vault.Vault, c Config) *Handler {
	h := &Handler{log: c.Logger, maxBody: c.MaxBodyBytes, version: c.Version, openapi: c.OpenAPI, notice: c.PrivacyNotice,
		mux: http.NewServeMux(), proxies: c.TrustedProxies, sys: c.Sys, backups: c.Backups, sealed: func() bool { return false }}
	if v != nil {
		h.records, h.tokens, h.privacy, h.identity, h.admin, h.sealed = v.Records, v.Tokens, v.Privacy, v.Identity, v.Admin, v.Sealed
		h.readyFn = v.Ready
	}
	if h.maxBody <= 0 {
		h.maxBody = 1 << 20
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if c.Metrics != nil {
		h.metrics = newMetrics(c.Metrics)
		h.metricsH = metricsHandler(c.Metrics)
	}
	return h.register()
}

// Sealed returns the sealed server's gate, before it has a vault: health,
// ready and POST /v1/sys/unseal answer, every other call 503 sealed. Once
// c.Sys unseals, the server serves New's handler instead.
func Sealed(c Config) *Handler {
	h := New(nil, c)
	h.sealed = func() bool { return true }
	return h
}

func (h *Handler) register() *Handler {
	for _, rt := range routes {
		h.mux.Handle(rt.Pattern(), h.serve(rt))
	}
	h.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		if h.sealed() {
			h.writeError(w, r, errSealed)
			return
		}
		h.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "no such API call: %s %s", r.Method, routeShape(r.URL.Path)))
	})
	return h
}
