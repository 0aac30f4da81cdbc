package api

import (
	"net/http"

	"github.com/cofferhq/coffer/internal/vault"
)

// getSubject serves GET /v1/subjects/{s} (SPEC §5): the subject's records
// in the caller's views, its consents and restriction. Refusals follow
// SPEC §3: the role's grants → 403 before any lookup; unknown, erased or
// hidden by its state → the same 404.
func (h *Handler) getSubject(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	out, err := h.records.Subject(r.Context(), c, r.PathValue("s"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
