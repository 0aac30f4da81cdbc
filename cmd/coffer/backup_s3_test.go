package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/canary"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/vault"
)

// versitygwVersion is the S3 server the tests run against (.ci/run
// installs it).
const versitygwVersion = "v1.8.0"

// s3Server is a real S3 server a test started: versitygw's posix backend
// over a temporary directory, on a loopback port.
type s3Server struct {
	endpoint       string // http://127.0.0.1:port
	root           string // a bucket is the directory root/<bucket>
	access, secret string
	client         *minio.Client
}

// startS3 starts versitygw for the test, stopped when it ends. Without
// the binary the test skips, unless COFFER_REQUIRE_S3=1 (CI).
func startS3(t *testing.T) *s3Server {
	t.Helper()
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		if gopath, gerr := exec.Command("go", "env", "GOPATH").Output(); gerr == nil {
			bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
			_, err = os.Stat(bin)
		}
	}
	if err != nil {
		msg := "versitygw is not on PATH nor in $(go env GOPATH)/bin: go install github.com/versity/versitygw/cmd/versitygw@" + versitygwVersion
		if os.Getenv("COFFER_REQUIRE_S3") == "1" {
			t.Fatal(msg + " (COFFER_REQUIRE_S3=1)")
		}
		t.Skip(msg + "; COFFER_REQUIRE_S3=1 makes this a failure")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &s3Server{endpoint: "http://" + addr, root: t.TempDir(), access: "coffer" + randomHex(t, 8), secret: randomHex(t, 20)}
	cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", s.root)
	// The root credentials go in the environment, not the command line.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.access, "ROOT_SECRET_KEY="+s.secret)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	// Wait for the port: a real condition, with a deadline.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("versitygw exited before serving: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen on %s within 30s\n%s", addr, out.String())
		}
	}
	s.client, err = minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(s.access, s.secret, "")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// bucket creates a bucket.
func (s *s3Server) bucket(t *testing.T, name string) {
	t.Helper()
	if err := s.client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
}

// backup returns a config.Backup section for bucket/prefix on this server
// with credential files in dir.
func (s *s3Server) backup(t *testing.T, dir, target, access, secret, recipient string) config.Backup {
	t.Helper()
	af, sf := filepath.Join(dir, "s3-access"), filepath.Join(dir, "s3-secret")
	writeFile(t, af, access+"\n")
	writeFile(t, sf, secret+"\n")
	return config.Backup{Every: "6h", Keep: 2, Target: target, Recipients: []string{recipient},
		S3: config.S3{Endpoint: s.endpoint, AccessKeyFile: af, SecretKeyFile: sf}}
}

// incomplete lists the multipart uploads under prefix never completed
// nor aborted.
func (s *s3Server) incomplete(t *testing.T, bucket, prefix string) []string {
	t.Helper()
	var out []string
	for u := range s.client.ListIncompleteUploads(context.Background(), bucket, prefix, true) {
		if u.Err != nil {
			t.Fatalf("list incomplete uploads: %v", u.Err)
		}
		out = append(out, u.Key)
	}
	return out
}

