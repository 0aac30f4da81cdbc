package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
)

// Black-box tests of the CLI papercuts of issue 12, through Main.

func TestHelpAndVersionExitZero(t *testing.T) {
	code, out, errs := run(t, nil, "", "help")
	if code != 0 || !strings.Contains(out, "Usage: coffer <command>") || errs != "" {
		t.Fatalf("coffer help: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = run(t, nil, "", "help", "records", "put")
	if code != 0 || !strings.Contains(out, "Usage: coffer records put") {
		t.Fatalf("coffer help records put: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs = run(t, nil, "", "help", "nosuch"); code != 2 || !strings.Contains(errs, "nosuch") {
		t.Fatalf("coffer help nosuch: exit %d %s", code, errs)
	}
	code, out, errs = run(t, nil, "", "--version")
	if code != 0 || !regexp.MustCompile(`^coffer \S`).MatchString(out) || strings.Contains(out, "dev") {
		t.Fatalf("coffer --version: exit %d %q %s", code, out, errs)
	}
	if _, out2, _ := run(t, nil, "", "version"); out2 != out {
		t.Errorf("coffer version says %q, --version %q", out2, out)
	}
}

// TestBuildVersion: what was built, never "dev".
func TestBuildVersion(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}
	for _, c := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{nil, "unversioned"},
		{&debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: rev}, "v1.4.0"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, "rev 0123456789ab+modified"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "unversioned"},
	} {
		if got := buildVersion(c.bi); got != c.want {
			t.Errorf("buildVersion = %q, want %q", got, c.want)
		}
	}
}

// serveLines runs coffer serve with args until it says it listens and
// returns what it printed up to then and a stop function.
func serveLines(t *testing.T, args ...string) (lines []string, addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(append([]string{"serve"}, args...), &Env{Ctx: ctx, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: pw, Getenv: func(string) string { return "" }})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	stop = sync.OnceFunc(func() { cancel(); <-done }) // the test and its cleanup may both call it
	if addr == "" {
		stop()
		t.Fatalf("serve %v did not start:\n%s", args, strings.Join(lines, "\n"))
	}
	t.Cleanup(stop)
	return lines, addr, stop
}

func TestProductionBannerSaysWhatWasBuilt(t *testing.T) {
	lines, _, _ := serveLines(t, "--config", writeConfig(t, t.TempDir(), "addr: 127.0.0.1:0\n"))
	banner := lines[len(lines)-1]
	m := regexp.MustCompile(`^coffer (\S+(?: \S+)?) listening on `).FindStringSubmatch(banner)
	if m == nil || strings.Contains(m[1], "dev") || m[1] != version() {
		t.Fatalf("production banner %q: want the build's version %q, never dev", banner, version())
	}
}

func TestProductionConfigWithoutSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "addr: 127.0.0.1:0\n")
	noSchema := regexp.MustCompile(`(?m)^schema: .*\n`).ReplaceAllString(readFile(t, cfg), "")
	writeFile(t, cfg, noSchema)
	// Should it start anyway, it is stopped once it says it listens.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errb syncBuffer
	stderr := writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), "listening on") {
			cancel()
		}
		return errb.Write(p)
	})
	code := Main([]string{"serve", "--config", cfg}, &Env{Ctx: ctx, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr, Getenv: func(string) string { return "" }})
	if errs := errb.String(); code != 2 || !strings.Contains(errs, "no schema") || strings.Contains(errs, "listening on") {
		t.Fatalf("serve without schema: exit %d %s", code, errs)
	}
	// The offline verbs read the same configuration and refuse it too.
	code, out, errs := run(t, nil, "", "api-key", "create", "--config", cfg, "--name", "ops", "--role", "admin")
	if code != 2 || out != "" || !strings.Contains(errs, "no schema") {
		t.Fatalf("api-key create without schema: exit %d %q %s", code, out, errs)
	}
}

func TestDevBannerNamesTheServedAddress(t *testing.T) {
	data := t.TempDir()
	addr, _, logs, stop := devServer(t, data)
	want := "export COFFER_ADDR=" + addr + " "
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("first start: the banner does not say %q:\n%s", want, logs.String())
	}
	stop()
	// A restart (the key file reused) says it too, for the new port.
	addr2, _, logs2, _ := devServer(t, data)
	if !strings.Contains(logs2.String(), "export COFFER_ADDR="+addr2+" ") {
		t.Fatalf("restart: the banner does not name %s:\n%s", addr2, logs2.String())
	}
}

