package mailstore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Errors that callers test with errors.Is.
var (
	// ErrBadAddress: an address CheckAddress refuses.
	ErrBadAddress = errors.New("mailstore: bad address")
	// ErrBadFolder: a folder name CheckFolder refuses.
	ErrBadFolder = errors.New("mailstore: bad folder name")
	// ErrBadID: a quarantine ID that is not 1 to 64 lower-case hex digits.
	ErrBadID = errors.New("mailstore: bad quarantine id")
	// ErrNotFound: the mailbox, folder or quarantine entry does not exist.
	ErrNotFound = errors.New("mailstore: not found")
)

// Options configure a Store. The zero value is the safe default.
type Options struct {
	// NoFsync skips every fsync, of files and of folders. Deliver and
	// Quarantine then return before the data is on disk, and a crash can
	// lose what they reported as stored. For tests and benchmarks.
	NoFsync bool
}

// A Store is the mailboxes and the quarantine under one folder. Its methods
// are safe for concurrent use, by goroutines and by processes (including
// other programs delivering Maildir into the same mailboxes).
type Store struct {
	mail  string // DIR/mail
	quar  string // DIR/quarantine
	fsync bool
	host  string // this machine's name, escaped for unique file names
}

// New opens the store under dir, creating dir/mail and dir/quarantine
// (mode 0700) when they are missing. A relative dir is made absolute now,
// so a later chdir does not move the store.
func New(dir string, opt Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("mailstore: new: empty folder name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, opErr("new", dir, err)
	}
	s := &Store{
		mail:  filepath.Join(abs, "mail"),
		quar:  filepath.Join(abs, "quarantine"),
		fsync: !opt.NoFsync,
		host:  hostname(),
	}
	for _, d := range []string{s.mail, s.quar} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, opErr("new", dir, err)
		}
	}
	if s.fsync {
		if err := syncDir(abs); err != nil {
			return nil, opErr("new", dir, err)
		}
	}
	return s, nil
}

// Exists reports whether addr has a mailbox: it is a valid address and its
// folder exists (created by an earlier Deliver or Create, or by hand).
func (s *Store) Exists(addr string) bool {
	root, err := s.mailbox(addr)
	if err != nil {
		return false
	}
	fi, err := os.Stat(root)
	return err == nil && fi.IsDir()
}

// Folders lists addr's folders: "INBOX" first, then the sub-folders sorted
// by name (bytewise). Directories whose name CheckFolder refuses are left
// out. The error wraps ErrNotFound when the mailbox does not exist.
func (s *Store) Folders(addr string) ([]string, error) {
	root, err := s.mailbox(addr)
	if err != nil {
		return nil, opErr("folders", addr, err)
	}
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, opErr("folders", addr, err)
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), ".")
		if !ok || !e.IsDir() {
			continue
		}
		if d, err := folderDir(name); err == nil && d == e.Name() {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return append([]string{Inbox}, names...), nil
}

// Count returns the number of messages in a folder of addr's mailbox, and
// how many of them are unseen: every file in new/, and the files in cur/
// whose Maildir info (":2,FLAGS") lacks the S flag. The error wraps
// ErrNotFound when the folder does not exist.
func (s *Store) Count(addr, folder string) (total, unseen int, err error) {
	_, dir, err := s.folder(addr, folder)
	if err != nil {
		return 0, 0, opErr("count", addr+"/"+folder, err)
	}
	fresh, err := messageNames(filepath.Join(dir, "new"))
	if err != nil {
		return 0, 0, opErr("count", addr+"/"+folder, err)
	}
	cur, err := messageNames(filepath.Join(dir, "cur"))
	if err != nil {
		return 0, 0, opErr("count", addr+"/"+folder, err)
	}
	unseen = len(fresh)
	for _, name := range cur {
		if !seen(name) {
			unseen++
		}
	}
	return len(fresh) + len(cur), unseen, nil
}

// Create makes addr's mailbox and the folder (and the mailbox alone for
// INBOX) if they do not exist yet. It succeeds when they already do.
func (s *Store) Create(addr, folder string) error {
	root, dir, err := s.folder(addr, folder)
	if err == nil {
		err = s.ensure(root, dir)
	}
	if err != nil {
		return opErr("create", addr+"/"+folder, err)
	}
	return nil
}

// mailbox returns the mailbox folder of addr.
func (s *Store) mailbox(addr string) (string, error) {
	domain, user, err := CheckAddress(addr)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.mail, domain, user), nil
}

// folder returns addr's mailbox folder and the Maildir of folder in it.
func (s *Store) folder(addr, folder string) (root, dir string, err error) {
	root, err = s.mailbox(addr)
	if err != nil {
		return "", "", err
	}
	sub, err := folderDir(folder)
	if err != nil {
		return "", "", err
	}
	return root, filepath.Join(root, sub), nil
}

// ensure creates the Maildir root and, when dir is a sub-folder, the
// Maildir++ folder dir inside it. Each directory is made only if missing,
// its parent synced after; tmp/ comes last, so a folder whose tmp/ exists
// is complete.
func (s *Store) ensure(root, dir string) error {
	if err := s.mkdir(s.mail); err != nil {
		return err
	}
	if err := s.mkdir(filepath.Dir(root)); err != nil {
		return err
	}
	if err := s.makeMaildir(root, false); err != nil {
		return err
	}
	if dir == root {
		return nil
	}
	return s.makeMaildir(dir, true)
}

func (s *Store) makeMaildir(dir string, sub bool) error {
	for _, d := range []string{dir, filepath.Join(dir, "cur"), filepath.Join(dir, "new")} {
		if err := s.mkdir(d); err != nil {
			return err
		}
	}
	if sub {
		// Maildir++ marks a sub-folder with this empty file; the sync of
		// dir after tmp/ is made below makes it durable.
		f, err := os.OpenFile(filepath.Join(dir, "maildirfolder"), os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return s.mkdir(filepath.Join(dir, "tmp"))
}

// mkdir creates dir (mode 0700) unless it exists, and syncs its parent when
// it did create it.
func (s *Store) mkdir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil || !s.fsync {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// messageNames lists the message files in a new/ or cur/ folder, leaving
// out dot files and directories.
func messageNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// seen reports whether a file name in cur/ carries the Maildir S flag.
func seen(name string) bool {
	i := strings.LastIndex(name, ":2,")
	return i >= 0 && strings.ContainsRune(name[i+len(":2,"):], 'S')
}

// opError names the operation and its target, and wraps the cause.
type opError struct {
	op  string // "deliver bob@localhost/Orders"
	err error
}

func (e *opError) Error() string {
	return "mailstore: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "mailstore: ")
}

func (e *opError) Unwrap() error { return e.err }

func opErr(op, target string, err error) error {
	return &opError{op + " " + printable(target), err}
}

// printable returns s, quoted when it holds anything that could garble a
// log line.
func printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return s
	}
	return strconv.Quote(s)
}