// TestScheduledBackupsS3: the scheduler streams backups into a bucket on a
// real S3 server, prunes to keep and lists them newest first with size
// and audit head; a backup downloaded from the bucket verifies and
// decrypts, and no plaintext value, nor any credential, is anywhere in the
// bucket or the logs.
func TestScheduledBackupsS3(t *testing.T) {
	srv := startS3(t)
	srv.bucket(t, "coffer-backups")
	ctx := context.Background()
	dir := t.TempDir()
	v, st, keys, signer := backupVault(t, dir)
	identity, recipient := keygen(t, dir)

	secret := canary.New("s3-backup")
	_, token, err := v.Identity.CreateAPIKey(ctx, vault.SystemCall(), vault.NewAPIKey{Name: "admin", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := v.Identity.Authenticate(ctx, token, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	call := &vault.Call{Actor: admin, Purpose: "account"}
	raw := map[string]json.RawMessage{"email": json.RawMessage(`"s3canary@example.com"`), "name": json.RawMessage(`"` + secret + `"`)}
	if _, err := v.Records.Create(ctx, call, "customers", []coffer.NewRecord{{Subject: "cus_s3", Fields: raw}}); err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	cfg := config.Config{Data: dir, Backup: srv.backup(t, dir, "s3://coffer-backups/prod/coffer", srv.access, srv.secret, recipient)}
	b, sched, err := backupService(v, st, cfg, signer, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil || sched == nil {
		t.Fatalf("scheduler: %v", err)
	}
	clock := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	sched.now = func() time.Time { clock = clock.Add(time.Hour); return clock }
	for range 3 {
		sched.scheduled(ctx) // the path a tick takes: a failure is only logged
	}
	if strings.Contains(logs.String(), "backup_failed") {
		t.Fatalf("scheduled backups failed:\n%s", logs.String())
	}

	list, err := b.List(ctx, vault.SystemCall())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "coffer-20261123T030000.000Z.backup" || list[1].Name != "coffer-20261123T020000.000Z.backup" {
		t.Fatalf("listing after pruning to 2: %+v", list)
	}
	if list[0].AuditSeq <= list[1].AuditSeq || list[0].Rows == 0 || !list[0].Created.Equal(clock) {
		t.Fatalf("listing: %+v", list)
	}
	bucketDir := filepath.Join(srv.root, "coffer-backups")
	var names []string
	for _, f := range list {
		fi, err := os.Stat(filepath.Join(bucketDir, "prod", "coffer", f.Name))
		if err != nil || fi.Size() != f.Size || f.Size == 0 {
			t.Fatalf("%s: listed %d bytes, the bucket holds %v (%v)", f.Name, f.Size, fi, err)
		}
		names = append(names, f.Name, f.Name+".json")
	}
	ents, _ := os.ReadDir(filepath.Join(bucketDir, "prod", "coffer"))
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join([]string{names[2], names[3], names[0], names[1]}, " ") {
		t.Fatalf("the bucket holds %v, want the two newest backups and their sidecars", got)
	}

	// Download the newest through S3 and check it as an operator would.
	file := filepath.Join(dir, "downloaded.backup")
	if err := srv.client.FGetObject(ctx, "coffer-backups", "prod/coffer/"+list[0].Name, file, minio.GetObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run(t, nil, "", "backup", "verify", file, "--identity", identity, "--keys", keys); code != 0 || !strings.Contains(out, "audit chain intact") {
		t.Fatalf("verify the downloaded backup: exit %d %s %s", code, out, errs)
	}
	if m := manifestOf(t, file, identity, keys); m.AuditSeq != list[0].AuditSeq {
		t.Fatalf("the manifest's audit head is seq %d, the listing says %d", m.AuditSeq, list[0].AuditSeq)
	}
	payload := decryptPayload(t, file, identity)
	canary.InBytes(t, "decrypted backup payload", payload, secret)
	if !bytes.Contains(payload, []byte("cus_s3")) {
		t.Fatal("the payload does not hold the subject: is it the store?")
	}

	canary.InDir(t, srv.root, secret, "s3canary@example.com")
	canary.InText(t, "scheduler logs", logs.String(), srv.access, srv.secret)
	if n := srv.incomplete(t, "coffer-backups", ""); len(n) != 0 {
		t.Fatalf("incomplete uploads left: %v", n)
	}
}

// TestScheduledBackupFailures: a backup that cannot be stored whole — the
// dump fails, the stream breaks midway or at its very end (after the
// sidecar is written), or the server refuses the credentials or has no
// such bucket — is logged as backup_failed without a credential; the
// target never completes the object, and nothing is left behind: no
// backup, no sidecar, no incomplete upload. The same checks run against a
// directory target. Each case has a prefix (a directory) of its own.
func TestScheduledBackupFailures(t *testing.T) {
	srv := startS3(t)
	srv.bucket(t, "coffer-fail")
	ctx := context.Background()
	dir := t.TempDir()
	v, st, _, signer := backupVault(t, dir)
	_, recipient := keygen(t, dir)
	wrong := randomHex(t, 20)

	for i, c := range []struct {
		name      string
		s3        bool
		secret    string // the S3 secret key the scheduler uses (default: the right one)
		bucket    string // default coffer-fail
		breaks    int64  // break the backup's stream after this many bytes; -1 at its end; 0 not
		dumpFails bool   // the dump itself fails (before its first byte)
	}{
		{name: "s3 stream breaks midway", s3: true, breaks: 1000},
		{name: "s3 stream breaks at its end", s3: true, breaks: -1},
		{name: "s3 dump fails", s3: true, dumpFails: true},
		{name: "s3 wrong secret key", s3: true, secret: wrong},
		{name: "s3 no such bucket", s3: true, bucket: "coffer-none"},
		{name: "dir stream breaks midway", breaks: 1000},
		{name: "dir stream breaks at its end", breaks: -1},
		{name: "dir dump fails", dumpFails: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cdir := filepath.Join(dir, fmt.Sprint(i))
			if err := os.Mkdir(cdir, 0o700); err != nil {
				t.Fatal(err)
			}
			// good is the target with the right credentials, to look at
			// what is left; cfg the one the scheduler runs with.
			good := config.Backup{Every: "6h", Target: "dir://" + filepath.Join(cdir, "backups"), Recipients: []string{recipient}}
			cfg := good
			if c.s3 {
				prefix := fmt.Sprintf("/case%d", i)
				good = srv.backup(t, cdir, "s3://coffer-fail"+prefix, srv.access, srv.secret, recipient)
				cfg = good
				if c.secret != "" || c.bucket != "" {
					bucket := cmp.Or(c.bucket, "coffer-fail")
					cfg = srv.backup(t, t.TempDir(), "s3://"+bucket+prefix, srv.access, cmp.Or(c.secret, srv.secret), recipient)
				}
			}
			var logs syncBuffer
			_, sched, err := backupService(v, st, config.Config{Data: dir, Backup: cfg}, signer, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			watch := &watchTarget{backupTarget: sched.target, breaks: c.breaks}
			sched.target = watch
			if c.dumpFails {
				sched.recipients = []string{"age1-not-a-recipient"}
			}
			sched.scheduled(ctx)
			out := logs.String()
			if !strings.Contains(out, "backup_failed") {
				t.Fatalf("no backup_failed logged: %s", out)
			}
			canary.InText(t, "logs", out, srv.access, srv.secret, wrong)
			t.Log(strings.TrimSpace(out))
			if len(watch.backupPuts) != 1 || watch.backupPuts[0] == nil {
				t.Fatalf("the target completed the failed backup: put returned %v", watch.backupPuts)
			}
			if c.bucket != "" {
				return // nothing to look at there
			}
			_, check, err := backupService(v, st, config.Config{Data: dir, Backup: good}, signer, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			objs, err := check.target.objects(ctx)
			if err != nil || len(objs) != 0 {
				t.Fatalf("left in the target: %+v %v", objs, err)
			}
			if n := srv.incomplete(t, "coffer-fail", ""); len(n) != 0 {
				t.Fatalf("incomplete uploads left: %v", n)
			}
		})
	}
}

// watchTarget records what each put of a backup returned and, with breaks
// set, breaks its stream: after that many bytes, or (-1) where it would
// end.
type watchTarget struct {
	backupTarget
	breaks     int64
	backupPuts []error
}

func (w *watchTarget) put(ctx context.Context, name string, r io.Reader, size int64) error {
	if !strings.HasSuffix(name, backupSuffix) {
		return w.backupTarget.put(ctx, name, r, size)
	}
	if w.breaks != 0 {
		r = &breakingReader{r: r, left: w.breaks}
	}
	err := w.backupTarget.put(ctx, name, r, size)
	w.backupPuts = append(w.backupPuts, err)
	return err
}

var errBroken = errors.New("the stream broke (test)")

type breakingReader struct {
	r    io.Reader
	left int64 // -1: at the end
}

func (b *breakingReader) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, errBroken
	}
	if b.left > 0 && int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	if b.left > 0 {
		b.left -= int64(n)
	}
	if err == io.EOF {
		err = errBroken
	}
	return n, err
}

// TestS3TargetStreams: an upload of unknown size goes in parts, holding
// no more than a few parts in memory however long it is; one whose stream
// breaks after a part was sent is aborted, and lists nothing.
func TestS3TargetStreams(t *testing.T) {
	srv := startS3(t)
	srv.bucket(t, "coffer-stream")
	ctx := context.Background()
	target, err := newS3Target(&config.S3Target{Endpoint: strings.TrimPrefix(srv.endpoint, "http://"), Bucket: "coffer-stream", Prefix: "p/",
		AccessKey: coffer.NewSecret([]byte(srv.access)), SecretKey: coffer.NewSecret([]byte(srv.secret))})
	if err != nil {
		t.Fatal(err)
	}
	const total = 6 * s3PartSize
	var m runtime.MemStats
	runtime.GC() // what is live before the upload, not the garbage of earlier tests
	runtime.ReadMemStats(&m)
	src := &heapWatch{left: total}
	if err := target.put(ctx, "big", src, -1); err != nil {
		t.Fatal(err)
	}
	objs, err := target.objects(ctx)
	if err != nil || len(objs) != 1 || objs[0].name != "big" || objs[0].size != total {
		t.Fatalf("objects: %+v %v", objs, err)
	}
	grew := src.peak - int64(m.HeapAlloc)
	t.Logf("%d MiB streamed in %d MiB parts; the heap grew by at most %d MiB", total>>20, s3PartSize>>20, grew>>20)
	if grew > total/2 {
		t.Fatalf("the heap grew by %d MiB streaming %d MiB: the upload is not streamed", grew>>20, total>>20)
	}

	err = target.put(ctx, "broken", &breakingReader{r: &heapWatch{left: total}, left: s3PartSize + 1000}, -1)
	if !errors.Is(err, errBroken) {
		t.Fatalf("a broken stream: %v", err)
	}
	if objs, err := target.objects(ctx); err != nil || len(objs) != 1 {
		t.Fatalf("objects after a broken upload: %+v %v", objs, err)
	}
	if n := srv.incomplete(t, "coffer-stream", ""); len(n) != 0 {
		t.Fatalf("incomplete uploads left: %v", n)
	}
	if err := target.remove(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if err := target.remove(ctx, "big"); err != nil {
		t.Fatalf("removing an object already gone: %v", err)
	}
}

// heapWatch yields left bytes and records the peak heap while it is read.
type heapWatch struct {
	left, peak int64
	n          int64
}

func (h *heapWatch) Read(p []byte) (int, error) {
	if h.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), h.left, 1<<20)]
	for i := range p {
		p[i] = byte(h.n + int64(i))
	}
	h.left -= int64(len(p))
	h.n += int64(len(p))
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h.peak = max(h.peak, int64(m.HeapAlloc))
	return len(p), nil
}

// TestS3ErrorScrubbed: an S3 error's text is the server's; whatever it
// echoes of the credentials is scrubbed before it reaches a log.
func TestS3ErrorScrubbed(t *testing.T) {
	target, err := newS3Target(&config.S3Target{Endpoint: "s3.example.com", Secure: true, Bucket: "b",
		AccessKey: coffer.NewSecret([]byte("AKIDCANARY")), SecretKey: coffer.NewSecret([]byte("SECRETCANARY"))})
	if err != nil {
		t.Fatal(err)
	}
	inner := errors.New("access key AKIDCANARY with secret SECRETCANARY refused")
	err = target.fail("upload x", inner)
	canary.InText(t, "an S3 error", err.Error(), "AKIDCANARY", "SECRETCANARY")
	if !errors.Is(err, inner) || !strings.HasPrefix(err.Error(), "s3 upload x: ") {
		t.Fatalf("the error: %v", err)
	}
}
