package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/api"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/vault"
)

// accessSchema is the shop schema with what these tests need: payment
// methods kept 30 days, a card usable for marketing (a consent purpose),
// and roles that only write, only market, or sign customers up.
func accessSchema() []byte {
	doc := string(examples.Shop)
	doc = strings.Replace(doc, "  payment_methods:\n    fields:", "  payment_methods:\n    retention: 30d\n    fields:", 1)
	doc = strings.Replace(doc, "tokenize: card, mask: pan, purposes: [billing]}", "tokenize: card, mask: pan, purposes: [billing, marketing]}", 1)
	doc = strings.Replace(doc, "roles:\n", `roles:
  marketer: {purposes: [marketing], collections: {customers: {read: {email: plain}, search: [email]}, payment_methods: {read: {card_number: token}, detokenize: [card_number]}}}
  writer: {purposes: [account], collections: {customers: {write: ["*"]}}}
  signup: {purposes: [account, marketing], consents: true, collections: {customers: {read: {email: plain}, write: ["*"]}}}
`, 1)
	return []byte(doc)
}

type accessEnv struct {
	t      *testing.T
	v      *vault.Vault
	st     *sqlite.Store
	srv    *httptest.Server
	offset atomic.Int64
	tokens map[string]string // role → API key
}

func newAccessEnv(t *testing.T) *accessEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	kf := filepath.Join(dir, "keys.json")
	if err := keyring.CreateFile(kf); err != nil {
		t.Fatal(err)
	}
	keys, err := (&keyring.File{Path: kf}).Keys()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(keys.IndexKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "coffer.db"), sqlite.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	e := &accessEnv{t: t, st: st, tokens: map[string]string{}}
	e.v, err = vault.New(ctx, vault.Options{Store: st, Keys: keys, Schema: accessSchema(), SchemaName: "access.yaml",
		Now: func() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(api.New(e.v, api.Config{}))
	t.Cleanup(func() {
		e.srv.Close()
		e.v.Close()
		st.Close()
	})
	return e
}

func (e *accessEnv) key(role string) string {
	if k, ok := e.tokens[role]; ok {
		return k
	}
	_, k, err := e.v.Identity.CreateAPIKey(context.Background(), vault.SystemCall(), vault.NewAPIKey{Name: "t-" + role, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	e.tokens[role] = k
	return k
}

// adminCall is a vault call of the admin role (setup that is not under test).
func (e *accessEnv) adminCall(purpose string) *vault.Call {
	a, err := e.v.Identity.Authenticate(context.Background(), e.key("admin"), netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		e.t.Fatal(err)
	}
	return &vault.Call{Actor: a, Purpose: purpose}
}

var requestIDRE = regexp.MustCompile(`"request_id":"[^"]*"`)

// do sends a request as role for purpose and returns the status and the
// body with its request id blanked.
func (e *accessEnv) do(method, path, role, purpose string, body any) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+e.key(role))
	if purpose != "" {
		req.Header.Set("Coffer-Purpose", purpose)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, requestIDRE.ReplaceAllString(string(b), `"request_id":""`)
}

// mustDo is do, failing the test unless the status is want.
func (e *accessEnv) mustDo(want int, method, path, role, purpose string, body any) string {
	e.t.Helper()
	code, b := e.do(method, path, role, purpose, body)
	if code != want {
		e.t.Fatalf("%s %s as %s/%s = %d %s, want %d", method, path, role, purpose, code, b, want)
	}
	return b
}

// person is one subject with a customer record and a card.
type person struct {
	subject, email, record, card, token string
}

func (e *accessEnv) person(subject, email, card string) person {
	e.t.Helper()
	p := person{subject: subject, email: email, card: card}
	var c struct{ ID string }
	json.Unmarshal([]byte(e.mustDo(201, "POST", "/v1/collections/customers/records", "admin", "account",
		map[string]any{"subject": subject, "fields": map[string]any{"email": email, "name": "N " + subject}})), &c)
	p.record = c.ID
	json.Unmarshal([]byte(e.mustDo(201, "POST", "/v1/collections/payment_methods/records", "admin", "billing",
		map[string]any{"subject": subject, "fields": map[string]any{"card_number": card, "cardholder": "N " + subject}})), &c)
	var r struct{ Fields map[string]string }
	json.Unmarshal([]byte(e.mustDo(200, "GET", "/v1/collections/payment_methods/records/"+c.ID, "admin", "billing", nil)), &r)
	p.token = r.Fields["card_number"]
	if p.token == "" || p.token == card {
		e.t.Fatalf("no card token for %s: %v", subject, r)
	}
	return p
}

func (e *accessEnv) consent(subject string, granted bool) {
	e.t.Helper()
	if err := e.v.Privacy.SetConsent(context.Background(), e.adminCall(""), subject, "marketing", vault.ConsentChange{Granted: granted, Source: "test"}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *accessEnv) erase(subject string) {
	e.t.Helper()
	ctx, admin := context.Background(), e.adminCall("")
	r, err := e.v.Privacy.CreateRequest(ctx, admin, vault.NewRequest{Kind: "erasure", Regime: "gdpr", Subject: subject})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, a := range []string{"verify", "complete"} {
		if _, err := e.v.Privacy.ActOnRequest(ctx, admin, r.ID, vault.RequestAction{Action: a}); err != nil {
			e.t.Fatal(a, err)
		}
	}
}

// TestRefusalsAreIdentical (issue 13, done when): for reads, search,
// detokenize and GET /v1/subjects/{s}, a restricted, a consent-less, an
// expired, an unknown and an erased target answer exactly alike (status
// and body, request id aside), while a visible target answers with data.
func TestRefusalsAreIdentical(t *testing.T) {
	e := newAccessEnv(t)
	// The expired target is made first, then the clock moves past both
	// collections' retention (1095 days, 30 days).
	expired := e.person("cus_expired", "expired@example.com", "4111111111111111")
	e.consent("cus_expired", true)
	e.offset.Store(int64(1096 * 24 * time.Hour))

	visible := e.person("cus_visible", "visible@example.com", "5555555555554444")
	e.consent("cus_visible", true)
	restricted := e.person("cus_restricted", "restricted@example.com", "4012888888881881")
	e.consent("cus_restricted", true)
	if err := e.v.Privacy.SetRestriction(context.Background(), e.adminCall(""), "cus_restricted", true); err != nil {
		t.Fatal(err)
	}
	noConsent := e.person("cus_noconsent", "noconsent@example.com", "4222222222222")
	erased := e.person("cus_erased", "erased@example.com", "378282246310005")
	e.consent("cus_erased", true)
	e.erase("cus_erased")
	unknown := person{subject: "cus_unknown", email: "unknown@example.com", record: "rec_06h0000000000000000000000", token: "4111110000001111"}

	type answer struct {
		code int
		body string
	}
	calls := map[string]func(p person) answer{
		"read": func(p person) answer {
			c, b := e.do("GET", "/v1/collections/customers/records/"+p.record, "marketer", "marketing", nil)
			return answer{c, b}
		},
		"search": func(p person) answer {
			c, b := e.do("POST", "/v1/collections/customers/search", "marketer", "marketing", map[string]any{"where": map[string]any{"email": p.email}, "limit": 1})
			return answer{c, b}
		},
		"detokenize": func(p person) answer {
			c, b := e.do("POST", "/v1/tokens/detokenize", "marketer", "marketing", map[string]any{"tokens": []string{p.token}})
			return answer{c, b}
		},
		"subject": func(p person) answer {
			c, b := e.do("GET", "/v1/subjects/"+p.subject, "marketer", "marketing", nil)
			return answer{c, b}
		},
	}
	targets := []struct {
		name string
		p    person
	}{{"unknown", unknown}, {"restricted", restricted}, {"consent-less", noConsent}, {"expired", expired}, {"erased", erased}}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if got := call(visible); got.code != 200 || !strings.Contains(got.body, "visible@example.com") && !strings.Contains(got.body, visible.card) {
				t.Fatalf("the visible target: %d %s", got.code, got.body)
			}
			want := call(targets[0].p)
			for _, tg := range targets[1:] {
				if got := call(tg.p); got != want {
					t.Errorf("%s answers %d %s; the unknown target %d %s", tg.name, got.code, got.body, want.code, want.body)
				}
			}
		})
	}
	// Missing grants are refused before any lookup: the same 403 for a real
	// and an unknown record.
	code1, b1 := e.do("GET", "/v1/collections/customers/records/"+visible.record, "support", "account", nil)
	code2, b2 := e.do("GET", "/v1/collections/customers/records/"+unknown.record, "support", "account", nil)
	if code1 != 403 || code1 != code2 || b1 != b2 {
		t.Errorf("grant refusal: %d %s vs %d %s", code1, b1, code2, b2)
	}
	// A role with no detokenize grant anywhere: 403 before any lookup.
	code1, b1 = e.do("POST", "/v1/tokens/detokenize", "support", "support", map[string]any{"tokens": []string{visible.token}})
	code2, b2 = e.do("POST", "/v1/tokens/detokenize", "support", "support", map[string]any{"tokens": []string{unknown.token}})
	if code1 != 403 || code1 != code2 || b1 != b2 {
		t.Errorf("detokenize without any grant: %d %s vs %d %s", code1, b1, code2, b2)
	}
}

