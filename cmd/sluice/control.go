package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/sluicemail/sluice/config"
	"github.com/sluicemail/sluice/mailstore"
	"github.com/sluicemail/sluice/queue"
	"github.com/sluicemail/sluice/smtpd"
)

// The control socket speaks one JSON request and one JSON reply per line:
// {"cmd": "queue.list"} → {"ok": true, "data": …} or {"ok": false, "error": "…"}.
type controlRequest struct {
	Cmd string `json:"cmd"`
	ID  string `json:"id,omitempty"`
}

type controlReply struct {
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// startControl listens on the control socket (owner-only permissions).
func (s *server) startControl() error {
	network, address := config.SplitAddr(s.cfg.ControlAddr())
	if network == "unix" {
		os.Remove(address)
	}
	l, err := net.Listen(network, address)
	if err != nil {
		return fmt.Errorf("serve: control socket: %w", err)
	}
	if network == "unix" {
		os.Chmod(address, 0o600)
	}
	s.control = l
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveControl(c)
			}()
		}
	}()
	return nil
}

func (s *server) serveControl(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		var req controlRequest
		var rep controlReply
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			rep.Error = "bad request: " + err.Error()
		} else if data, err := s.control1(req); err != nil {
			rep.Error = err.Error()
		} else {
			rep.OK = true
			rep.Data, _ = json.Marshal(data)
		}
		b, _ := json.Marshal(rep)
		c.Write(append(b, '\n'))
	}
}

// serverStatus is the reply to "status".
type serverStatus struct {
	Version string       `json:"version"`
	Rules   reloadStatus `json:"rules"`
	Queue   queue.Stats  `json:"queue"`
}

// queueEntry is one line of "sluice queue list".
type queueEntry struct {
	ID        string    `json:"id"`
	From      string    `json:"from"`
	Rcpt      []string  `json:"rcpt"`
	Size      int64     `json:"size"`
	Received  time.Time `json:"received"`
	Attempts  int       `json:"attempts"`
	NextTry   time.Time `json:"next_try"`
	LastError string    `json:"last_error,omitempty"`
}

func (s *server) control1(req controlRequest) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch req.Cmd {
	case "status":
		s.rules.mu.Lock()
		rules := s.rules.status
		s.rules.mu.Unlock()
		s.rules.live.Range(func(_, _ any) bool { rules.Open++; return true })
		return serverStatus{Version: version, Rules: rules, Queue: s.queue.Stats()}, nil
	case "reload":
		st, err := s.reload("sluice reload", time.Now())
		if err != nil {
			return nil, err
		}
		return st, nil
	case "queue.list":
		out := []queueEntry{}
		for _, it := range s.queue.List() {
			out = append(out, queueEntry{ID: it.ID, From: it.From, Rcpt: it.Pending(), Size: it.Size,
				Received: it.Received, Attempts: it.Attempts, NextTry: it.NextTry, LastError: it.LastError})
		}
		return out, nil
	case "queue.flush":
		return s.queue.Flush(), nil
	case "queue.delete":
		err := s.queue.Delete(ctx, req.ID)
		if !errors.Is(err, queue.ErrNotFound) {
			s.unkeep(req.ID) // the entry is gone even if the spool failed
		}
		return req.ID, err
	case "quarantine.list":
		return s.store.List()
	case "quarantine.release":
		return s.release(ctx, req.ID)
	}
	return nil, fmt.Errorf("unknown command %q", req.Cmd)
}

// release puts a quarantined message back into the queue, then removes it
// from the quarantine. It skips the stages that held it: it goes straight
// to delivery with its original envelope.
func (s *server) release(ctx context.Context, id string) (string, error) {
	r, info, err := s.store.Open(id)
	if err != nil {
		return "", err
	}
	raw, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return "", err
	}
	qid, err := s.queue.Accept(ctx, queue.Envelope{From: info.From, Rcpt: info.Rcpt}, json.RawMessage(`{"vars":{"released":true}}`), bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	return qid, s.store.Release(id)
}

// spoolAdapter gives smtpd the queue's two-step acceptance.
type spoolAdapter struct{ q *queue.Queue }

func (a spoolAdapter) Receive(ctx context.Context, env queue.Envelope, r io.Reader) (smtpd.Pending, error) {
	p, err := a.q.Receive(ctx, env, r)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// quarantiner holds messages on_data quarantined.
type quarantiner struct{ st *mailstore.Store }

func (q quarantiner) Quarantine(ctx context.Context, raw []byte, id, reason, stage string, env queue.Envelope) error {
	_, err := q.st.Quarantine(ctx, bytes.NewReader(raw), mailstore.QuarantineInfo{
		Reason: reason, Stage: stage, MsgID: id, From: env.From, Rcpt: env.Rcpt, Time: time.Now(),
	})
	return err
}

// notRunning is the error of a control command when no server answers.
type notRunning struct{ error }

func (e notRunning) Unwrap() error { return e.error }

// controlCall sends one request to a running server.
func controlCall(c *config.Config, req controlRequest, out any) error {
	network, address := config.SplitAddr(c.ControlAddr())
	conn, err := net.DialTimeout(network, address, 5*time.Second)
	if err != nil {
		return notRunning{fmt.Errorf("no sluice is running at %s (is sluice serve running with this configuration?): %w", c.ControlAddr(), err)}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	b, _ := json.Marshal(req)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	var rep controlReply
	if err := json.Unmarshal(line, &rep); err != nil {
		return fmt.Errorf("control: bad reply: %w", err)
	}
	if !rep.OK {
		return errors.New(rep.Error)
	}
	if out != nil && len(rep.Data) > 0 {
		return json.Unmarshal(rep.Data, out)
	}
	return nil
}
