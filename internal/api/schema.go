package api

import (
	"net/http"

	"github.com/cofferhq/coffer/internal/vault"
)

func (h *Handler) getSchema(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	doc, err := h.admin.SchemaDocument(r.Context(), c)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
	return nil
}

// putSchema takes the document as it is (YAML or JSON; the vault
// validates it whole) and answers the stored document.
func (h *Handler) putSchema(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	if _, err := h.admin.PutSchema(r.Context(), c, body, r.URL.Query().Get("purge") == "true"); err != nil {
		return err
	}
	return h.getSchema(w, r, c)
}