// TestPatchAnswersWhatItCommitted (issue 13.1): a write-only role's PATCH
// commits and answers 200 with every field withheld; a refused PATCH
// changes nothing.
func TestPatchAnswersWhatItCommitted(t *testing.T) {
	e := newAccessEnv(t)
	p := e.person("cus_w", "w@example.com", "4111111111111111")
	code, b := e.do("PATCH", "/v1/collections/customers/records/"+p.record, "writer", "account", map[string]any{"fields": map[string]any{"name": "New Name"}})
	var rec struct {
		ID, Subject string
		Fields      map[string]any
		Withheld    []string
	}
	json.Unmarshal([]byte(b), &rec)
	if code != 200 || rec.ID != p.record || rec.Subject != "cus_w" || len(rec.Fields) != 0 || len(rec.Withheld) == 0 {
		t.Fatalf("write-only PATCH = %d %s", code, b)
	}
	if b := e.mustDo(200, "GET", "/v1/collections/customers/records/"+p.record, "admin", "account", nil); !strings.Contains(b, "New Name") {
		t.Errorf("the PATCH did not commit: %s", b)
	}
	// Restricted: refused whole, before the commit.
	if err := e.v.Privacy.SetRestriction(context.Background(), e.adminCall(""), "cus_w", true); err != nil {
		t.Fatal(err)
	}
	code, b = e.do("PATCH", "/v1/collections/customers/records/"+p.record, "admin", "account", map[string]any{"fields": map[string]any{"name": "Restricted Name"}})
	if code != 403 || !strings.Contains(b, "restricted") {
		t.Errorf("PATCH of a restricted subject = %d %s, want 403 restricted", code, b)
	}
	if b := e.mustDo(200, "GET", "/v1/collections/customers/records/"+p.record, "admin", "tax", nil); strings.Contains(b, "Restricted Name") || !strings.Contains(b, "New Name") {
		t.Errorf("a refused PATCH committed: %s", b)
	}
	// legal_obligation may still write.
	e.mustDo(200, "PATCH", "/v1/collections/customers/records/"+p.record, "admin", "tax", map[string]any{"fields": map[string]any{"name": "Tax Name"}})
}

