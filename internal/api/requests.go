package api

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

func (h *Handler) createRequest(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Kind    string `json:"kind"`
		Subject string `json:"subject"`
		Regime  string `json:"regime"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	dsr, err := h.privacy.CreateRequest(r.Context(), c, vault.NewRequest{Kind: req.Kind, Subject: req.Subject, Regime: req.Regime})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, dsr)
	return nil
}

func (h *Handler) listRequests(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	q := r.URL.Query()
	overdue := false
	if v := q.Get("overdue"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return coffer.Errorf(coffer.EINVALID, "overdue: true or false")
		}
		overdue = b
	}
	rs, err := h.privacy.Requests(r.Context(), c, q.Get("status"), overdue)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": rs})
	return nil
}

func (h *Handler) getRequest(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	dsr, err := h.privacy.Request(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dsr)
	return nil
}

func (h *Handler) actOnRequest(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := h.decode(w, r, &req); err != nil {
			return err
		}
	}
	dsr, err := h.privacy.ActOnRequest(r.Context(), c, r.PathValue("id"), vault.RequestAction{Action: r.PathValue("action"), Reason: req.Reason})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dsr)
	return nil
}

func (h *Handler) exportRequest(w http.ResponseWriter, r *http.Request, c *vault.Call) error {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		return coffer.Errorf(coffer.EINVALID, "format: json (default) or csv")
	}
	x, err := h.privacy.ExportRequest(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	if format != "csv" {
		w.Header().Set("Content-Disposition", `attachment; filename="`+x.Request+`.json"`)
		writeJSON(w, http.StatusOK, x)
		return nil
	}
	// The zip is built whole before the status is sent: a failure is an
	// error answer, not a truncated "200".
	var buf bytes.Buffer
	if err := writeExportZip(&buf, x); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+x.Request+`.zip"`)
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
	return nil
}

// writeExportZip writes the export as CSV files in a zip: records (one
// row per field value), consents, requests and access history.
func writeExportZip(w io.Writer, x *vault.Export) error {
	z := zip.NewWriter(w)
	file := func(name string, header []string, rows [][]string) error {
		f, err := z.Create(name)
		if err != nil {
			return err
		}
		cw := csv.NewWriter(f)
		if err := cw.Write(header); err != nil {
			return err
		}
		for _, row := range rows {
			if err := cw.Write(safeCSV(row)); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	var rows [][]string
	for _, rec := range x.Records {
		names := make([]string, 0, len(rec.Fields))
		for n := range rec.Fields {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			rows = append(rows, []string{rec.Collection, rec.ID, n, jsonText(rec.Fields[n]), ts(rec.CreatedAt), ts(rec.UpdatedAt)})
		}
	}
	if err := file("records.csv", []string{"collection", "record", "field", "value", "created_at", "updated_at"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, e := range x.Consents {
		rows = append(rows, []string{ts(e.Time), e.Purpose, strconv.FormatBool(e.Granted), e.Source, e.NoticeVersion})
	}
	if err := file("consents.csv", []string{"time", "purpose", "granted", "source", "notice_version"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, q := range x.Requests {
		done := ""
		if q.CompletedAt != nil {
			done = ts(*q.CompletedAt)
		}
		rows = append(rows, []string{q.ID, q.Kind, q.Regime, q.Status, ts(q.ReceivedAt), ts(q.DueAt), done})
	}
	if err := file("requests.csv", []string{"id", "kind", "regime", "status", "received_at", "due_at", "completed_at"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, a := range x.AccessHistory {
		rows = append(rows, []string{ts(a.Time), a.Actor, a.Role, a.Action, a.Collection, a.Record, strings.Join(a.Fields, " "), a.Purpose, a.Outcome})
	}
	if err := file("access_history.csv", []string{"time", "actor", "role", "action", "collection", "record", "fields", "purpose", "outcome"}, rows); err != nil {
		return err
	}
	return z.Close()
}

// jsonText shows a JSON string value as its text, anything else as JSON.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// safeCSV defuses cells a spreadsheet would run as a formula (CSV
// injection): a leading = @ tab or CR, or + - not starting a plain number
// (a phone number stays as it is), gets a quote mark.
func safeCSV(row []string) []string {
	for i, c := range row {
		if c == "" {
			continue
		}
		switch c[0] {
		case '=', '@', '\t', '\r':
			row[i] = "'" + c
		case '+', '-':
			if strings.Trim(c[1:], "0123456789 ") != "" {
				row[i] = "'" + c
			}
		}
	}
	return row
}
