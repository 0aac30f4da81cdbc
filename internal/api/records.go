package api

import (
	"encoding/json"
	"net/http"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

type createRequest struct {
	Subject  string                         `json:"subject"`
	Fields   map[string]json.RawMessage     `json:"fields"`
	Consents map[string]coffer.ConsentGrant `json:"consents"`
}

func (h *Handler) createRecord(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req createRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.Fields == nil {
		return coffer.Errorf(coffer.EINVALID, "fields: required")
	}
	out, err := h.records.Create(r.Context(), c, r.PathValue("c"), []coffer.NewRecord{{Subject: req.Subject, Fields: req.Fields, Consents: req.Consents}})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out[0])
	return nil
}

func (h *Handler) createBatch(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Records []createRequest `json:"records"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	recs := make([]coffer.NewRecord, len(req.Records))
	for i, x := range req.Records {
		if x.Fields == nil {
			return coffer.Errorf(coffer.EINVALID, "records[%d].fields: required", i)
		}
		recs[i] = coffer.NewRecord{Subject: x.Subject, Fields: x.Fields, Consents: x.Consents}
	}
	out, err := h.records.Create(r.Context(), c, r.PathValue("c"), recs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"records": out})
	return nil
}

func (h *Handler) getRecord(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	rec, err := h.records.Get(r.Context(), c, r.PathValue("c"), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (h *Handler) patchRecord(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	rec, err := h.records.Update(r.Context(), c, r.PathValue("c"), r.PathValue("id"), req.Fields)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (h *Handler) deleteRecord(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	if err := h.records.Delete(r.Context(), c, r.PathValue("c"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