// TestWritesFollowSubjectState (issue 13.2): creating for a restricted
// subject is refused; a consent purpose writes and searches with the
// subject's consent, not without; a create may carry consents for a role
// with the consents grant only.
func TestWritesFollowSubjectState(t *testing.T) {
	e := newAccessEnv(t)
	e.person("cus_r", "r@example.com", "4111111111111111")
	if err := e.v.Privacy.SetRestriction(context.Background(), e.adminCall(""), "cus_r", true); err != nil {
		t.Fatal(err)
	}
	code, b := e.do("POST", "/v1/collections/customers/records", "admin", "account", map[string]any{"subject": "cus_r", "fields": map[string]any{"email": "r2@example.com"}})
	if code != 403 || !strings.Contains(b, "restricted") {
		t.Errorf("create for a restricted subject = %d %s", code, b)
	}
	// Consent purpose: refused without consent, allowed with it.
	p := e.person("cus_m", "m@example.com", "5555555555554444")
	patch := map[string]any{"fields": map[string]any{"email": "m2@example.com"}}
	if code, b := e.do("PATCH", "/v1/collections/customers/records/"+p.record, "admin", "marketing", patch); code != 403 {
		t.Errorf("marketing PATCH without consent = %d %s", code, b)
	}
	e.consent("cus_m", true)
	e.mustDo(200, "PATCH", "/v1/collections/customers/records/"+p.record, "admin", "marketing", patch)
	if b := e.mustDo(200, "POST", "/v1/collections/customers/search", "marketer", "marketing", map[string]any{"where": map[string]any{"email": "m2@example.com"}}); !strings.Contains(b, p.record) {
		t.Errorf("marketing search with consent: %s", b)
	}
	// A create for a new subject under a consent purpose needs the consent,
	// which a role with the consents grant may carry.
	body := map[string]any{"subject": "cus_new", "fields": map[string]any{"email": "new@example.com"}}
	if code, b := e.do("POST", "/v1/collections/customers/records", "signup", "marketing", body); code != 403 {
		t.Errorf("marketing create without consent = %d %s", code, b)
	}
	body["consents"] = map[string]any{"marketing": map[string]any{"granted": true, "source": "signup-form", "notice_version": "2026-11"}}
	if code, b := e.do("POST", "/v1/collections/customers/records", "admin", "marketing", body); code != 403 {
		t.Errorf("consents from a role without the consents grant = %d %s", code, b)
	}
	e.mustDo(201, "POST", "/v1/collections/customers/records", "signup", "marketing", body)
	sc, err := e.v.Privacy.Consents(context.Background(), e.adminCall(""), "cus_new")
	if err != nil || !sc.Current["marketing"] || len(sc.History) != 1 || sc.History[0].Source != "signup-form" {
		t.Errorf("consent recorded with the create: %v %+v", err, sc)
	}
}

