package api

import (
	"net/http"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// Key rotation (SPEC §4): status, rotate, export and retire KEK versions
// (admin).

func (h *Handler) keyStatus(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	wait := r.URL.Query().Get("wait")
	if wait != "" && wait != "true" && wait != "false" {
		return coffer.Errorf(coffer.EINVALID, "wait: true or false")
	}
	st, err := h.admin.KeyStatus(r.Context(), c, wait == "true")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (h *Handler) rotateKeys(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		RewrapOnly  bool `json:"rewrap_only"`
		Derived     bool `json:"derived"`
		ReindexOnly bool `json:"reindex_only"`
		// A named key (SPEC §4): an FPE key or a token namespace's
		// deterministic-token key gets a new version, alone.
		FPEKey         *string `json:"fpe_key"`
		TokenNamespace *string `json:"token_namespace"`
	}
	if r.ContentLength != 0 {
		if err := h.decode(w, r, &req); err != nil {
			return err
		}
	}
	if req.FPEKey != nil || req.TokenNamespace != nil {
		if req.RewrapOnly || req.Derived || req.ReindexOnly || (req.FPEKey != nil && req.TokenNamespace != nil) {
			return coffer.Errorf(coffer.EINVALID, "fpe_key, token_namespace: rotate one named key per call, with no other field")
		}
		kind, name := coffer.NamedKeyFPE, req.FPEKey
		if name == nil {
			kind, name = coffer.NamedKeyToken, req.TokenNamespace
		}
		v, err := h.admin.RotateNamedKey(r.Context(), c, kind, *name)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{string(kind): *name, "version": v})
		return nil
	}
	if req.Derived || req.ReindexOnly {
		if req.RewrapOnly {
			return coffer.Errorf(coffer.EINVALID, "rewrap_only: for KEK versions, not with derived or reindex_only")
		}
		v, err := h.admin.RotateDerived(r.Context(), c, req.ReindexOnly)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"derived_version": v, "reindex": "running"})
		return nil
	}
	rotate := h.admin.RotateKeys
	if req.RewrapOnly {
		rotate = h.admin.Rewrap
	}
	v, err := rotate(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"version": v, "rewrap": "running"})
	return nil
}

type keyVersionRequest struct {
	Version   uint32 `json:"version"`
	Force     bool   `json:"force"`
	Recipient string `json:"recipient"`
}

func (h *Handler) keyVersion(w http.ResponseWriter, r *http.Request) (*keyVersionRequest, error) {
	var req keyVersionRequest
	if err := h.decode(w, r, &req); err != nil {
		return nil, err
	}
	if req.Version == 0 {
		return nil, coffer.Errorf(coffer.EINVALID, "version: a KEK version (1 or more)")
	}
	return &req, nil
}

func (h *Handler) retireKey(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	req, err := h.keyVersion(w, r)
	if err != nil {
		return err
	}
	if req.Recipient != "" {
		return coffer.Errorf(coffer.EINVALID, "recipient: only for an export")
	}
	if err := h.admin.RetireKey(r.Context(), c, req.Version, req.Force); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"retired": req.Version})
	return nil
}

func (h *Handler) exportKey(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	req, err := h.keyVersion(w, r)
	if err != nil {
		return err
	}
	if req.Recipient == "" || req.Force {
		return coffer.Errorf(coffer.EINVALID, "recipient: an age X25519 recipient (age1…) is required")
	}
	out, err := h.admin.ExportKey(r.Context(), c, req.Version, req.Recipient)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": req.Version, "age": string(out)})
	return nil
}
