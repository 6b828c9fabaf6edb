package mailstore

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
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// QuarantineInfo describes a quarantined message. It is stored beside the
// message as ID.json, with the lower-case JSON keys shown.
type QuarantineInfo struct {
	ID     string    `json:"id"`     // lower-case hex; chosen by Quarantine when empty
	Reason string    `json:"reason"` // why it is held, for the operator
	Stage  string    `json:"stage"`  // the stage that held it
	MsgID  string    `json:"msg_id"` // the queue's message ID (or Message-ID)
	From   string    `json:"from"`   // envelope sender
	Rcpt   []string  `json:"rcpt"`   // envelope recipients
	Time   time.Time `json:"time"`   // when it was held; Quarantine sets now when zero
}

// Quarantine stores the message read from r, byte for byte, with info, and
// returns its ID: info.ID when set (it must pass the ID check: 1 to 64
// lower-case hex digits, else ErrBadID), or 32 random hex digits. The
// message is written first, then the .json, each through a temporary file
// that is fsync'd and renamed, so the entry appears in List and Open only
// once both are complete. An entry with the same ID is replaced, so a
// retried Quarantine with the caller's ID does not duplicate. ctx is
// checked between chunks. On error no new entry exists (a replaced entry
// may keep its old info beside the new message).
func (s *Store) Quarantine(ctx context.Context, r io.Reader, info QuarantineInfo) (id string, err error) {
	if info.ID == "" {
		var b [16]byte
		rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
		info.ID = hex.EncodeToString(b[:])
	} else if err := checkID(info.ID); err != nil {
		return "", opErr("quarantine", info.ID, err)
	}
	if info.Time.IsZero() {
		info.Time = time.Now()
	}
	data, err := json.MarshalIndent(info, "", "  ")
	if err == nil {
		err = s.writeAtomic(ctx, s.entry(info.ID, ".eml"), r)
	}
	if err == nil {
		err = s.writeAtomic(ctx, s.entry(info.ID, ".json"), bytes.NewReader(append(data, '\n')))
		if err != nil && !exists(s.entry(info.ID, ".json")) {
			os.Remove(s.entry(info.ID, ".eml")) // a new entry's message, now an orphan
		}
	}
	if err != nil {
		return "", opErr("quarantine", info.ID, err)
	}
	return info.ID, nil
}

// List returns every quarantined message's info, oldest first (by Time,
// then ID). An entry released while List runs may or may not be included.
func (s *Store) List() ([]QuarantineInfo, error) {
	entries, err := os.ReadDir(s.quar)
	if err != nil {
		return nil, opErr("list", "quarantine", err)
	}
	var infos []QuarantineInfo
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || checkID(id) != nil {
			continue
		}
		info, err := s.readInfo(id)
		if errors.Is(err, ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, opErr("list", "quarantine", err)
		}
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b QuarantineInfo) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID))
	})
	return infos, nil
}

// Open returns the quarantined message id, for reading as it was stored,
// and its info. The caller closes the reader. The error wraps ErrBadID for
// a malformed id and ErrNotFound for an unknown one.
func (s *Store) Open(id string) (io.ReadCloser, QuarantineInfo, error) {
	if err := checkID(id); err != nil {
		return nil, QuarantineInfo{}, opErr("open", id, err)
	}
	info, err := s.readInfo(id)
	if err != nil {
		return nil, QuarantineInfo{}, opErr("open", id, err)
	}
	f, err := os.Open(s.entry(id, ".eml"))
	if errors.Is(err, fs.ErrNotExist) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, QuarantineInfo{}, opErr("open", id, err)
	}
	return f, info, nil
}

// Release removes the quarantined message id (its .json first, so it leaves
// List at once, then the message). Re-inject the message before releasing
// it: Release does not deliver anything. The error wraps ErrBadID for a
// malformed id and ErrNotFound for an unknown or already released one.
func (s *Store) Release(id string) error {
	if err := checkID(id); err != nil {
		return opErr("release", id, err)
	}
	err := os.Remove(s.entry(id, ".json"))
	if errors.Is(err, fs.ErrNotExist) {
		err = ErrNotFound
	}
	if err == nil {
		err = os.Remove(s.entry(id, ".eml"))
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	}
	if err == nil && s.fsync {
		err = syncDir(s.quar)
	}
	if err != nil {
		return opErr("release", id, err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// entry returns the path of a quarantine file; id has passed checkID.
func (s *Store) entry(id, ext string) string { return filepath.Join(s.quar, id+ext) }

func (s *Store) readInfo(id string) (QuarantineInfo, error) {
	var info QuarantineInfo
	data, err := os.ReadFile(s.entry(id, ".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return info, ErrNotFound
	}
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return info, fmt.Errorf("%s.json: %w", id, err)
	}
	info.ID = id // the file name is authoritative
	return info, nil
}

// writeAtomic writes r to path through a temporary dot file in the same
// folder (which List ignores), fsync'd and renamed, the folder fsync'd
// after.
func (s *Store) writeAtomic(ctx context.Context, path string, r io.Reader) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = copyCtx(ctx, f, r)
	if err == nil && s.fsync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	if s.fsync {
		return syncDir(filepath.Dir(path))
	}
	return nil
}