// TestSearchLimitHidesNothing (issue 13.3): a hidden match never uses up
// the limit, and a two-field search applies limit after both fields.
func TestSearchLimitHidesNothing(t *testing.T) {
	e := newAccessEnv(t)
	mk := func(subject, email, phone string) string {
		var c struct{ ID string }
		json.Unmarshal([]byte(e.mustDo(201, "POST", "/v1/collections/customers/records", "admin", "account",
			map[string]any{"subject": subject, "fields": map[string]any{"email": email, "phone": phone}})), &c)
		return c.ID
	}
	mk("cus_hidden", "shared@example.com", "+14155550101")
	if err := e.v.Privacy.SetRestriction(context.Background(), e.adminCall(""), "cus_hidden", true); err != nil {
		t.Fatal(err)
	}
	shown := mk("cus_shown", "shared@example.com", "+14155550102")
	for _, limit := range []int{1, 2} {
		b := e.mustDo(200, "POST", "/v1/collections/customers/search", "admin", "account", map[string]any{"where": map[string]any{"email": "shared@example.com"}, "limit": limit})
		if strings.Count(b, `"id"`) != 1 || !strings.Contains(b, shown) {
			t.Errorf("limit %d: %s", limit, b)
		}
	}
	// A missing consent hides a match too (filtered page by page after
	// the store's query): it never uses up the limit.
	e.consent("cus_shown", true)
	for _, limit := range []int{1, 2} {
		b := e.mustDo(200, "POST", "/v1/collections/customers/search", "marketer", "marketing", map[string]any{"where": map[string]any{"email": "shared@example.com"}, "limit": limit})
		if strings.Count(b, `"id"`) != 1 || !strings.Contains(b, shown) {
			t.Errorf("marketing, limit %d: %s", limit, b)
		}
	}
	if err := e.v.Privacy.SetRestriction(context.Background(), e.adminCall(""), "cus_hidden", false); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, 2} {
		b := e.mustDo(200, "POST", "/v1/collections/customers/search", "marketer", "marketing", map[string]any{"where": map[string]any{"email": "shared@example.com"}, "limit": limit})
		if strings.Count(b, `"id"`) != 1 || !strings.Contains(b, shown) {
			t.Errorf("marketing, consent-less older match, limit %d: %s", limit, b)
		}
	}
	other := mk("cus_other", "two@example.com", "+14155550103")
	mk("cus_other2", "two@example.com", "+14155550104")
	_ = other
	b := e.mustDo(200, "POST", "/v1/collections/customers/search", "admin", "account", map[string]any{"where": map[string]any{"email": "two@example.com", "phone": "+14155550104"}, "limit": 1})
	if strings.Count(b, `"id"`) != 1 || !strings.Contains(b, "cus_other2") {
		t.Errorf("two-field search, limit 1: %s", b)
	}
}

