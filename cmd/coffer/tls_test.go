package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/keyring"
)

func writeConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	keys := filepath.Join(dir, "keys.json")
	if _, err := os.Stat(keys); err != nil {
		if err := keyring.CreateFile(keys); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "coffer.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("data: %s\nkeys: {provider: file, file: %s}\nschema: %s\n%s", dir, keys, shopSchema(t), extra)), 0o600)
	return cfg
}

// shopSchema is the absolute path of examples/shop.yaml.
func shopSchema(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../examples/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRefusesPlainHTTPOffLoopback(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := run(t, nil, "", "serve", "--config", writeConfig(t, dir, "addr: 0.0.0.0:0\n"))
	if code != 2 || !strings.Contains(errs, "refusing to listen on 0.0.0.0:0 without TLS") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

// TestBadInventoryRefusedBeforeListening: a broken inventory stops the
// server before it says it listens.
func TestBadInventoryRefusedBeforeListening(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yaml")
	os.WriteFile(inv, []byte("controller: {}\nsurprise: 1\n"), 0o600)
	code, _, errs := run(t, nil, "", "serve", "--config", writeConfig(t, dir, "addr: 127.0.0.1:0\ninventory: "+inv+"\n"))
	if code != 2 || !strings.Contains(errs, "inventory:") || strings.Contains(errs, "listening on") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

var fingerprintRE = regexp.MustCompile(`(generated|using) a self-signed certificate, SHA-256 fingerprint ([0-9A-F:]{95})`)

// startTLS runs serve --config with a self-signed pair and returns the
// address, the printed fingerprint and whether it was generated.
func startTLS(t *testing.T, cfg string) (addr, fp, verb string, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"serve", "--config", cfg}, &Env{Ctx: ctx, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: pw, Getenv: func(string) string { return "" }})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := fingerprintRE.FindStringSubmatch(sc.Text()); m != nil {
			verb, fp = m[1], m[2]
		}
		if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" || fp == "" {
		cancel()
		t.Fatal("server did not start with TLS")
	}
	return addr, fp, verb, func() { cancel(); <-done }
}

func TestSelfSignedTLS(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "addr: 127.0.0.1:0\ntls: {self_signed: true}\n")
	addr, fp, verb, stop := startTLS(t, cfg)
	if verb != "generated" || !strings.HasPrefix(addr, "https://") {
		t.Fatalf("first start: %s %s", verb, addr)
	}
	if fi, err := os.Stat(filepath.Join(dir, "tls.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("tls.key: %v %v", fi.Mode(), err)
	}
	// A client pinning the printed fingerprint connects.
	var seen string
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the fingerprint check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			seen = strings.ToUpper(hex.EncodeToString(sum[:]))
			return nil
		},
	}}}
	resp, err := client.Get(addr + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if strings.ReplaceAll(fp, ":", "") != seen {
		t.Fatalf("printed fingerprint %s, served certificate %s", fp, seen)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("health over TLS: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	// TLS 1.1 is refused.
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get(addr + "/v1/health"); err == nil {
		t.Fatal("a TLS 1.1 client connected")
	}
	stop()
	// A restart reuses the pair.
	_, fp2, verb2, stop2 := startTLS(t, cfg)
	defer stop2()
	if verb2 != "using" || fp2 != fp {
		t.Fatalf("restart: %s %s, want the same certificate", verb2, fp2)
	}
}
