package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/client"
	"github.com/cofferhq/coffer/internal/audit"
)

// restoreScene is a vault made by coffer init, serving until its witness
// saw the log go on past a backup: where a restore after a lost disk
// starts from.
type restoreScene struct {
	dir, cfg, witness string // the init'ed directory (the data directory too), its coffer.yaml, its witness
	token             string // the admin API key init printed
	unseal            []string
	file, identity    string // the backup and its age identity
	head              int64  // the backup's audit head
	seen              int64  // the last seq the witness saw
}

// newRestoreScene inits a vault with provider (checkpoints every 2
// entries), serves it, writes records, takes a backup through the API,
// writes more and stops.
func newRestoreScene(t *testing.T, provider string) *restoreScene {
	t.Helper()
	s := &restoreScene{}
	args := []string{"--provider", provider}
	stdin := ""
	switch provider {
	case "passphrase":
		stdin = testPassphrase + "\n"
		s.unseal = []string{testPassphrase}
	case "shamir":
		args = append(args, "--shares", "3", "--threshold", "2")
	}
	var out string
	s.dir, out = initData(t, stdin, args...)
	s.token = adminKey(t, out)
	if provider == "shamir" {
		for _, m := range shareRE.FindAllStringSubmatch(out, -1)[1:] { // shares 2 and 3, as init printed them
			s.unseal = append(s.unseal, m[0])
		}
	}
	s.cfg = filepath.Join(s.dir, "coffer.yaml")
	writeFile(t, s.cfg, readFile(t, s.cfg)+"audit: {checkpoint_every: 2}\n")
	s.witness = s.dir + ".witness"
	var recipient string
	s.identity, recipient = keygen(t, t.TempDir())

	addr, stop := s.serve(t)
	s.records(t, addr, "before", 3)
	s.file = filepath.Join(t.TempDir(), "vault.backup")
	if code, out, errs := run(t, map[string]string{"COFFER_ADDR": addr, "COFFER_TOKEN": s.token}, "", "backup", "create",
		"--recipient", recipient, "--out", s.file); code != 0 {
		t.Fatalf("backup create: exit %d %s %s", code, out, errs)
	}
	s.records(t, addr, "after", 4)
	stop()
	s.head = s.backupHead(t)
	cps := readWitness(t, s.witness)
	s.seen = cps[len(cps)-1].Seq
	if s.head == 0 || s.seen <= s.head {
		t.Fatalf("precondition: the witness saw seq %d, the backup's head is %d", s.seen, s.head)
	}
	return s
}

// serve starts the vault's configuration, unseals it when its provider
// needs input, and returns its address and a stop function.
func (s *restoreScene) serve(t *testing.T) (string, func()) {
	t.Helper()
	_, addr, stop := serveLines(t, "--config", s.cfg, "--addr", "127.0.0.1:0")
	for _, in := range s.unseal {
		if code, _, errs := run(t, map[string]string{"COFFER_ADDR": addr}, in+"\n", "unseal"); code != 0 {
			t.Fatalf("unseal: exit %d %s", code, errs)
		}
	}
	return addr, stop
}

