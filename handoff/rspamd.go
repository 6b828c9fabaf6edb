package handoff

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// rspamdMaxReply caps what is read of rspamd's answer.
const rspamdMaxReply = 4 << 20

// rspamdActions maps rspamd's actions to verdicts. An action not listed
// (a custom one) is an Error: it is not known to be harmless.
var rspamdActions = map[string]Verdict{
	"no action":       Ham,
	"greylist":        Ham,
	"soft reject":     Ham,
	"add header":      Spam,
	"rewrite subject": Spam,
	"reject":          Spam,
	"discard":         Spam,
	"quarantine":      Spam,
}

// rspamd asks rspamd's normal worker over its HTTP API (POST /checkv2).
type rspamd struct {
	check, ping string // URLs
	client      *http.Client
	threshold   float64 // > 0: the score at which a message is Spam, whatever the action
	timeout     time.Duration
}

// newRspamd builds the rspamd scanner of spec: spec.Address is an
// http(s):// URL of the worker, "host:port" (plain HTTP) or "unix:/path";
// spec.Threshold, when above zero, decides Spam by score instead of by
// rspamd's action.
func newRspamd(spec Spec) (Scanner, error) {
	base, tr, err := rspamdTransport(spec.Address)
	if err != nil {
		return nil, fmt.Errorf("handoff: rspamd: %w", err)
	}
	if spec.Threshold < 0 || math.IsNaN(spec.Threshold) || math.IsInf(spec.Threshold, 0) {
		return nil, fmt.Errorf("handoff: rspamd: bad threshold %v", spec.Threshold)
	}
	tr.MaxIdleConnsPerHost = max(spec.MaxConcurrent, 4)
	return &rspamd{
		check:     base + "/checkv2",
		ping:      base + "/ping",
		client:    &http.Client{Transport: tr},
		threshold: spec.Threshold,
		timeout:   spec.Timeout,
	}, nil
}

// rspamdTransport reads an rspamd address into the base URL of its API and
// an HTTP transport that reaches it directly (never through a proxy from
// the environment).
func rspamdTransport(addr string) (string, *http.Transport, error) {
	tr := &http.Transport{
		DisableCompression: true,
		IdleConnTimeout:    90 * time.Second,
	}
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		u, err := url.Parse(addr)
		if err != nil {
			return "", nil, err
		}
		if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return "", nil, fmt.Errorf("address %q: want http://host:port[/path]", addr)
		}
		base := strings.TrimSuffix(strings.TrimRight(u.String(), "/"), "/checkv2")
		return base, tr, nil
	}
	a, err := parseDaemonAddr(addr)
	if err != nil {
		return "", nil, err
	}
	if a.network == "tcp" {
		return "http://" + a.address, tr, nil
	}
	tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", a.address)
	}
	return "http://rspamd", tr, nil
}

// rspamdReply is the part of rspamd's /checkv2 answer that is used.
type rspamdReply struct {
	Action        *string                    `json:"action"`
	Score         *float64                   `json:"score"`
	RequiredScore float64                    `json:"required_score"`
	Symbols       map[string]json.RawMessage `json:"symbols"`
	Messages      map[string]json.RawMessage `json:"messages"`
	Error         string                     `json:"error"`
}

// Scan posts msg to /checkv2. The verdict follows rspamd's action (Name
// holds it: "reject", "greylist", …) or, with a threshold set, the score;
// Threshold reports rspamd's required_score (its reject score) unless
// overridden. HTTP errors, answers without an action or score, and unknown
// actions are Error; a passed deadline is Timeout.
func (r *rspamd) Scan(ctx context.Context, msg []byte) Result {
	start := time.Now()
	res := r.scan(ctx, msg)
	res.Duration = time.Since(start)
	return res
}

func (r *rspamd) scan(ctx context.Context, msg []byte) Result {
	ctx, cancel := daemonContext(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.check, bytes.NewReader(msg))
	if err != nil {
		return daemonRefused("rspamd: %v", err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return daemonFailed(ctx, "rspamd: post "+r.check, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, rspamdMaxReply+1))
	if err != nil {
		return daemonFailed(ctx, "rspamd: read reply", err)
	}
	if resp.StatusCode != http.StatusOK {
		return daemonRefused("rspamd: %s: %s", resp.Status, quoteDaemonReply(bytes.TrimSpace(body)))
	}
	if len(body) > rspamdMaxReply {
		return daemonRefused("rspamd: reply longer than %d bytes", rspamdMaxReply)
	}
	var rep rspamdReply
	if err := json.Unmarshal(body, &rep); err != nil {
		return daemonRefused("rspamd: bad reply %s: %v", quoteDaemonReply(body), err)
	}
	return r.result(rep)
}

// result turns a decoded answer into a verdict.
func (r *rspamd) result(rep rspamdReply) Result {
	if rep.Error != "" {
		return daemonRefused("rspamd: %s", rep.Error)
	}
	if rep.Action == nil || rep.Score == nil {
		return daemonRefused("rspamd: reply without action or score: the message was not scanned")
	}
	action := *rep.Action
	v, known := rspamdActions[action]
	if !known {
		return daemonRefused("rspamd: unknown action %q", action)
	}
	res := Result{Verdict: v, Name: action, Score: *rep.Score, Threshold: rep.RequiredScore}
	if r.threshold > 0 {
		res.Threshold = r.threshold
		res.Verdict = Ham
		if res.Score >= r.threshold {
			res.Verdict = Spam
		}
	}
	for name := range rep.Symbols {
		res.Symbols = append(res.Symbols, name)
	}
	slices.Sort(res.Symbols)
	for _, k := range slices.Sorted(maps.Keys(rep.Messages)) {
		var text string
		if json.Unmarshal(rep.Messages[k], &text) == nil {
			res.Log = append(res.Log, "rspamd: "+k+": "+text)
		}
	}
	return res
}

// Ping asks GET /ping and expects "pong".
func (r *rspamd) Ping(ctx context.Context) error {
	ctx, cancel := daemonContext(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.ping, nil)
	if err != nil {
		return fmt.Errorf("rspamd: ping: %w", err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return daemonFailed(ctx, "rspamd: ping", err).Err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return daemonFailed(ctx, "rspamd: ping", err).Err
	}
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "pong" {
		return fmt.Errorf("rspamd: ping: %s: %s", resp.Status, quoteDaemonReply(body))
	}
	return nil
}
