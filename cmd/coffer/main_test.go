package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/client"
)

// TestMain lets the test binary act as the coffer binary: the crash test
// starts it as a child server with COFFER_TEST_CHILD=1.
func TestMain(m *testing.M) {
	if os.Getenv("COFFER_TEST_CHILD") == "1" {
		os.Exit(Main(os.Args[1:], stdEnv()))
	}
	os.Exit(m.Run())
}

// syncBuffer collects output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs Main with args and returns exit code, stdout and stderr.
func run(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	e := &Env{Ctx: context.Background(), Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }}
	code := Main(args, e)
	return code, out.String(), errb.String()
}

var listenRE = regexp.MustCompile(`listening on (https?://[0-9.:\[\]]+)`)

// devServer runs `coffer serve --dev` in-process on 127.0.0.1:0 and returns
// its address, the admin token, its log output and a stop function that
// waits for a clean shutdown.
func devServer(t *testing.T, data string) (addr, token string, logs *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	pr, pw := io.Pipe()
	env := &Env{Ctx: ctx, Stdin: strings.NewReader(""), Stdout: logs, Stderr: io.MultiWriter(logs, pw), Getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--data", data}, env)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("server did not start:\n%s", logs.String())
	}
	go io.Copy(io.Discard, pr)
	tok, err := os.ReadFile(data + "/dev-admin-token")
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d:\n%s", code, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not shut down")
		}
	}
	t.Cleanup(stop)
	return addr, strings.TrimSpace(string(tok)), logs, stop
}

// testClient returns a client of addr with token.
func testClient(t *testing.T, addr, token string) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Addr: addr, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}
