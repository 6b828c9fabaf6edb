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
		path, _, err = s.deliverNamed(ctx, root, dir, "", r, sync)
	}
	if err != nil {
		return "", opErr("deliver", addr+"/"+folder, err)
	}
	return path, nil
}

// DeliverOnce is DeliverSync for a delivery that may be made again after a
// crash (the queue's, whose record of it may not have been written): the
// file's unique name comes from when (the message's arrival) and key (the
// same for the same message and recipient at every attempt; letters,
// digits, "-" and "_", at most 100 bytes), not from the clock and a
// counter, and the move into new/ does not replace a file of that name.
// So when an earlier attempt got as far as new/ with the same bytes,
// DeliverOnce drops its own copy and returns the earlier file's path with
// repeat set, and the mailbox holds the message once. An earlier copy that
// a mail reader has already moved to cur/, or one whose bytes differ (a
// stage that wrote something else this time), is not recognised.
func (s *Store) DeliverOnce(ctx context.Context, addr, folder, key string, when time.Time, r io.Reader, sync SyncFunc) (path string, repeat bool, err error) {
	if !validKey(key) {
		return "", false, opErr("deliver", addr+"/"+folder, &nameError{ErrBadID, key, "not 1-100 letters, digits, '-' or '_'"})
	}
	root, dir, err := s.folder(addr, folder)
	if err == nil {
		name := keyedName(when, key, s.host)
		path, repeat, err = s.deliverNamed(ctx, root, dir, name, r, sync)
	}
	if err != nil {
		return "", false, opErr("deliver", addr+"/"+folder, err)
	}
	return path, repeat, nil
}

// validKey reports whether key may go into a unique name.
func validKey(key string) bool {
	if key == "" || len(key) > 100 {
		return false
	}
	for _, c := range []byte(key) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// keyedName returns the unique name of a keyed delivery,
// "SECONDS.K<key>.HOST".
func keyedName(when time.Time, key, host string) string {
	return strconv.FormatInt(when.Unix(), 10) + ".K" + key + "." + host
}

func fsyncFiles(files ...*os.File) error {
	for _, f := range files {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// deliverNamed writes r into dir through tmp/. With name "" the file gets a
// new unique name; with a keyed name (DeliverOnce) a file of that name left
// in tmp/ by an interrupted attempt is replaced, and a file of the same
// name and size already in new/ is kept instead of the new copy (repeat).
func (s *Store) deliverNamed(ctx context.Context, root, dir, name string, r io.Reader, sync SyncFunc) (path string, repeat bool, err error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	if sync == nil {
		sync = fsyncFiles
	}
	keyed := name != ""
	create := func() (*os.File, string, error) {
		if !keyed {
			return s.createTmp(dir)
		}
		return createKeyedTmp(dir, name)
	}
	f, name, err := create()
	if errors.Is(err, fs.ErrNotExist) {
		if err = s.ensure(root, dir); err == nil {
			f, name, err = create()
		}
	}
	if err != nil {
		return "", false, err
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
		return "", false, err
	}
	final := filepath.Join(dir, "new", name+",S="+strconv.FormatInt(size, 10))
	if err := renameNoReplace(tmp, final); err != nil {
		os.Remove(tmp)
		if keyed && errors.Is(err, fs.ErrExist) {
			// An earlier attempt of this keyed delivery: it returned only
			// once the file was durable in new/, or a crash cut it short
			// after the rename, which the sync below makes durable now.
			if s.fsync {
				if err := syncDirWith(filepath.Dir(final), sync); err != nil {
					return "", false, err
				}
			}
			return final, true, nil
		}
		return "", false, err
	}
	if s.fsync {
		if err := syncDirWith(filepath.Dir(final), sync); err != nil {
			// Not known to be durable: take it back, so that a retry does
			// not deliver twice (if no client has moved it already).
			os.Remove(final)
			return "", false, err
		}
	}
	return final, false, nil
}

// createKeyedTmp creates dir/tmp/name, replacing a file of that name that
// an interrupted attempt of the same keyed delivery left there.
func createKeyedTmp(dir, name string) (*os.File, string, error) {
	p := filepath.Join(dir, "tmp", name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		if err = os.Remove(p); err == nil {
			f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	return f, name, err
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

// renameIfAbsent is renameNoReplace where the system has no atomic form:
// a check, then the rename. A keyed delivery is made by one attempt at a
// time, so nothing else creates its name in between.
func renameIfAbsent(oldpath, newpath string) error {
	if _, err := os.Lstat(newpath); err == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(oldpath, newpath)
}
