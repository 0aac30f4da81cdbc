package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "coffer.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	p := write(t, "data: d\ntrusted_proxies: [10.0.0.0/8, \"::1/128\"]\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8750" || c.Data != filepath.Join(filepath.Dir(p), "d") || c.Keys.File != filepath.Join(c.Data, "keys.json") ||
		c.MaxBodyBytes != 1<<20 || len(c.Proxies()) != 2 {
		t.Fatalf("defaults: %+v", c)
	}
	if c.WitnessPath() != c.Data+".witness" || c.AuditKeysPath() != filepath.Join(filepath.Dir(p), "audit-keys.txt") {
		t.Fatalf("audit paths: %s %s", c.WitnessPath(), c.AuditKeysPath())
	}
	c, err = Load(write(t, "data: d\naudit: {witness: ../elsewhere/w.jsonl, checkpoint_every: 50}\n"))
	if err != nil || c.Audit.CheckpointEvery != 50 || !filepath.IsAbs(c.WitnessPath()) {
		t.Fatalf("audit section: %+v %v", c.Audit, err)
	}
}

func TestLoadRefuses(t *testing.T) {
	dbf := filepath.Join(t.TempDir(), "db")
	os.WriteFile(dbf, []byte("postgres://u:secret@h/db\n"), 0o600)
	for body, want := range map[string]string{
		"addr: x\n":                                                                   "data: the data directory is required",
		"data: d\ncolour: red\n":                                                      "field colour not found",
		"data: d\ntrusted_proxies: [10.0.0.1]\n":                                      "trusted_proxies",
		"data: d\ntls: {cert: a}\n":                                                   "set both cert and key",
		"data: d\nkeys: {provider: vault}\n":                                          "want file, passphrase",
		"data: d\ndatabase: x\ndatabase_file: " + dbf:                                 "not both",
		"data: d\nwebauthn: {rp_id: example.com}\n":                                   "origins: name at least one",
		"data: d\naudit: {witness: d/w.jsonl}\n":                                      "witness must be outside the data directory",
		"data: d\naudit: {checkpoint_every: -1}\n":                                    "checkpoint_every",
		"data: d\nwebauthn: {rp_id: example.com, origins: [http://example.com]}\n":    "plain http only for localhost",
		"data: d\nwebauthn: {rp_id: example.com, origins: [https://evil.com]}\n":      "not within rp_id",
		"data: d\nwebauthn: {rp_id: example.com, origins: [https://example.com/x]}\n": "not an origin",
	} {
		_, err := Load(write(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", body, err, want)
		}
	}
	if _, err := Load(write(t, "data: d\nwebauthn: {rp_id: example.com, origins: [https://vault.example.com, https://example.com:8443]}\n")); err != nil {
		t.Errorf("valid webauthn section refused: %v", err)
	}
	c, err := Load(write(t, "data: d\ndatabase_file: "+dbf+"\n"))
	if err != nil || c.Database != "postgres://u:secret@h/db" {
		t.Fatalf("database_file: %q %v", c.Database, err)
	}
	if r := c.Redacted(); strings.Contains(r.Database, "secret") {
		t.Error("Redacted shows the database password")
	}
	c.Keys.PKCS11.PIN = "pin-4711-canary"
	if r := fmt.Sprintf("%+v", c.Redacted()); strings.Contains(r, "pin-4711-canary") {
		t.Error("Redacted shows the PKCS#11 PIN")
	}
}
