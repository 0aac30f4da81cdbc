package api

import (
	"context"
	"net/http"

	"github.com/cofferhq/coffer/internal/vault"
)

// subjectService reads a whole subject as the caller may see it.
type subjectService interface {
	Subject(ctx context.Context, c *vault.Call, id string) (*vault.SubjectView, error)
}

// subjectRoutes serves GET /v1/subjects/{s} (SPEC §5): the subject's
// records in the caller's views, its consents and restriction. Refusals
// follow SPEC §3: the role's grants → 403 before any lookup; unknown,
// erased or hidden by its state → the same 404.
func (h *Handler) subjectRoutes(v *vault.Vault) {
	var subjects subjectService
	if v != nil {
		subjects = v.Records
	}
	h.handle("GET /v1/subjects/{s}", h.auth(func(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
		out, err := subjects.Subject(r.Context(), c, r.PathValue("s"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}))
}
