package api

import (
	"net/http"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// The system calls: health, the OpenAPI document and the privacy notice
// (public), and the metrics (a role with the metrics grant).

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
