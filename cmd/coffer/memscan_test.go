//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	_ "modernc.org/sqlite"

	"github.com/cofferhq/coffer/client"
	"github.com/cofferhq/coffer/internal/keyring"
)

const scanMask = 0x5c

// TestSealMemoryScan is the best-effort memory scan: a server (in
// this process) stores a record, the test recovers that subject's DEK from
// the database and the key file, and scans /proc/self/mem for the DEK's
// bytes before and after POST /v1/sys/seal. The DEK is held only masked,
// so the test's own copy is never found. Before the seal the DEK must be
// found (the scanner works: it lives in the cached AES key schedule).
// Right after the seal and a GC copies usually remain: crypto/aes keeps
// the expanded key (its first 32 bytes are the key) out of our reach and
// the garbage collector does not clear freed memory. The test then makes
// the allocator reuse freed slots of those sizes (which zeroes them) and
// requires no copy left: a copy that survives is one something still
// references after the seal. Heuristic: it depends on the allocator.
func TestSealMemoryScan(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("scans the process's memory (not under -short or -race: the race detector's shadow memory is huge)")
	}
	dir, out := initData(t, "")
	token := adminKey(t, out)
	_, addr, _ := serveLines(t, "--config", filepath.Join(dir, "coffer.yaml"), "--addr", "127.0.0.1:0")
	ctx := context.Background()
	cl := testClient(t, addr, token)
	const subject = "cus_memscan"
	created, err := cl.Records().Create(ctx, "account", "customers", client.NewRecord{Subject: subject, Fields: map[string]any{"email": "scan@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Records().Get(ctx, "account", "customers", created.ID); err != nil {
		t.Fatal(err)
	}
	masked := maskedDEK(t, dir, subject)

	before := scanMemory(t, masked)
	if before == 0 {
		t.Fatal("the scanner did not find the DEK of a cached subject before sealing: the scan is broken")
	}
	if _, err := cl.System().Seal(ctx); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	after := scanMemory(t, masked)
	churn()
	churned := scanMemory(t, masked)
	t.Logf("copies of the subject's DEK in process memory: %d before seal, %d after seal and a GC, %d once the allocator reused freed memory", before, after, churned)
	if churned != 0 {
		t.Fatalf("%d copies of the DEK survive sealing and the reuse of freed memory: something still holds the key", churned)
	}
}

// maskedDEK recovers subject's DEK from the key file (v2: the root) and
// the database, and returns it XOR scanMask; no unmasked copy survives.
func maskedDEK(t *testing.T, dir, subject string) []byte {
	t.Helper()
	var doc struct{ Root string }
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "keys.json"))), &doc); err != nil {
		t.Fatal(err)
	}
	rb, err := base64.StdEncoding.DecodeString(doc.Root)
	if err != nil {
		t.Fatal(err)
	}
	root, err := keyring.RootFromBytes(rb)
	clear(rb)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.Derive(root, 1)
	root.Destroy()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "coffer.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wrapped []byte
	var version uint32
	if err := db.QueryRow(`SELECT dek, kek_version FROM subjects WHERE id = ?`, subject).Scan(&wrapped, &version); err != nil {
		t.Fatal(err)
	}
	kek := keys.Root.KEKs[version].Bytes()
	block, err := aes.NewCipher(kek)
	clear(kek)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := cipher.NewGCM(block)
	dek, err := g.Open(nil, wrapped[:12], wrapped[12:], []byte("coffer/dek/v1|"+subject+"|"+strconv.Itoa(int(version))))
	if err != nil || len(dek) != 32 {
		t.Fatalf("unwrap the DEK: %v", err)
	}
	masked := make([]byte, len(dek))
	for i, b := range dek {
		masked[i] = b ^ scanMask
	}
	clear(dek)
	return masked
}

// scanMemory counts the places in this process's readable memory that
// hold the bytes masked XOR scanMask (its own read buffer excepted).
func scanMemory(t *testing.T, masked []byte) int {
	t.Helper()
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skip(err)
	}
	defer maps.Close()
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Skip(err)
	}
	defer mem.Close()
	type region struct{ start, end uint64 }
	var regions []region
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[1][0] != 'r' || (len(f) >= 6 && (f[5] == "[vvar]" || f[5] == "[vsyscall]" || f[5] == "[vvar_vclock]")) {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		s, _ := strconv.ParseUint(lo, 16, 64)
		e, _ := strconv.ParseUint(hi, 16, 64)
		regions = append(regions, region{s, e})
	}
	const chunk = 1 << 20
	buf := make([]byte, chunk+len(masked))
	bufStart := uint64(uintptr(unsafe.Pointer(&buf[0])))
	bufEnd := bufStart + uint64(len(buf))
	found := 0
	for _, r := range regions {
		for off := r.start; off < r.end; off += chunk {
			n := min(uint64(len(buf)), r.end-off)
			got, _ := mem.ReadAt(buf[:n], int64(off))
			for i := 0; i+len(masked) <= got; i++ {
				if buf[i]^scanMask != masked[0] {
					continue
				}
				j := 1
				for j < len(masked) && buf[i+j]^scanMask == masked[j] {
					j++
				}
				if at := off + uint64(i); j == len(masked) && (at < bufStart || at >= bufEnd) && uint64(i) < chunk {
					found++
				}
			}
			clear(buf)
		}
	}
	return found
}

// churn allocates many small objects of the sizes of AES and GCM state,
// so that the allocator reuses (and zeroes) the slots that held
// unreachable key schedules.
var sink [][]byte

func churn() {
	for range 3 {
		sink = nil
		for size := 256; size <= 1024; size += 16 {
			for range 2000 {
				sink = append(sink, make([]byte, size))
			}
		}
		runtime.GC()
	}
	sink = nil
	runtime.GC()
}
