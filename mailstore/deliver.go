package mailstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Deliver stores the message read from r in a folder of addr's mailbox
// ("INBOX" for the mailbox itself, or a name CheckFolder accepts), creating
// the mailbox and the folder on first use, and returns the new file's path
// (…/new/NAME,S=SIZE).
//
// The bytes are stored as read: wrap CRLF input (SMTP's) in LF, since
// Maildir readers expect LF line endings. The file is written under tmp/,
// fsync'd, renamed into new/, and new/ is fsync'd before Deliver returns,
// unless Options.NoFsync. ctx is checked before each chunk is read and
// before the message is published; a Read that blocks is not interrupted.
// On any error nothing is left in tmp/ or new/, path is "", and the error
// wraps the cause (ErrBadAddress, ErrBadFolder, ctx.Err(), r's error, or
// the file system's).
func (s *Store) Deliver(ctx context.Context, addr, folder string, r io.Reader) (path string, err error) {
	return s.DeliverSync(ctx, addr, folder, r, nil)
}

// SyncFunc makes files durable with fsync's meaning: a regular file's data
// and metadata, a directory's entries. It returns only when they are, or
// with an error.
type SyncFunc func(files ...*os.File) error

// DeliverSync is Deliver with its two syncs — of the new file before it is
// renamed into new/, and of new/ after — made by sync instead of by fsyncs
// of its own, so that a caller can group them with other writes: the
// queue's Item.SyncFiles shares one syncfs among all the spool's writes and
// the deliveries of that moment. A nil sync is Deliver's fsync. With
// Options.NoFsync nothing is synced and sync is not called.
func (s *Store) DeliverSync(ctx context.Context, addr, folder string, r io.Reader, sync SyncFunc) (path string, err error) {
	root, dir, err := s.folder(addr, folder)
	if err == nil {
		path, err = s.deliver(ctx, root, dir, r, sync)
	}
	if err != nil {
		return "", opErr("deliver", addr+"/"+folder, err)
	}
	return path, nil
}

func fsyncFiles(files ...*os.File) error {
	for _, f := range files {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) deliver(ctx context.Context, root, dir string, r io.Reader, sync SyncFunc) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if sync == nil {
		sync = fsyncFiles
	}
	f, name, err := s.createTmp(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err = s.ensure(root, dir); err == nil {
			f, name, err = s.createTmp(dir)
		}
	}
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	size, err := copyCtx(ctx, f, r)
	if err == nil && s.fsync {
		err = sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	final := filepath.Join(dir, "new", name+",S="+strconv.FormatInt(size, 10))
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if s.fsync {
		if err := syncDirWith(filepath.Dir(final), sync); err != nil {
			// Not known to be durable: take it back, so that a retry does
			// not deliver twice (if no client has moved it already).
			os.Remove(final)
			return "", err
		}
	}
	return final, nil
}

// syncDirWith opens the folder dir and syncs it with sync.
func syncDirWith(dir string, sync SyncFunc) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = sync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// createTmp creates a new file in dir/tmp under a unique name, and returns
// it with that name.
func (s *Store) createTmp(dir string) (*os.File, string, error) {
	for tries := 0; ; tries++ {
		name := s.uniqueName(time.Now())
		f, err := os.OpenFile(filepath.Join(dir, "tmp", name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) && tries < 3 {
			continue // another process with our name: take the next counter
		}
		return f, name, err
	}
}

// counter numbers this process's deliveries (the Q part of unique names).
// It is shared by all Stores, so that two Stores on one folder cannot
// produce the same name.
var counter atomic.Uint64

var pid = strconv.Itoa(os.Getpid())

// uniqueName returns a Maildir unique name,
// "SECONDS.M<microseconds>P<pid>Q<counter>.HOST", as Dovecot and Courier
// make them; Deliver appends ",S=<size>" when the file moves to new/.
func (s *Store) uniqueName(now time.Time) string {
	b := make([]byte, 0, 64)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, ".M"...)
	b = strconv.AppendInt(b, int64(now.Nanosecond()/1000), 10)
	b = append(b, 'P')
	b = append(b, pid...)
	b = append(b, 'Q')
	b = strconv.AppendUint(b, counter.Add(1), 10)
	b = append(b, '.')
	b = append(b, s.host...)
	return string(b)
}

// hostEscaper escapes what a host name may not contain in a unique name:
// "/" and ":" as the Maildir specification says, and "," as Dovecot does,
// since ",S=" follows.
var hostEscaper = strings.NewReplacer("/", `\057`, ":", `\072`, ",", `\054`)

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return hostEscaper.Replace(h)
}

const chunk = 32 << 10

var chunks = sync.Pool{New: func() any { return new([chunk]byte) }}

// copyCtx copies r to w, checking ctx before each chunk, and returns the
// number of bytes written.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := chunks.Get().(*[chunk]byte)
	defer chunks.Put(buf)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := r.Read(buf[:])
		if k > 0 {
			m, err := w.Write(buf[:k])
			n += int64(m)
			if err != nil {
				return n, err
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("read message: %w", rerr)
		}
	}
}