// TestAddrTakesHostPortOrURL: COFFER_ADDR and --addr take the host:port
// serve takes as well as a URL.
func TestAddrTakesHostPortOrURL(t *testing.T) {
	addr, token, _, _ := devServer(t, t.TempDir())
	hostport := strings.TrimPrefix(addr, "http://")
	for _, c := range []struct {
		env  map[string]string
		args []string
	}{
		{map[string]string{"COFFER_ADDR": hostport, "COFFER_TOKEN": token}, nil},
		{map[string]string{"COFFER_ADDR": addr + "/", "COFFER_TOKEN": token}, nil},
		{map[string]string{"COFFER_TOKEN": token}, []string{"--addr", hostport}},
		{nil, []string{"--addr", addr, "--token", token}},
	} {
		args := append([]string{"records", "put", "-p", "account"}, c.args...)
		code, out, errs := run(t, c.env, "", append(args, "email=hostport@example.com")...)
		if code != 0 || !strings.Contains(out, `"id": "rec_`) {
			t.Fatalf("%v %v: exit %d %s%s", c.env, c.args, code, out, errs)
		}
	}
	code, _, errs := run(t, map[string]string{"COFFER_TOKEN": token}, "", "records", "get", "-p", "account", "--addr", "ftp://"+hostport, "rec_x")
	if code != 2 || !strings.Contains(errs, "want host:port") {
		t.Fatalf("an ftp address: exit %d %s", code, errs)
	}
}

// freeAddr returns a loopback host:port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestUnreachableServerNamed: a server that is not there is a sentence
// naming the address, not a Go URL error.
func TestUnreachableServerNamed(t *testing.T) {
	addr := freeAddr(t)
	env := map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": "k"}
	code, _, errs := run(t, env, "", "records", "search", "-p", "account", "email=a@example.com")
	if code != 2 || !strings.Contains(errs, "cannot reach the Coffer server at http://"+addr+": connection refused") ||
		strings.Contains(errs, "dial tcp") || strings.Contains(errs, `Post "`) {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

// TestBenchUnreachableStops: bench against nothing says so at once instead
// of measuring errors for the whole duration.
func TestBenchUnreachableStops(t *testing.T) {
	addr := freeAddr(t)
	code, out, errs := run(t, map[string]string{"COFFER_TOKEN": "k"}, "", "bench", "--addr", addr, "--duration", "3s", "-n", "2")
	if code != 2 || strings.Contains(out, "RESULT") || !strings.Contains(errs, "cannot reach the Coffer server at http://"+addr) {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

func TestTLSFingerprintPinsSelfSignedServer(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "addr: 127.0.0.1:0\ntls: {self_signed: true}\n")
	code, token, errs := run(t, nil, "", "api-key", "create", "--config", cfg, "--name", "ops", "--role", "admin")
	if code != 0 {
		t.Fatalf("api-key create: %s", errs)
	}
	token = strings.TrimSpace(token)
	lines, addr, _ := serveLines(t, "--config", cfg)
	var fp string
	for _, l := range lines {
		if m := fingerprintRE.FindStringSubmatch(l); m != nil {
			fp = m[2]
		}
	}
	if !strings.Contains(strings.Join(lines, "\n"), "COFFER_TLS_FINGERPRINT="+fp) {
		t.Fatalf("the banner does not say how to pin %s:\n%s", fp, strings.Join(lines, "\n"))
	}
	hostport := strings.TrimPrefix(addr, "https://")
	put := func(env map[string]string, args ...string) (int, string) {
		env["COFFER_TOKEN"] = token
		code, out, errs := run(t, env, "", append(append([]string{"records", "put", "-p", "account"}, args...), "email=pin@example.com")...)
		return code, out + errs
	}
	// Pinned: by the environment (URL or host:port) or the flag, any case.
	for _, c := range []struct {
		env  map[string]string
		args []string
	}{
		{map[string]string{"COFFER_ADDR": addr, "COFFER_TLS_FINGERPRINT": fp}, nil},
		{map[string]string{"COFFER_ADDR": hostport, "COFFER_TLS_FINGERPRINT": strings.ToLower(strings.ReplaceAll(fp, ":", ""))}, nil},
		{map[string]string{}, []string{"--addr", hostport, "--tls-fingerprint", fp}},
	} {
		if code, out := put(c.env, c.args...); code != 0 || !strings.Contains(out, `"id": "rec_`) {
			t.Fatalf("%v %v: exit %d %s", c.env, c.args, code, out)
		}
	}
	// Not pinned, or pinned to another certificate: refused, and said why.
	if code, out := put(map[string]string{"COFFER_ADDR": addr}); code != 2 || !strings.Contains(out, "--tls-fingerprint") {
		t.Fatalf("no pin: exit %d %s", code, out)
	}
	if code, out := put(map[string]string{"COFFER_ADDR": hostport}); code != 2 || !strings.Contains(out, "speaks https") {
		t.Fatalf("plain http to the TLS server: exit %d %s", code, out)
	}
	other := strings.Repeat("AB:", 31) + "AB"
	if code, out := put(map[string]string{"COFFER_ADDR": addr, "COFFER_TLS_FINGERPRINT": other}); code != 2 ||
		!strings.Contains(out, "not the pinned "+other) || !strings.Contains(out, fp) {
		t.Fatalf("wrong pin: exit %d %s", code, out)
	}
	if code, out := put(map[string]string{"COFFER_ADDR": addr, "COFFER_TLS_FINGERPRINT": "12:34"}); code != 2 || !strings.Contains(out, "64 hex digits") {
		t.Fatalf("short pin: exit %d %s", code, out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