// TestTokenOracles (issue 13.4): deterministic tokens and FPE encryption
// need the detokenize right; a token the caller may not detokenize answers
// like an unknown one; revoke probes are answered alike and audited.
func TestTokenOracles(t *testing.T) {
	e := newAccessEnv(t)
	det := map[string]any{"values": []map[string]any{{"value": "4111111111111111", "format": "card"}}, "namespace": "cards", "deterministic": true, "card_keep_bin": 6}
	if code, b := e.do("POST", "/v1/tokens", "admin", "", det); code != 403 {
		t.Errorf("deterministic tokenize without detokenize = %d %s", code, b)
	}
	e.mustDo(201, "POST", "/v1/tokens", "billing", "", det)
	fpe := map[string]any{"key": "cards", "values": []string{"4111111111111111"}}
	if code, b := e.do("POST", "/v1/fpe/encrypt", "admin", "", fpe); code != 403 {
		t.Errorf("FPE encrypt without detokenize = %d %s", code, b)
	}
	e.mustDo(200, "POST", "/v1/fpe/encrypt", "billing", "", fpe)

	// admin tokenizes into a namespace billing may not detokenize.
	var out struct{ Tokens []string }
	json.Unmarshal([]byte(e.mustDo(201, "POST", "/v1/tokens", "admin", "", map[string]any{"values": []map[string]any{{"value": "secret"}}, "namespace": "other"})), &out)
	forbidden := out.Tokens[0]
	json.Unmarshal([]byte(e.mustDo(201, "POST", "/v1/tokens", "billing", "", map[string]any{"values": []map[string]any{{"value": "secret2"}}, "namespace": "cards"})), &out)
	revoked := out.Tokens[0]
	e.mustDo(204, "DELETE", "/v1/tokens/"+revoked, "billing", "", nil)
	_, want := e.do("POST", "/v1/tokens/detokenize", "billing", "billing", map[string]any{"tokens": []string{"tok_unknown"}})
	for name, tok := range map[string]string{"forbidden": forbidden, "revoked": revoked} {
		code, b := e.do("POST", "/v1/tokens/detokenize", "billing", "billing", map[string]any{"tokens": []string{tok}})
		if code != 404 || b != want {
			t.Errorf("%s token: %d %s, unknown: %s", name, code, b, want)
		}
	}
	// Revoke: a forbidden token and an unknown one answer alike, audited.
	c1, b1 := e.do("DELETE", "/v1/tokens/"+forbidden, "billing", "", nil)
	c2, b2 := e.do("DELETE", "/v1/tokens/tok_unknown", "billing", "", nil)
	if c1 != 404 || c1 != c2 || b1 != b2 {
		t.Errorf("revoke probes: %d %s vs %d %s", c1, b1, c2, b2)
	}
	es, err := e.st.Audit(context.Background(), coffer.AuditFilter{Desc: true, Limit: 2})
	if err != nil || len(es) != 2 || es[0].Action != "token.revoke" || es[1].Action != "token.revoke" || es[0].Outcome != coffer.OutcomeDenied {
		t.Errorf("revoke probes not audited: %v %+v", err, es)
	}
}

