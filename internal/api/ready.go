package api

import (
	"net/http"

	"github.com/cofferhq/coffer/internal/vault"
)

// ready is the readiness probe (SPEC §5, §7): 200 only when the vault is
// unsealed and its store answers; 503 sealed, or unavailable with
// Retry-After, otherwise. /v1/health stays the liveness probe: it never
// asks the database.
func (h *Handler) ready(w http.ResponseWriter, r *http.Request, _ *vault.Call) error {
	if h.sealed() {
		return errSealed
	}
	switch {
	case h.readyFn != nil:
		if err := h.readyFn(r.Context()); err != nil {
			return err
		}
	case h.sys != nil:
		if err := h.sys.Ready(r.Context()); err != nil {
			return err
		}
	default:
		return errSealed
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
	return nil
}
