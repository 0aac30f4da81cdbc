package rights_test

import (
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/rights"
)

func TestParse(t *testing.T) {
	long := strings.Repeat("x", 33)
	cases := []struct {
		field string
		parse func(string) (string, error)
		in    string
		want  string // "" when an error is expected
	}{
		{"regime", parseRegime, "gdpr", "gdpr"},
		{"regime", parseRegime, "ccpa", "ccpa"},
		{"regime", parseRegime, "GDPR", ""},
		{"regime", parseRegime, " gdpr", ""},
		{"regime", parseRegime, "", ""},
		{"regime", parseRegime, "lgpd", ""},
		{"regime", parseRegime, long, ""},
		{"kind", parseKind, "access", "access"},
		{"kind", parseKind, "erasure", "erasure"},
		{"kind", parseKind, "rectification", "rectification"},
		{"kind", parseKind, "restriction", "restriction"},
		{"kind", parseKind, "objection", "objection"},
		{"kind", parseKind, "opt_out", "opt_out"},
		{"kind", parseKind, "opt-out", ""},
		{"kind", parseKind, "delete", ""},
		{"kind", parseKind, "", ""},
		{"status", parseStatus, "unverified", "unverified"},
		{"status", parseStatus, "open", "open"},
		{"status", parseStatus, "in_progress", "in_progress"},
		{"status", parseStatus, "completed", "completed"},
		{"status", parseStatus, "denied", "denied"},
		{"status", parseStatus, "closed", ""},
		{"status", parseStatus, "", ""},
		{"status", parseStatus, "jane.doe@example.com is here", ""},
		{"kind", parseKind, "4111-1111-1111-1111", ""},
		{"kind", parseKind, "123-45-6789", ""},
		{"regime", parseRegime, "4111111111111111", ""},
	}
	for _, c := range cases {
		got, err := c.parse(c.in)
		if c.want != "" {
			if err != nil || got != c.want {
				t.Errorf("parse %s %q = %q, %v; want %q", c.field, c.in, got, err, c.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("parse %s %q = %q, want an error", c.field, c.in, got)
			continue
		}
		if got != "" {
			t.Errorf("parse %s %q returned %q with its error", c.field, c.in, got)
		}
		if coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("parse %s %q: code %s, want %s", c.field, c.in, coffer.ErrorCode(err), coffer.EINVALID)
		}
		msg := coffer.ErrorMessage(err)
		if !strings.HasPrefix(msg, c.field+" ") {
			t.Errorf("parse %s %q: message %q does not name the field", c.field, c.in, msg)
		}
		if !strings.Contains(msg, "one of") {
			t.Errorf("parse %s %q: message %q does not list the allowed values", c.field, c.in, msg)
		}
		if len(c.in) > 32 && strings.Contains(msg, c.in) || strings.Contains(msg, "@") || strings.Contains(msg, "1111") || strings.Contains(msg, "6789") {
			t.Errorf("parse %s: message %q echoes a long or personal input", c.field, msg)
		}
	}
}

func parseRegime(s string) (string, error) { v, err := rights.ParseRegime(s); return string(v), err }
func parseKind(s string) (string, error)   { v, err := rights.ParseKind(s); return string(v), err }
func parseStatus(s string) (string, error) { v, err := rights.ParseStatus(s); return string(v), err }

// TestNextMatrix is every status × action, with the expected outcome: the
// new status, or the error code.
func TestNextMatrix(t *testing.T) {
	const (
		inv  = "EINVALID"
		conf = "ECONFLICT"
	)
	actions := []string{"verify", "start", "complete", "deny", "extend", "", "VERIFY"}
	matrix := map[rights.Status][]string{
		//                   verify  start          complete     deny      extend unknown...
		rights.Unverified: {"open", conf, conf, "denied", inv, inv, inv},
		rights.Open:       {conf, "in_progress", "completed", "denied", inv, inv, inv},
		rights.InProgress: {conf, conf, "completed", "denied", inv, inv, inv},
		rights.Completed:  {conf, conf, conf, conf, inv, inv, inv},
		rights.Denied:     {conf, conf, conf, conf, inv, inv, inv},
		"":                {inv, inv, inv, inv, inv, inv, inv},
		"closed":          {inv, inv, inv, inv, inv, inv, inv},
	}
	codes := map[string]string{inv: coffer.EINVALID, conf: coffer.ECONFLICT}
	for from, row := range matrix {
		if len(row) != len(actions) {
			t.Fatalf("row %q has %d entries, want %d", from, len(row), len(actions))
		}
		for i, action := range actions {
			want := row[i]
			got, err := rights.Next(from, action)
			if code, isErr := codes[want]; isErr {
				if err == nil {
					t.Errorf("Next(%q, %q) = %q, want %s", from, action, got, want)
					continue
				}
				if coffer.ErrorCode(err) != code {
					t.Errorf("Next(%q, %q): code %s, want %s (%v)", from, action, coffer.ErrorCode(err), code, err)
				}
				if got != from {
					t.Errorf("Next(%q, %q) failed but moved to %q", from, action, got)
				}
				continue
			}
			if err != nil || got != rights.Status(want) {
				t.Errorf("Next(%q, %q) = %q, %v; want %q", from, action, got, err, want)
			}
		}
	}
}

func TestNextMessages(t *testing.T) {
	cases := []struct {
		from   rights.Status
		action string
		want   []string
	}{
		{rights.Completed, rights.Complete, []string{"the request is already completed"}},
		{rights.Completed, rights.Deny, []string{"the request is already completed"}},
		{rights.Denied, rights.Verify, []string{"the request is already denied"}},
		{rights.Open, rights.Verify, []string{"open", "verif"}},
		{rights.Unverified, rights.Start, []string{"unverified", "start"}},
		{rights.InProgress, rights.Start, []string{"in_progress", "start"}},
		{rights.Unverified, rights.Complete, []string{"unverified", "complet", "open or in_progress"}},
		{rights.Open, "publish", []string{"action", `"publish"`, "verify", "deny"}},
		{rights.Open, strings.Repeat("a", 40), []string{"action", "not shown"}},
	}
	for _, c := range cases {
		_, err := rights.Next(c.from, c.action)
		msg := coffer.ErrorMessage(err)
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("Next(%q, %q): message %q lacks %q", c.from, c.action, msg, w)
			}
		}
	}
}

