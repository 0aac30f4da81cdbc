package api

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q: %v", rec.Body.String(), err)
	}
	return body
}

// TestUnknownRouteDoesNotEchoThePath: a path can hold ids or personal
// data; the 404 names only its first segments.
func TestUnknownRouteDoesNotEchoThePath(t *testing.T) {
	h := New(nil, Config{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/customers/cus_secret123/alice@example.com", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d", rec.Code)
	}
	body := decodeError(t, rec)
	if body.Error.Code != coffer.ENOTFOUND {
		t.Errorf("code %q", body.Error.Code)
	}
	for _, secret := range []string{"cus_secret123", "alice@example.com"} {
		if strings.Contains(rec.Body.String(), secret) {
			t.Errorf("the 404 echoes %q: %s", secret, rec.Body.String())
		}
	}
	if !strings.Contains(body.Error.Message, "/v1/customers") {
		t.Errorf("the 404 does not name the route's start: %q", body.Error.Message)
	}
}

// TestExportCSVDefusesFormulas: a value a spreadsheet would run as a
// formula is written with a leading quote mark; phone numbers stay.
func TestExportCSVDefusesFormulas(t *testing.T) {
	x := &vault.Export{Subject: "cus_1", Request: "req_1", Records: []vault.ExportRecord{{Collection: "customers", ID: "rec_1",
		Fields: map[string]json.RawMessage{"a": json.RawMessage(`"=HYPERLINK(\"http://evil\")"`), "b": json.RawMessage(`"+49 30 1234567"`),
			"c": json.RawMessage(`"@SUM(A1)"`), "d": json.RawMessage(`"-2+3+cmd|' /C calc'!A0"`), "e": json.RawMessage(`"plain"`)}}}}
	var buf bytes.Buffer
	if err := writeExportZip(&buf, x); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	f, err := zr.Open("records.csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": `'=HYPERLINK("http://evil")`, "b": "+49 30 1234567", "c": "'@SUM(A1)", "d": "'-2+3+cmd|' /C calc'!A0", "e": "plain"}
	for _, row := range rows[1:] {
		if row[3] != want[row[2]] {
			t.Errorf("field %s written as %q, want %q", row[2], row[3], want[row[2]])
		}
	}
	if len(rows) != 1+len(want) {
		t.Errorf("%d rows", len(rows))
	}
}

// TestSealedVaultAnswers503: while sealed every authenticated call, an
// admin one included, answers 503 sealed, whatever the token.
func TestSealedVaultAnswers503(t *testing.T) {
	v, token := newVault(t)
	h := New(v, Config{})
	get := func(path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := get("/v1/audit", token); rec.Code != http.StatusOK {
		t.Fatalf("unsealed: status %d %s", rec.Code, rec.Body)
	}
	v.Seal()
	for _, tc := range []struct{ path, token string }{{"/v1/audit", token}, {"/v1/schema", token}, {"/v1/api-keys", token}, {"/v1/audit", "coffer_bogus_x"}} {
		rec := get(tc.path, tc.token)
		if rec.Code != http.StatusServiceUnavailable || decodeError(t, rec).Error.Code != coffer.ESEALED {
			t.Errorf("GET %s while sealed: %d %s", tc.path, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/health", nil))
	if !strings.Contains(rec.Body.String(), `"sealed"`) {
		t.Errorf("health while sealed: %s", rec.Body)
	}
}
