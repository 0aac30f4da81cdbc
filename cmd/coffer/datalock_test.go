package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// secondServe runs serve --dev on data and returns its exit code and
// output; one that starts listening instead is stopped and answers -1.
func secondServe(t *testing.T, data string) (int, string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var out strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--data", data},
			&Env{Ctx: ctx, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: pw, Getenv: func(string) string { return "" }})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if listenRE.MatchString(sc.Text()) {
			cancel()
			go io.Copy(io.Discard, pr)
			<-done
			return -1, out.String()
		}
	}
	return <-done, out.String()
}

// TestOneServerPerDataDir (issue 15.8): a second serve on a data directory
// a server holds exits 2 naming the holder's pid and address; the offline
// writers refuse while it runs, naming it and what to do instead; the
// read-only audit verify still opens the database; once the server stops,
// the writers work again.
func TestOneServerPerDataDir(t *testing.T) {
	data := t.TempDir()
	addr, _, _, stop := devServer(t, data)
	hostPort := strings.TrimPrefix(addr, "http://")

	code, errs := secondServe(t, data)
	if code != 2 {
		t.Fatalf("second serve: exit %d, want 2: %s", code, errs)
	}
	if want := fmt.Sprintf("pid %d, listening on %s", os.Getpid(), hostPort); !strings.Contains(errs, want) {
		t.Errorf("second serve does not name the holder (%q): %s", want, errs)
	}
	for _, args := range [][]string{
		{"keys", "rotate", "--offline", "--data", data},
		{"api-key", "create", "--name", "ci", "--role", "admin", "--data", data},
	} {
		code, out, errs := run(t, nil, "", args...)
		if code != 2 || !strings.Contains(errs, fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(errs, hostPort) || out != "" {
			t.Errorf("%v while a server runs: exit %d, stdout %q, stderr %s", args[:2], code, out, errs)
		}
	}
	if code, out, errs := run(t, nil, "", "audit", "verify", "--data", data); code != 0 {
		t.Errorf("audit verify while a server runs: %d %s %s", code, out, errs)
	}
	stop()
	if code, out, errs := run(t, nil, "", "api-key", "create", "--name", "ci", "--role", "admin", "--data", data); code != 0 || !strings.HasPrefix(out, "coffer_") {
		t.Errorf("api-key create after the server stopped: %d %q %s", code, out, errs)
	}
	if code, _, errs := run(t, nil, "", "keys", "rotate", "--offline", "--rewrap-only", "--data", data); code != 0 {
		t.Errorf("keys rotate after the server stopped: %d %s", code, errs)
	}
}