func TestCanExtend(t *testing.T) {
	ok := "the request is complex and involves many systems"
	cases := []struct {
		name     string
		status   rights.Status
		extended bool
		reason   string
		code     string // "" for success
		msg      string
	}{
		{"open", rights.Open, false, ok, "", ""},
		{"in-progress", rights.InProgress, false, ok, "", ""},
		{"reason-500-runes", rights.Open, false, strings.Repeat("é", 500), "", ""},
		{"reason-padded", rights.Open, false, "  volume of requests  ", "", ""},
		{"twice-open", rights.Open, true, ok, coffer.ECONFLICT, "already extended once"},
		{"twice-in-progress", rights.InProgress, true, ok, coffer.ECONFLICT, "already extended once"},
		{"twice-no-reason", rights.Open, true, "", coffer.ECONFLICT, "already extended once"},
		{"completed", rights.Completed, false, ok, coffer.ECONFLICT, "a completed request cannot be extended"},
		{"denied", rights.Denied, false, ok, coffer.ECONFLICT, "a denied request cannot be extended"},
		{"completed-extended", rights.Completed, true, ok, coffer.ECONFLICT, "a completed request cannot be extended"},
		{"unverified", rights.Unverified, false, ok, coffer.ECONFLICT, "unverified"},
		{"unknown-status", "closed", false, ok, coffer.EINVALID, "status"},
		{"empty-reason", rights.Open, false, "", coffer.EINVALID, "reason"},
		{"blank-reason", rights.Open, false, " \t\n ", coffer.EINVALID, "reason"},
		{"reason-501-runes", rights.Open, false, strings.Repeat("é", 501), coffer.EINVALID, "reason"},
		{"reason-invalid-utf8", rights.Open, false, "ok\xff", coffer.EINVALID, "reason"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := rights.CanExtend(c.status, c.extended, c.reason)
			if c.code == "" {
				if err != nil {
					t.Fatalf("CanExtend = %v, want nil", err)
				}
				return
			}
			if coffer.ErrorCode(err) != c.code {
				t.Fatalf("CanExtend = %v, want code %s", err, c.code)
			}
			if msg := coffer.ErrorMessage(err); !strings.Contains(msg, c.msg) {
				t.Errorf("message %q lacks %q", msg, c.msg)
			}
		})
	}
}

func TestIsAction(t *testing.T) {
	for a, want := range map[string]bool{rights.Verify: true, rights.Start: true, rights.Complete: true, rights.Deny: true, rights.Extend: true, "": false, "VERIFY": false, "delete": false} {
		if rights.IsAction(a) != want {
			t.Errorf("IsAction(%q) = %v", a, !want)
		}
	}
}
