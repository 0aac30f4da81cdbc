package api

import (
	"encoding/json"
	"net/http"

	"github.com/cofferhq/coffer/internal/vault"
)

// search takes its values in the body, never the URL (SPEC §5).
func (h *Handler) search(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Where map[string]json.RawMessage `json:"where"`
		Limit int                        `json:"limit"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	recs, err := h.records.Search(r.Context(), c, r.PathValue("c"), req.Where, req.Limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs})
	return nil
}