func (s *restoreScene) records(t *testing.T, addr, prefix string, n int) {
	t.Helper()
	cl := testClient(t, addr, s.token)
	for i := range n {
		if _, err := cl.Records().Create(context.Background(), "account", "customers", client.NewRecord{Subject: fmt.Sprintf("cus_%s_%d", prefix, i),
			Fields: map[string]any{"email": fmt.Sprintf("%s%d@example.com", prefix, i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

var drillHeadRE = regexp.MustCompile(`up to the signed head at seq (\d+)`)

// backupHead drills the backup (backup verify, trusting the audit public
// keys the vault wrote beside its config: any provider has them) and
// returns its audit head.
func (s *restoreScene) backupHead(t *testing.T) int64 {
	t.Helper()
	code, out, errs := run(t, nil, "", "backup", "verify", s.file, "--identity", s.identity, "--audit-key", filepath.Join(s.dir, "audit-keys.txt"))
	m := drillHeadRE.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("backup verify: exit %d %s %s", code, out, errs)
	}
	head, _ := strconv.ParseInt(m[1], 10, 64)
	return head
}

var brokenAtRE = regexp.MustCompile(`FAIL: audit log broken at seq (\d+): (.*)`)

// replaced runs audit verify with args and wants it to find the log
// diverging from the witness past the backup's head: cut back (the
// witness saw later seqs) or, where the witness holds a checkpoint at
// the restore's own entry, an entry that differs from the one it saw.
func (s *restoreScene) replaced(t *testing.T, what string, args ...string) {
	t.Helper()
	code, out, errs := run(t, nil, "", append([]string{"audit", "verify"}, args...)...)
	m := brokenAtRE.FindStringSubmatch(out)
	if code != 1 || m == nil {
		t.Fatalf("%s: verify exit %d %s %s, want 1 and the seq where the log diverges", what, code, out, errs)
	}
	seq, _ := strconv.ParseInt(m[1], 10, 64)
	cut := strings.Contains(m[2], fmt.Sprintf("witness saw seq %d", s.seen))
	if seq <= s.head || !cut && !strings.Contains(m[2], "differs from what the witness recorded") {
		t.Fatalf("%s: %s, want the log to diverge from the witness after the backup's head %d", what, m[0], s.head)
	}
}

func readWitness(t *testing.T, path string) []audit.Checkpoint {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cps, _, err := audit.ReadWitness(f)
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

// TestRestoreWritesWitnessCheckpoint: the witness of a vault saw its log
// go on past the backup's head. A restore that writes no checkpoint leaves
// a log the witness calls cut back; one given --witness appends a signed
// restore checkpoint naming the backup's head, and audit verify then
// accepts the restored log. A checkpoint of another kind at that head
// does not count as a restore.
func TestRestoreWritesWitnessCheckpoint(t *testing.T) {
	s := newRestoreScene(t, "file")
	keys := filepath.Join(s.dir, "keys.json")
	before := readFile(t, s.witness)

	plain := filepath.Join(t.TempDir(), "plain")
	if code, out, errs := run(t, nil, "", "backup", "restore", s.file, "--identity", s.identity, "--keys", keys, "--data", plain); code != 0 {
		t.Fatalf("restore: exit %d %s %s", code, out, errs)
	}
	s.replaced(t, "a restore without a checkpoint", "--data", plain, "--keys", keys, "--witness", s.witness)

	// A witness that is not this vault's is refused before anything is
	// written (to the target or to the witness).
	restored := filepath.Join(t.TempDir(), "restored")
	garbage := filepath.Join(t.TempDir(), "garbage.witness")
	writeFile(t, garbage, "not a witness\n")
	foreign := filepath.Join(t.TempDir(), "foreign.witness")
	otherKeys := filepath.Join(t.TempDir(), "other-keys.json")
	if code, _, errs := run(t, nil, "", "keys", "init", otherKeys); code != 0 {
		t.Fatalf("keys init: %d %s", code, errs)
	}
	_, other, err := rootKeys(otherKeys)
	if err != nil {
		t.Fatal(err)
	}
	ocp := audit.Checkpoint{Kind: audit.KindPeriodic, Seq: 2, Hash: make([]byte, 32), Time: time.Now(), Counter: 1}
	other.SignCheckpoint(&ocp)
	if err := (&audit.WitnessFile{Path: foreign}).Append(&ocp, other.PublicKey()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, witness, data, want string }{
		{"a witness that does not parse", garbage, restored, "not this vault's witness"},
		{"another vault's witness", foreign, restored, "not this vault's witness"},
		{"a witness inside the target", filepath.Join(restored, "w"), restored, "outside the data directory"},
	} {
		was, _ := os.ReadFile(c.witness)
		code, out, errs := run(t, nil, "", "backup", "restore", s.file, "--identity", s.identity, "--keys", keys, "--data", c.data, "--witness", c.witness)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("restore with %s: exit %d %s %s, want 2 naming %q", c.name, code, out, errs, c.want)
		}
		if _, err := os.Stat(c.data); err == nil {
			t.Errorf("restore with %s wrote the target", c.name)
		}
		if now, _ := os.ReadFile(c.witness); string(now) != string(was) {
			t.Errorf("restore with %s changed the witness", c.name)
		}
	}

	code, out, errs := run(t, nil, "", "backup", "restore", s.file, "--identity", s.identity, "--keys", keys, "--data", restored, "--witness", s.witness)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("restore checkpoint at seq %d", s.head)) {
		t.Fatalf("restore --witness: exit %d %s %s", code, out, errs)
	}
	t.Log(strings.TrimSpace(out))
	if !strings.HasPrefix(readFile(t, s.witness), before) {
		t.Fatal("the restore rewrote the witness instead of appending to it")
	}
	cps := readWitness(t, s.witness)
	last := cps[len(cps)-1]
	if last.Kind != audit.KindRestore || last.Seq != s.head || last.Counter <= cps[len(cps)-2].Counter {
		t.Fatalf("the witness ends in a %s checkpoint at seq %d (counter %d after %d), want a restore checkpoint at seq %d with a higher counter",
			last.Kind, last.Seq, last.Counter, cps[len(cps)-2].Counter, s.head)
	}
	code, out, errs = run(t, nil, "", "audit", "verify", "--data", restored, "--keys", keys, "--witness", s.witness)
	if code != 0 || !strings.Contains(out, "witness checkpoints agree") {
		t.Fatalf("verify after a restore with its checkpoint: exit %d %s %s", code, out, errs)
	}

	// The same head signed as a periodic checkpoint is not a restore.
	_, signer := openBackup(t, s.file, s.identity, keys)
	wrong := filepath.Join(t.TempDir(), "wrong-kind.witness")
	writeFile(t, wrong, before)
	cp := last
	cp.Kind = audit.KindPeriodic
	signer.SignCheckpoint(&cp)
	if err := (&audit.WitnessFile{Path: wrong}).Append(&cp, signer.PublicKey()); err != nil {
		t.Fatal(err)
	}
	s.replaced(t, "a periodic checkpoint at the backup's head", "--data", restored, "--keys", keys, "--witness", wrong)

	// With --config, flags still name the target and the witness (the
	// config's data directory holds a database: it would be refused).
	witnessWas := readFile(t, s.witness)
	elsewhere, otherWitness := filepath.Join(t.TempDir(), "elsewhere"), filepath.Join(t.TempDir(), "other.witness")
	code, out, errs = run(t, nil, "", "backup", "restore", s.file, "--identity", s.identity, "--config", s.cfg, "--data", elsewhere, "--witness", otherWitness)
	if code != 0 || !strings.Contains(out, "appended to "+otherWitness) {
		t.Fatalf("restore --config with --data and --witness: exit %d %s %s", code, out, errs)
	}
	if code, out, errs := run(t, nil, "", "audit", "verify", "--data", elsewhere, "--keys", keys, "--witness", otherWitness); code != 0 {
		t.Fatalf("verify the restore the flags named: exit %d %s %s", code, out, errs)
	}
	if readFile(t, s.witness) != witnessWas {
		t.Fatal("the config's witness changed although --witness named another")
	}
}

// TestInstallRefusesUnfoldedWAL: the restored database is moved alone, so
// a WAL that still holds frames fails the restore before the target is
// made.
func TestInstallRefusesUnfoldedWAL(t *testing.T) {
	tmp := t.TempDir()
	db := filepath.Join(tmp, "coffer.db")
	writeFile(t, db, "db")
	writeFile(t, db+"-wal", "frames")
	target := filepath.Join(t.TempDir(), "target")
	if err := install(db, target); err == nil || !strings.Contains(err.Error(), "WAL") {
		t.Fatalf("install with a WAL holding frames: %v", err)
	}
	if _, err := os.Stat(target); err == nil {
		t.Fatal("the target was made")
	}
	writeFile(t, db+"-wal", "")
	if err := install(db, target); err != nil || readFile(t, filepath.Join(target, "coffer.db")) != "db" {
		t.Fatalf("install with an empty WAL: %v", err)
	}
}

// TestRestoreFromConfig: after the disk of a vault is lost (its database
// gone; its coffer.yaml, key material and witness kept), backup restore
// --config takes the root keys from the config's provider (the key file;
// the passphrase or shares on standard input), the target and the witness
// from the config. Without the keys it exits 2 naming what to do and
// writes nothing, to the target or the witness. The restored vault
// verifies against its witness, serves, and keeps verifying.
func TestRestoreFromConfig(t *testing.T) {
	type refusal struct {
		name, stdin, want string
		args              []string
		setup             func() (undo func())
	}
	for _, provider := range []string{"file", "passphrase", "shamir"} {
		t.Run(provider, func(t *testing.T) {
			s := newRestoreScene(t, provider)
			for _, f := range dbFiles {
				os.Remove(filepath.Join(s.dir, f))
			}
			unseal := strings.Join(s.unseal, "\n") + "\n"
			keys := filepath.Join(s.dir, "keys.json")
			cfg := []string{"--config", s.cfg}
			refusals := []refusal{
				{name: "no key source", stdin: unseal, want: "pass --keys FILE"},
				{name: "--keys and --config", stdin: unseal, want: "not both", args: append(cfg, "--keys", keys)},
			}
			switch provider {
			case "file":
				refusals = append(refusals, refusal{name: "the key file missing", want: "(keys.file) or pass --keys FILE", args: cfg,
					setup: func() func() {
						if err := os.Rename(keys, keys+".away"); err != nil {
							t.Fatal(err)
						}
						return func() { os.Rename(keys+".away", keys) }
					}})
			case "passphrase":
				refusals = append(refusals,
					refusal{name: "no passphrase", want: "standard input is empty", args: cfg},
					refusal{name: "a wrong passphrase", stdin: "wrong horse battery staple\n", want: "wrong passphrase", args: cfg})
			case "shamir":
				altered := alterShare(t, sharePrefixRE.ReplaceAllString(s.unseal[0], ""))
				refusals = append(refusals,
					refusal{name: "one share of two", stdin: s.unseal[0] + "\n", want: "1 of 2 shares given", args: cfg},
					refusal{name: "a wrong combination", stdin: altered + "\n" + s.unseal[1] + "\n", want: "wrong combination", args: cfg})
			}
			witnessWas := readFile(t, s.witness)
			for _, r := range refusals {
				undo := func() {}
				if r.setup != nil {
					undo = r.setup()
				}
				code, out, errs := run(t, nil, r.stdin, append([]string{"backup", "restore", s.file, "--identity", s.identity}, r.args...)...)
				undo()
				if code != 2 || !strings.Contains(errs, r.want) || !strings.Contains(errs, "nothing was written") {
					t.Errorf("restore with %s: exit %d %s %s, want 2 naming %q and that nothing was written", r.name, code, out, errs, r.want)
				}
				if strings.Contains(errs, testPassphrase) || strings.Contains(errs, "coffer-share-") {
					t.Errorf("restore with %s: the secret is in the error: %s", r.name, errs)
				}
				if _, err := os.Stat(filepath.Join(s.dir, "coffer.db")); err == nil {
					t.Fatalf("restore with %s wrote a database", r.name)
				}
				if readFile(t, s.witness) != witnessWas {
					t.Fatalf("restore with %s changed the witness", r.name)
				}
			}

			// The config names the target and the witness.
			seen := readWitness(t, s.witness)
			want := fmt.Sprintf("restore checkpoint at seq %d (counter %d) appended to %s", s.head, seen[len(seen)-1].Counter+1, s.witness)
			code, out, errs := run(t, nil, unseal, "backup", "restore", s.file, "--identity", s.identity, "--config", s.cfg)
			if code != 0 || !strings.Contains(out, want) {
				t.Fatalf("restore --config: exit %d %s %s, want %q", code, out, errs, want)
			}
			t.Log(strings.TrimSpace(out))
			if code, out, errs := run(t, nil, "", "audit", "verify", "--data", s.dir, "--witness", s.witness); code != 0 {
				t.Fatalf("verify the restored vault: exit %d %s %s", code, out, errs)
			}
			// It serves again; its checkpoints follow the restore's in the witness.
			addr, stop := s.serve(t)
			s.records(t, addr, "again", 3)
			stop()
			cps := readWitness(t, s.witness)
			if last := cps[len(cps)-1]; last.Kind != audit.KindPeriodic || last.Seq <= s.head+1 {
				t.Fatalf("after serving again the witness ends in a %s checkpoint at seq %d", last.Kind, last.Seq)
			}
			code, out, errs = run(t, nil, "", "audit", "verify", "--data", s.dir, "--witness", s.witness)
			if code != 0 || !strings.Contains(out, "witness checkpoints agree") {
				t.Fatalf("verify after serving again: exit %d %s %s", code, out, errs)
			}
			t.Log(strings.TrimSpace(out))
		})
	}
}
