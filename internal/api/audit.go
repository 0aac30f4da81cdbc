package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/vault"
)

func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	q := r.URL.Query()
	f := coffer.AuditFilter{Actor: q.Get("actor"), Subject: q.Get("subject"), Desc: true}
	var err error
	parseTime := func(name string) time.Time {
		v := q.Get(name)
		if v == "" || err != nil {
			return time.Time{}
		}
		t, perr := time.Parse(time.RFC3339Nano, v)
		if perr != nil {
			err = coffer.Errorf(coffer.EINVALID, "%s: an RFC 3339 time such as 2026-01-02T15:04:05Z", name)
		}
		return t
	}
	f.Since, f.Until = parseTime("since"), parseTime("until")
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"limit", nil}, {"after", &f.AfterSeq}} {
		v := q.Get(p.name)
		if v == "" || err != nil {
			continue
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < 0 {
			err = coffer.Errorf(coffer.EINVALID, "%s: a non-negative integer", p.name)
			continue
		}
		if p.dst == nil {
			f.Limit = int(min(n, 1<<30))
		} else {
			*p.dst = n
		}
	}
	if err != nil {
		return err
	}
	entries, err := h.admin.Audit(r.Context(), c, f)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []*coffer.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
	return nil
}

// verifyAudit answers a broken chain as a result (200, ok false), not as
// an error. The vault verifies under its audit signer's public keys, every
// version (a rotation of the derived-key root adds one).
func (h *Handler) verifyAudit(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	n, err := h.admin.VerifyAudit(r.Context(), c, nil)
	var f *audit.Failure
	if errors.As(err, &f) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "entries": n, "first_bad_seq": f.Seq, "reason": f.Reason})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "entries": n})
	return nil
}
