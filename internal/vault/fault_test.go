package vault_test

import (
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/pgtest"
)

// pgCluster is a private PostgreSQL cluster for a test that stops and
// starts the server (never the shared one other tests use).
type pgCluster struct {
	dir, port string
	asUser    []string // runuser prefix when the test runs as root
	bin       string
}

func (c *pgCluster) run(t *testing.T, name string, args ...string) {
	t.Helper()
	argv := append(append(append([]string{}, c.asUser...), filepath.Join(c.bin, name)), args...)
	out, err := osexec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func (c *pgCluster) start(t *testing.T) {
	c.run(t, "pg_ctl", "-D", c.dir, "-w", "-l", filepath.Join(c.dir, "log"), "-o",
		"-p "+c.port+" -k "+c.dir+" -c listen_addresses=127.0.0.1", "start")
}

// stop stops the server abruptly (-m immediate: connections are cut,
// the next start recovers from the WAL).
func (c *pgCluster) stop(t *testing.T) {
	c.run(t, "pg_ctl", "-D", c.dir, "-w", "-m", "immediate", "stop")
}

// newCluster initializes and starts a cluster on a free port, stopped and
// removed on cleanup; it skips when PostgreSQL's binaries are not here.
func newCluster(t *testing.T) (*pgCluster, string) {
	bin := os.Getenv("COFFER_TEST_PGBIN")
	if bin == "" {
		bin = "/usr/lib/postgresql/15/bin"
	}
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		t.Skipf("initdb not found in %s (set COFFER_TEST_PGBIN): the fault test needs a private cluster", bin)
	}
	dir, err := os.MkdirTemp("", "coffer-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &pgCluster{dir: dir, bin: bin}
	if os.Geteuid() == 0 { // initdb refuses root: run the server as postgres
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root and there is no postgres user to run a private cluster as")
		}
		if _, err := osexec.LookPath("runuser"); err != nil {
			t.Skip("running as root without runuser: cannot start a private cluster")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	c.run(t, "initdb", "-D", dir, "-A", "trust", "-U", "postgres")
	c.start(t)
	t.Cleanup(func() {
		argv := append(append([]string{}, c.asUser...), filepath.Join(bin, "pg_ctl"), "-D", dir, "-m", "immediate", "stop")
		osexec.Command(argv[0], argv[1:]...).Run()
	})
	return c, "postgres://postgres@127.0.0.1:" + c.port + "/postgres?sslmode=disable"
}

type createResult struct {
	id  string
	err error
}

// TestPostgresRestartUnderLoad: PostgreSQL stops abruptly and comes back
// while creates run concurrently. During the outage every failure is 503
// unavailable and the readiness probe fails; the node recovers by itself;
// every acknowledged record reads back afterwards and the audit chain
// verifies under its signed head.
func TestPostgresRestartUnderLoad(t *testing.T) {
	pgtest.DSN(t) // PostgreSQL tests are opt-in
	cluster, dsn := newCluster(t)
	keys := testKeys(t)
	n, _ := openNode(t, dsn, keys, "")

	const workers = 4
	results := make(chan createResult)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				out, err := n.v.Records.Create(ctx, n.admin, "customers", []coffer.NewRecord{{Fields: raw(map[string]any{"email": fmt.Sprintf("w%d-%d@example.com", w, i)})}})
				r := createResult{err: err}
				if err == nil {
					r.id = out[0].ID
				}
				select {
				case results <- r:
				case <-stop:
					return
				}
			}
		}()
	}
	var acked []string
	codes := map[string]int{}
	timeout := time.After(3 * time.Minute)
	// collect reads results until enough acks (or, with errs, errors)
	// arrived since it was called.
	collect := func(phase string, acks, errs int) {
		t.Helper()
		for a, e := 0, 0; a < acks || e < errs; {
			select {
			case r := <-results:
				if r.err != nil {
					codes[coffer.ErrorCode(r.err)]++
					if c := coffer.ErrorCode(r.err); c != coffer.EUNAVAILABLE {
						t.Errorf("%s: a create failed with %s (want only unavailable): %v", phase, c, r.err)
					}
					e++
					continue
				}
				acked = append(acked, r.id)
				a++
			case <-timeout:
				close(stop)
				t.Fatalf("%s: timed out (%d acknowledged, errors %v)", phase, len(acked), codes)
			}
		}
	}
	collect("before the outage", 30, 0)
	cluster.stop(t)
	collect("during the outage", 0, 20)
	if err := n.v.Ready(ctx); coffer.ErrorCode(err) != coffer.EUNAVAILABLE {
		t.Errorf("ready during the outage: %v, want unavailable", err)
	}
	cluster.start(t)
	collect("after the restart", 30, 0)
	close(stop)
	go func() { wg.Wait(); close(results) }()
	for r := range results {
		if r.err == nil {
			acked = append(acked, r.id)
		} else if c := coffer.ErrorCode(r.err); c != coffer.EUNAVAILABLE {
			t.Errorf("a create failed with %s: %v", c, r.err)
		}
	}
	t.Logf("%d creates acknowledged, failures by code %v", len(acked), codes)

	if err := n.v.Ready(ctx); err != nil {
		t.Errorf("ready after the restart: %v", err)
	}
	for _, id := range acked {
		if _, err := n.v.Records.Get(ctx, n.admin, "customers", id); err != nil {
			t.Errorf("acknowledged record %s: %v", id, err)
		}
	}
	head, err := n.store.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := audit.NewSigner(keys.IndexKey)
	if _, err := audit.Verify(n.store.AuditLog(ctx), head, signer.PublicKeys()); err != nil {
		t.Errorf("the audit chain does not verify after the restart: %v", err)
	}
}
