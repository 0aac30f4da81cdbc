package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/vault"
)

// scheduler takes a backup every interval into its target (a directory
// or an S3 bucket) and keeps the newest keep of them. Each backup has a
// sidecar (.json) with what the listing shows: the backup itself cannot
// be read without the identity.
type scheduler struct {
	target     backupTarget
	every      time.Duration
	keep       int
	recipients []string
	backups    *vault.Backups
	log        *slog.Logger
	now        func() time.Time
	// lock, when set, makes one node of many take each backup (a
	// PostgreSQL advisory lock); ok false: another node has it.
	lock func(ctx context.Context) (unlock func(), ok bool, err error)
	// writing orders this node's writes to the target (a backup with its
	// pruning, a drill's result in a sidecar).
	writing sync.Mutex
}

// backupJob names the scheduled backup's job lock (coffer.JobLocker: one
// node of many takes each backup, SPEC §12).
const backupJob = "backup"

const (
	backupPrefix  = "coffer-"
	backupSuffix  = ".backup"
	sidecarSuffix = ".json"
	maxSidecar    = 64 << 10
)

// newScheduler returns the scheduler the configuration asks for, or nil;
// getenv reads the environment (S3 credentials).
func newScheduler(cfg config.Backup, getenv func(string) string, b *vault.Backups, log *slog.Logger) (*scheduler, error) {
	sch, err := cfg.Schedule(getenv)
	if err != nil || sch.Every == 0 {
		return nil, err
	}
	if _, err := parseRecipients(cfg.Recipients); err != nil {
		return nil, fmt.Errorf("backup.recipients: %w", err)
	}
	target, err := openTarget(sch)
	if err != nil {
		return nil, err
	}
	return &scheduler{target: target, every: sch.Every, keep: sch.Keep, recipients: cfg.Recipients, backups: b, log: log, now: time.Now}, nil
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
			s.scheduled(ctx)
		}
	}
}

// scheduled takes the backup a tick asks for and logs a failure.
func (s *scheduler) scheduled(ctx context.Context) {
	if err := s.locked(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("backup_failed: scheduled backup failed", "target", s.target.String(), "err", err)
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
	s.writing.Lock()
	defer s.writing.Unlock()
	return s.once(ctx)
}

// sidecar is what listing shows of a backup.
type sidecar struct {
	Created  time.Time `json:"created"`
	AuditSeq int64     `json:"audit_seq"`
	Rows     int64     `json:"rows"`
	Bytes    int64     `json:"bytes"`
	// Verified is the last restore drill reported for the backup.
	Verified *vault.BackupVerification `json:"verified,omitempty"`
}

// once takes one backup, then prunes to keep. The backup streams through
// a pipe into the target (no more of it in memory than the target buffers:
// one S3 part). Its sidecar is stored before the backup completes, so a
// listed backup always has one; when anything fails, neither stays.
func (s *scheduler) once(ctx context.Context) error {
	at := s.now().UTC()
	name := backupPrefix + at.Format("20060102T150405.000Z") + backupSuffix
	pr, pw := io.Pipe()
	var info vault.BackupInfo
	dumped := make(chan error, 1)
	go func() {
		var err error
		info, err = s.backups.Create(ctx, vault.SystemCall(), pw, s.recipients)
		if err == nil {
			side, _ := json.Marshal(sidecar{Created: at, AuditSeq: info.AuditSeq, Rows: info.Rows, Bytes: info.Bytes})
			err = s.target.put(ctx, name+sidecarSuffix, bytes.NewReader(side), int64(len(side)))
		}
		if err != nil {
			// Wrapped, so a reader never sees the io.EOF of a complete
			// stream where the dump stopped early.
			pw.CloseWithError(fmt.Errorf("backup not complete: %w", err))
		} else {
			pw.Close()
		}
		dumped <- err
	}()
	err := s.target.put(ctx, name, pr, -1)
	pr.CloseWithError(errors.New("the target stopped reading")) // unblocks a dump the target gave up on
	if derr := <-dumped; derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		// A failed put leaves nothing under name; removing it anyway covers
		// an upload that completed but whose answer was lost. The sidecar
		// may have been stored before the failure.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		s.target.remove(cctx, name)
		s.target.remove(cctx, name+sidecarSuffix)
		return err
	}
	s.log.Info("scheduled backup written", "target", s.target.String(), "name", name, "bytes", info.Bytes, "audit_seq", info.AuditSeq)
	return s.prune(ctx)
}

