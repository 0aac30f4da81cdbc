package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cofferhq/coffer/client"
)

// child is a coffer server running as a separate process (this test binary
// re-executed with COFFER_TEST_CHILD=1), so that it can be SIGKILLed.
type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, data string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--dev", "--addr", "127.0.0.1:0", "--data", data)
	cmd.Env = append(os.Environ(), "COFFER_TEST_CHILD=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() {
				}
			}()
			return &child{cmd: cmd, addr: m[1]}
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("child server did not start:\n%s", strings.Join(lines, "\n"))
	return nil
}

func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

// TestCrashDurability kills a server under concurrent create load with
// SIGKILL at random moments, restarts it, and checks that every create
// that was acknowledged is readable and that the audit chain verifies.
// COFFER_CRASH_ROUNDS sets the number of kills (default 20).
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	rounds := 20
	if n, err := strconv.Atoi(os.Getenv("COFFER_CRASH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	data := t.TempDir()
	var acked []string // ids whose create answered 201
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := range rounds {
		srv := startChild(t, data)
		token, err := os.ReadFile(data + "/dev-admin-token")
		if err != nil {
			t.Fatal(err)
		}
		cl := testClient(t, srv.addr, strings.TrimSpace(string(token)))
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					out, err := cl.Records().Create(ctx, "account", "customers", client.NewRecord{
						Fields: map[string]any{"email": fmt.Sprintf("r%d.w%d.i%d@crash.example", round, w, i), "name": "Crash Test"}})
					if err == nil {
						mu.Lock()
						acked = append(acked, out.ID)
						mu.Unlock()
					}
				}
			}()
		}
		// Kill at a random moment while creates are in flight.
		time.Sleep(time.Duration(20+rng.IntN(250)) * time.Millisecond)
		srv.kill()
		cancel()
		wg.Wait()
	}
	if len(acked) < rounds {
		t.Fatalf("only %d creates were acknowledged in %d rounds: the load did not run", len(acked), rounds)
	}

	// Restart once more and read back every acknowledged record.
	srv := startChild(t, data)
	token, _ := os.ReadFile(data + "/dev-admin-token")
	cl := testClient(t, srv.addr, strings.TrimSpace(string(token)))
	missing := 0
	for _, id := range acked {
		if _, err := cl.Records().Get(context.Background(), "account", "customers", id); err != nil {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged record %s: %v", id, err)
			}
		}
	}
	srv.kill()
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged records lost", missing, len(acked))
	}
	// The chain survived every kill.
	code, out, errs := run(t, nil, "", "audit", "verify", "--data", data)
	if code != 0 {
		t.Fatalf("audit verify after %d kills: exit %d\n%s%s", rounds, code, out, errs)
	}
	t.Logf("%d kills, %d acknowledged creates all readable; %s", rounds, len(acked), strings.TrimSpace(out))
}
