package api

import (
	"net/http"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

func (h *Handler) createKey(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Name         string   `json:"name"`
		Role         string   `json:"role"`
		AllowedCIDRs []string `json:"allowed_cidrs"`
		ExpiresIn    string   `json:"expires_in"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	nk := vault.NewAPIKey{Name: req.Name, Role: req.Role, AllowedCIDRs: req.AllowedCIDRs}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return coffer.Errorf(coffer.EINVALID, "expires_in: a positive duration such as 720h")
		}
		nk.ExpiresIn = d
	}
	id, key, err := h.identity.CreateAPIKey(r.Context(), c, nk)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "key": key})
	return nil
}

func (h *Handler) revokeKey(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if err := h.identity.RevokeAPIKey(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiKeyView is an API key as listed: never its hash.
type apiKeyView struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Role         string     `json:"role"`
	AllowedCIDRs []string   `json:"allowed_cidrs"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt   *time.Time `json:"last_used_at,omitempty"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	keys, err := h.identity.APIKeys(r.Context(), c)
	if err != nil {
		return err
	}
	out := make([]apiKeyView, 0, len(keys))
	for _, k := range keys {
		cidrs := k.AllowedCIDRs
		if cidrs == nil {
			cidrs = []string{}
		}
		out = append(out, apiKeyView{ID: k.ID, Name: k.Name, Role: k.Role, AllowedCIDRs: cidrs, CreatedAt: k.CreatedAt,
			ExpiresAt: timeOrNil(k.ExpiresAt), RevokedAt: timeOrNil(k.RevokedAt), LastUsedAt: timeOrNil(k.LastUsedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
	return nil
}
