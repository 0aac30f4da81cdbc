package api

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client", "203.0.113.9:5000", nil, "203.0.113.9"},
		{"direct client forging XFF", "203.0.113.9:5000", []string{"1.2.3.4"}, "203.0.113.9"},
		{"through one trusted proxy", "10.0.0.5:443", []string{"198.51.100.7"}, "198.51.100.7"},
		{"forged entry before the real one", "10.0.0.5:443", []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7"},
		{"two trusted proxies", "10.0.0.5:443", []string{"198.51.100.7, 10.1.1.1"}, "198.51.100.7"},
		{"several headers", "10.0.0.5:443", []string{"198.51.100.7", "10.9.9.9"}, "198.51.100.7"},
		{"malformed entry", "10.0.0.5:443", []string{"198.51.100.7, bogus"}, "10.0.0.5"},
		{"proxy without XFF", "10.0.0.5:443", nil, "10.0.0.5"},
		{"IPv6 trusted proxy", "[::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.9]:80", nil, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientIP(r, trusted).String(); got != tt.want {
				t.Errorf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPrivacyNotice(t *testing.T) {
	for _, c := range []struct {
		notice []byte
		status int
		body   string
	}{
		{[]byte("<h1>Privacy at Example</h1>"), 200, "<h1>Privacy at Example</h1>"},
		{nil, 404, `"code":"not_found"`},
	} {
		h := New(nil, Config{PrivacyNotice: c.notice})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/privacy", nil))
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("GET /privacy = %d %s, want %d", rec.Code, rec.Body, c.status)
		}
	}
}
