package api

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// The system calls: health, the OpenAPI document and the privacy notice
// (public), and the metrics (a role with the metrics grant).

// servedSealed are the routes a sealed server answers; every other call
// answers 503 sealed.
var servedSealed = map[string]bool{"GET /v1/health": true, "GET /v1/ready": true, "POST /v1/sys/unseal": true}

func (h *Handler) health(w http.ResponseWriter, r *http.Request, _ *vault.Call) error {
	status := "ok"
	if h.sealed() {
		status = "sealed"
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status, "sealed": h.sealed(), "version": h.version})
	return nil
}

func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request, _ *vault.Call) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write(h.openapi)
	return nil
}

// metricsPage serves the metrics to a key whose role has the metrics
// grant (a scraper's key, e.g. the monitoring role of examples/shop.yaml).
func (h *Handler) metricsPage(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if err := h.admin.AuthorizeMetrics(r.Context(), c); err != nil {
		return err
	}
	if h.metricsH == nil {
		return coffer.Errorf(coffer.ENOTFOUND, "metrics are not enabled on this server")
	}
	h.metricsH.ServeHTTP(w, r)
	return nil
}

// privacyNotice serves the public privacy notice (no authentication: it
// is for customers).
func (h *Handler) privacyNotice(w http.ResponseWriter, r *http.Request, _ *vault.Call) error {
	if h.notice == nil {
		return coffer.Errorf(coffer.ENOTFOUND, "no privacy notice: set inventory in the configuration")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(h.notice)
	return nil
}

// SysService opens and seals the server (POST /v1/sys/unseal and
// /v1/sys/seal) and says whether it is ready (GET /v1/ready). The server
// implements it: it owns the unseal state and the store.
type SysService interface {
	// Unseal takes one secret input (the passphrase or one share; empty for
	// providers that need none) from client. It rate-limits per client and
	// checks one input at a time (ERATELIMITED otherwise).
	Unseal(ctx context.Context, client netip.Addr, in UnsealInput) (UnsealStatus, error)
	// Seal waits for the calls in flight, then drops every key (admin).
	Seal(ctx context.Context, c *vault.Call) error
	// Ready fails when the store does not answer.
	Ready(ctx context.Context) error
}

// UnsealInput is POST /v1/sys/unseal's body: at most one of the two.
type UnsealInput struct {
	Passphrase []byte
	Share      []byte
}

// UnsealStatus is POST /v1/sys/unseal's answer.
type UnsealStatus struct {
	Sealed   bool   `json:"sealed"`
	Progress string `json:"progress"`
}

var errSealed = coffer.Errorf(coffer.ESEALED, "the vault is sealed: unseal it (coffer unseal, or POST /v1/sys/unseal)")

func (h *Handler) unseal(w http.ResponseWriter, r *http.Request, _ *vault.Call) error {
	if h.sys == nil {
		return errSealed
	}
	var req struct {
		Passphrase *string `json:"passphrase"`
		Share      *string `json:"share"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	var in UnsealInput
	switch {
	case req.Passphrase != nil && req.Share != nil:
		return coffer.Errorf(coffer.EINVALID, "give passphrase or share, not both")
	case req.Passphrase != nil:
		in.Passphrase = []byte(*req.Passphrase)
	case req.Share != nil:
		in.Share = []byte(*req.Share)
	}
	defer clear(in.Passphrase)
	defer clear(in.Share)
	st, err := h.sys.Unseal(r.Context(), ClientIP(r, h.proxies), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (h *Handler) seal(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if h.sys == nil {
		return coffer.Errorf(coffer.EINTERNAL, "no system service")
	}
	if err := h.sys.Seal(r.Context(), c); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, UnsealStatus{Sealed: true})
	return nil
}