// TestExportMasksCards (issue 13.5): the access export shows a card's BIN
// and last 4 to an admin who may not detokenize it.
func TestExportMasksCards(t *testing.T) {
	e := newAccessEnv(t)
	e.person("cus_x", "x@example.com", "4111111111111111")
	ctx, admin := context.Background(), e.adminCall("")
	r, err := e.v.Privacy.CreateRequest(ctx, admin, vault.NewRequest{Kind: "access", Regime: "gdpr", Subject: "cus_x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.v.Privacy.ActOnRequest(ctx, admin, r.ID, vault.RequestAction{Action: "verify"}); err != nil {
		t.Fatal(err)
	}
	b := e.mustDo(200, "GET", "/v1/requests/"+r.ID+"/export", "admin", "", nil)
	if strings.Contains(b, "4111111111111111") || !strings.Contains(b, `"411111******1111"`) || !strings.Contains(b, "x@example.com") {
		t.Errorf("export: %s", b)
	}
}

// TestRetentionAtReadTime (issue 14.2): a field past its retention is gone
// from reads before the sweeper runs.
func TestRetentionAtReadTime(t *testing.T) {
	e := newAccessEnv(t)
	var c struct{ ID string }
	json.Unmarshal([]byte(e.mustDo(201, "POST", "/v1/collections/customers/records", "admin", "account",
		map[string]any{"subject": "cus_b", "fields": map[string]any{"email": "b@example.com", "birthdate": "1984-02-03"}})), &c)
	if b := e.mustDo(200, "GET", "/v1/collections/customers/records/"+c.ID, "admin", "account", nil); !strings.Contains(b, "1984-02-03") {
		t.Fatalf("fresh: %s", b)
	}
	e.offset.Store(int64(731 * 24 * time.Hour)) // birthdate: 730d
	if b := e.mustDo(200, "GET", "/v1/collections/customers/records/"+c.ID, "admin", "account", nil); strings.Contains(b, "1984") || strings.Contains(b, "birthdate") {
		t.Errorf("past retention: %s", b)
	}
}

// TestErasedIDNotReused (issue 14.4): an id in the erasure ledger is
// refused with 409.
func TestErasedIDNotReused(t *testing.T) {
	e := newAccessEnv(t)
	e.person("cus_gone", "g@example.com", "4111111111111111")
	e.erase("cus_gone")
	code, b := e.do("POST", "/v1/collections/customers/records", "admin", "account", map[string]any{"subject": "cus_gone", "fields": map[string]any{"email": "new@example.com"}})
	if code != 409 {
		t.Errorf("reusing an erased id = %d %s", code, b)
	}
	e.mustDo(201, "POST", "/v1/collections/customers/records", "admin", "account", map[string]any{"subject": "cus_fresh", "fields": map[string]any{"email": "new@example.com"}})
}

// TestGetSubject (issue 13.7): the subject's records by collection in the
// caller's views, consents and restriction.
func TestGetSubject(t *testing.T) {
	e := newAccessEnv(t)
	p := e.person("cus_s", "s@example.com", "4111111111111111")
	e.consent("cus_s", true)
	var got struct {
		Subject    string
		Records    map[string][]coffer.Record
		Consents   map[string]bool
		Restricted bool
	}
	json.Unmarshal([]byte(e.mustDo(200, "GET", "/v1/subjects/cus_s", "support", "support", nil)), &got)
	if got.Subject != "cus_s" || len(got.Records["customers"]) != 1 || got.Records["customers"][0].ID != p.record || len(got.Records["payment_methods"]) != 0 ||
		string(got.Records["customers"][0].Fields["email"]) != `"s@e******.com"` || !got.Consents["marketing"] || got.Restricted {
		t.Errorf("GET subject as support: %+v", got)
	}
	if code, _ := e.do("GET", "/v1/subjects/cus_s", "support", "", nil); code != 400 {
		t.Errorf("no purpose: %d", code)
	}
	if code, _ := e.do("GET", "/v1/subjects/cus_s", "writer", "account", nil); code != 403 {
		t.Errorf("a role that reads nothing: %d", code)
	}
}
