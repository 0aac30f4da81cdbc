package api

import (
	"context"
	"crypto/ed25519"
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
	MaxBodyBytes int64             // default 1 MiB
	AuditKey     ed25519.PublicKey // verifies the signed audit head
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
}

// Handler serves the /v1 API.
type Handler struct {
	records  recordService
	tokens   tokenService
	privacy  privacyService
	identity identityService
	admin    adminService
	sealed   func() bool
	readyFn  func(context.Context) error
	log      *slog.Logger
	maxBody  int64
	version  string
	auditKey ed25519.PublicKey
	openapi  []byte
	notice   []byte
	mux      *http.ServeMux
	metrics  *metrics
	metricsH http.Handler // nil: metrics are off
	proxies  []netip.Prefix
}

// New returns the API handler, every route of the table registered.
func New(v *vault.Vault, c Config) *Handler {
	h := &Handler{log: c.Logger, maxBody: c.MaxBodyBytes, version: c.Version, auditKey: c.AuditKey, openapi: c.OpenAPI, notice: c.PrivacyNotice,
		mux: http.NewServeMux(), proxies: c.TrustedProxies}
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
	for _, rt := range routes {
		h.mux.Handle(rt.Pattern(), h.serve(rt))
	}
	h.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, coffer.Errorf(coffer.ENOTFOUND, "no such API call: %s %s", r.Method, routeShape(r.URL.Path)))
	})
	return h
}