// names lists the backups in the target, newest first (their names sort
// by time), and the sidecars there.
func (s *scheduler) names(ctx context.Context) (backups []object, sidecars map[string]bool, err error) {
	objs, err := s.target.objects(ctx)
	if err != nil {
		return nil, nil, err
	}
	sidecars = map[string]bool{}
	for _, o := range objs {
		if !strings.HasPrefix(o.name, backupPrefix) {
			continue
		}
		switch {
		case strings.HasSuffix(o.name, backupSuffix):
			backups = append(backups, o)
		case strings.HasSuffix(o.name, backupSuffix+sidecarSuffix):
			sidecars[o.name] = true
		}
	}
	slices.SortFunc(backups, func(a, b object) int { return strings.Compare(b.name, a.name) })
	return backups, sidecars, nil
}

// prune removes every backup beyond the newest keep, with its sidecar,
// and sidecars whose backup never completed (a crash mid-upload).
func (s *scheduler) prune(ctx context.Context) error {
	backups, sidecars, err := s.names(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range backups[:min(s.keep, len(backups))] {
		delete(sidecars, o.name+sidecarSuffix)
	}
	for _, o := range backups[min(s.keep, len(backups)):] {
		if err := s.target.remove(ctx, o.name); err != nil {
			errs = append(errs, err)
		}
	}
	for n := range sidecars {
		if err := s.target.remove(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// list implements vault.ListFunc.
func (s *scheduler) list(ctx context.Context) ([]vault.BackupFile, error) {
	backups, sidecars, err := s.names(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]vault.BackupFile, 0, len(backups))
	for _, o := range backups {
		bf := vault.BackupFile{Name: o.name, Size: o.size, Created: o.modified}
		if sidecars[o.name+sidecarSuffix] {
			var sc sidecar
			if b, err := s.target.get(ctx, o.name+sidecarSuffix, maxSidecar); err != nil {
				return nil, err
			} else if json.Unmarshal(b, &sc) == nil {
				bf.Created, bf.AuditSeq, bf.Rows, bf.LastVerify = sc.Created, sc.AuditSeq, sc.Rows, sc.Verified
			}
		}
		out = append(out, bf)
	}
	return out, nil
}

// verified implements vault.VerifiedFunc: the drill's result goes into the
// backup's sidecar (rewritten whole; a backup without one gets one).
func (s *scheduler) verified(ctx context.Context, name string, v vault.BackupVerification) error {
	// One writer of the target at a time: this node's backup and pruning
	// (writing), another node's (the job lock).
	if s.lock != nil {
		unlock, ok, err := s.lock(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return coffer.Errorf(coffer.ECONFLICT, "a scheduled backup is being taken: report the drill again in a minute")
		}
		defer unlock()
	}
	s.writing.Lock()
	defer s.writing.Unlock()
	backups, sidecars, err := s.names(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(backups, func(o object) bool { return o.name == name })
	if i < 0 {
		return coffer.Errorf(coffer.ENOTFOUND, "no scheduled backup of that name in %s", s.target)
	}
	sc := sidecar{Created: backups[i].modified, Bytes: backups[i].size}
	if sidecars[name+sidecarSuffix] {
		b, err := s.target.get(ctx, name+sidecarSuffix, maxSidecar)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &sc); err != nil {
			return fmt.Errorf("the sidecar of %s does not parse: %w", name, err)
		}
	}
	sc.Verified = &v
	b, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	return s.target.put(ctx, name+sidecarSuffix, bytes.NewReader(b), int64(len(b)))
}
