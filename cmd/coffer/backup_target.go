package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cofferhq/coffer/internal/config"
)

// backupTarget is where scheduled backups are kept: a directory or an S3
// bucket. It stores flat names (a backup, its sidecar); the scheduler
// decides which are backups, what to prune and what to list, once, over
// this.
type backupTarget interface {
	// put stores r under name, size bytes or (size -1) until r ends. The
	// object is visible under name only once complete: when reading r
	// fails, or the write does, put returns an error and nothing is left
	// under name.
	put(ctx context.Context, name string, r io.Reader, size int64) error
	// objects lists every object, in no order.
	objects(ctx context.Context) ([]object, error)
	// get reads a small object whole (at most max bytes).
	get(ctx context.Context, name string, max int64) ([]byte, error)
	// remove deletes an object; one already gone is no error.
	remove(ctx context.Context, name string) error
	// String names the target for logs: never a credential.
	String() string
}

// object is an object in a target.
type object struct {
	name     string
	size     int64
	modified time.Time
}

// openTarget returns the target a schedule names.
func openTarget(s config.Schedule) (backupTarget, error) {
	if s.S3 != nil {
		return newS3Target(s.S3)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup.target: %w", err)
	}
	return dirTarget(s.Dir), nil
}

// dirTarget is a directory: a file is written as name.partial (0600),
// synced and renamed into place.
type dirTarget string

var _ backupTarget = dirTarget("")

func (d dirTarget) String() string { return "dir://" + string(d) }

func (d dirTarget) put(_ context.Context, name string, r io.Reader, _ int64) (err error) {
	path := filepath.Join(string(d), name)
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
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(path+".partial", path); err != nil {
		return err
	}
	return syncDir(string(d))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (d dirTarget) objects(context.Context) ([]object, error) {
	ents, err := os.ReadDir(string(d))
	if err != nil {
		return nil, err
	}
	var out []object
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the directory was read
		} else if err != nil {
			return nil, err
		}
		out = append(out, object{name: e.Name(), size: fi.Size(), modified: fi.ModTime().UTC()})
	}
	return out, nil
}

func (d dirTarget) get(_ context.Context, name string, max int64) ([]byte, error) {
	f, err := os.Open(filepath.Join(string(d), name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}

func (d dirTarget) remove(_ context.Context, name string) error {
	if err := os.Remove(filepath.Join(string(d), name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// s3PartSize is the part an upload of unknown size is sent in: the most
// of a backup held in memory at once (one part per upload; S3's 10,000
// parts make 156 GiB the largest backup).
const s3PartSize = 16 << 20

// s3Target is a bucket and a prefix on an S3 endpoint (minio-go). A
// backup is a multipart upload, visible only once completed; a failed one
// is aborted.
type s3Target struct {
	client *minio.Client
	bucket string
	prefix string
	// secrets are scrubbed from every error: an S3 error's message is the
	// server's text.
	secrets []string
}

var _ backupTarget = (*s3Target)(nil)

func newS3Target(t *config.S3Target) (*s3Target, error) {
	access, secret := string(t.AccessKey.Bytes()), string(t.SecretKey.Bytes())
	c, err := minio.New(t.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(access, secret, ""),
		Secure: t.Secure,
		Region: t.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("backup.s3.endpoint: %w", err)
	}
	return &s3Target{client: c, bucket: t.Bucket, prefix: t.Prefix, secrets: []string{access, secret}}, nil
}

func (s *s3Target) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// s3Error is an error from the endpoint, its text scrubbed of the
// credentials.
type s3Error struct {
	op      string
	err     error
	secrets []string
}

func (e *s3Error) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		msg = strings.ReplaceAll(msg, s, "[REDACTED]")
	}
	return "s3 " + e.op + ": " + msg
}

func (e *s3Error) Unwrap() error { return e.err }

func (s *s3Target) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	return &s3Error{op: op, err: err, secrets: s.secrets}
}

func (s *s3Target) put(ctx context.Context, name string, r io.Reader, size int64) error {
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+name, r, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    s3PartSize,
	})
	return s.fail("upload "+name, err)
}

func (s *s3Target) objects(ctx context.Context) ([]object, error) {
	ctx, cancel := context.WithCancel(ctx) // stops the listing on an early return
	defer cancel()
	var out []object
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix}) {
		if o.Err != nil {
			return nil, s.fail("list", o.Err)
		}
		name := strings.TrimPrefix(o.Key, s.prefix)
		if name == "" || strings.HasSuffix(name, "/") {
			continue // a "directory" below the prefix
		}
		out = append(out, object{name: name, size: o.Size, modified: o.LastModified.UTC()})
	}
	return out, nil
}

func (s *s3Target) get(ctx context.Context, name string, max int64) ([]byte, error) {
	o, err := s.client.GetObject(ctx, s.bucket, s.prefix+name, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.fail("get "+name, err)
	}
	defer o.Close()
	b, err := io.ReadAll(io.LimitReader(o, max))
	return b, s.fail("get "+name, err)
}

func (s *s3Target) remove(ctx context.Context, name string) error {
	return s.fail("remove "+name, s.client.RemoveObject(ctx, s.bucket, s.prefix+name, minio.RemoveObjectOptions{}))
}
