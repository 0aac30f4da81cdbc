package api

import (
	"net/http"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// Subjects (consents, restriction) and the retention sweep.

func (h *Handler) getConsents(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	sc, err := h.privacy.Consents(r.Context(), c, r.PathValue("s"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sc)
	return nil
}

func (h *Handler) putConsent(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Granted       *bool  `json:"granted"`
		Source        string `json:"source"`
		NoticeVersion string `json:"notice_version"`
		// GPC is a Global Privacy Control opt-out the consumer's agent
		// sent, passed on by the business's system that writes the
		// consent for them. A Sec-GPC header on this request is not it:
		// that is the operator's own browser speaking.
		GPC bool `json:"gpc"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.Granted == nil {
		return coffer.Errorf(coffer.EINVALID, "granted: required, true or false")
	}
	err := h.privacy.SetConsent(r.Context(), c, r.PathValue("s"), r.PathValue("purpose"),
		vault.ConsentChange{Granted: *req.Granted, Source: req.Source, NoticeVersion: req.NoticeVersion, GPC: req.GPC})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) putRestriction(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Restricted *bool `json:"restricted"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.Restricted == nil {
		return coffer.Errorf(coffer.EINVALID, "restricted: required, true or false")
	}
	if err := h.privacy.SetRestriction(r.Context(), c, r.PathValue("s"), *req.Restricted); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) sweep(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		DryRun bool `json:"dry_run"`
	}
	if r.ContentLength != 0 {
		if err := h.decode(w, r, &req); err != nil {
			return err
		}
	}
	rep, err := h.privacy.SweepAs(r.Context(), c, req.DryRun)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
