package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/vault"
)

// scheduler takes a backup every interval into a directory and keeps the
// newest keep of them. Each backup has a sidecar (.json) with what the
// listing shows: the backup itself cannot be read without the identity.
type scheduler struct {
	dir        string
	every      time.Duration
	keep       int
	recipients []string
	backups    *vault.Backups
	log        *slog.Logger
	now        func() time.Time
	// lock, when set, makes one node of many take each backup (a
	// PostgreSQL advisory lock); ok false: another node has it.
	lock func(ctx context.Context) (unlock func(), ok bool, err error)
}

// backupJob names the scheduled backup's job lock (coffer.JobLocker: one
// node of many takes each backup, SPEC §12).
const backupJob = "backup"

const backupSuffix = ".backup"

// newScheduler returns the scheduler the configuration asks for, or nil;
// getenv reads the environment (S3 credentials).
func newScheduler(cfg config.Backup, getenv func(string) string, b *vault.Backups, log *slog.Logger) (*scheduler, error) {
	sch, err := cfg.Schedule(getenv)
	if err != nil || sch.Every == 0 {
		return nil, err
	}
	if sch.S3 != nil {
		return nil, errors.New("backup.target: s3:// targets are not supported yet; use dir:// and copy the files")
	}
	every, dir, keep := sch.Every, sch.Dir, sch.Keep
	if _, err := parseRecipients(cfg.Recipients); err != nil {
		return nil, fmt.Errorf("backup.recipients: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup.target: %w", err)
	}
	return &scheduler{dir: dir, every: every, keep: keep, recipients: cfg.Recipients, backups: b, log: log, now: time.Now}, nil
}

// run takes a backup every interval until ctx ends.
func (s *scheduler) run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.locked(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("backup_failed: scheduled backup failed", "target", s.dir, "err", err)
			}
		}
	}
}

// locked takes one backup when this node holds the lock (or there is
// none to take).
func (s *scheduler) locked(ctx context.Context) error {
	if s.lock != nil {
		unlock, ok, err := s.lock(ctx)
		if err != nil || !ok {
			if err == nil {
				s.log.Debug("scheduled backup skipped: another node holds the lock")
			}
			return err
		}
		defer unlock()
	}
	return s.once(ctx)
}

// sidecar is what listing shows of a backup.
type sidecar struct {
	Created  time.Time `json:"created"`
	AuditSeq int64     `json:"audit_seq"`
	Rows     int64     `json:"rows"`
	Bytes    int64     `json:"bytes"`
}

// once takes one backup, then prunes to keep.
func (s *scheduler) once(ctx context.Context) (err error) {
	at := s.now().UTC()
	name := "coffer-" + at.Format("20060102T150405.000Z") + backupSuffix
	path := filepath.Join(s.dir, name)
	f, err := os.OpenFile(path+".partial", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path + ".partial")
		}
	}()
	info, err := s.backups.Create(ctx, vault.SystemCall(), f, s.recipients)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	side, err := json.Marshal(sidecar{Created: at, AuditSeq: info.AuditSeq, Rows: info.Rows, Bytes: info.Bytes})
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".json", side, 0o600); err != nil {
		return err
	}
	if err := os.Rename(path+".partial", path); err != nil {
		return err
	}
	s.log.Info("scheduled backup written", "file", name, "bytes", info.Bytes, "audit_seq", info.AuditSeq)
	return s.prune()
}

// names lists the backups in the directory, newest first (their names
// sort by time).
func (s *scheduler) names() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "coffer-") && strings.HasSuffix(n, backupSuffix) && e.Type().IsRegular() {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out, nil
}

// prune removes every backup beyond the newest keep.
func (s *scheduler) prune() error {
	names, err := s.names()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names[min(s.keep, len(names)):] {
		p := filepath.Join(s.dir, n)
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
		}
		os.Remove(p + ".json")
	}
	return errors.Join(errs...)
}

// list implements vault.ListFunc.
func (s *scheduler) list(context.Context) ([]vault.BackupFile, error) {
	names, err := s.names()
	if err != nil {
		return nil, err
	}
	out := make([]vault.BackupFile, 0, len(names))
	for _, n := range names {
		bf := vault.BackupFile{Name: n}
		if fi, err := os.Stat(filepath.Join(s.dir, n)); err == nil {
			bf.Size, bf.Created = fi.Size(), fi.ModTime().UTC()
		}
		if b, err := os.ReadFile(filepath.Join(s.dir, n+".json")); err == nil {
			var sc sidecar
			if json.Unmarshal(b, &sc) == nil {
				bf.Created, bf.AuditSeq, bf.Rows = sc.Created, sc.AuditSeq, sc.Rows
			}
		}
		out = append(out, bf)
	}
	return out, nil
}
